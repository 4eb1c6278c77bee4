"""When to poll each waited-for case: a due time per case, adaptive intervals, full batches (no I/O).

Every waiter (a deferred sensor) brings its case ids, its ``poke_interval`` and a ``max_interval``. A
case is polled at the shortest interval any of its waiters asks for, and no more often:

- a new waiter's cases are due at once (a new sensor never waits out someone else's interval);
- a case's interval grows with its age: ``max(poke_interval, min(10% of its age, max_interval))``, so
  a signature is still noticed within ``max(poke_interval, 10% of the case's age)`` while a case
  waiting for days costs one look every ``max_interval`` (15 minutes by default);
- a batch of due cases is filled up with the cases due soonest (a Get Multiple request costs the same
  for 1 id or 50), which brings their next look forward at no cost.

The poller asks :meth:`PollSchedule.due_batches` what to read, reports back with :meth:`polled` (or
:meth:`retry_later` after an error) and sleeps until :meth:`next_due`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["AGE_FRACTION", "DEFAULT_MAX_INTERVAL", "PollSchedule", "Waiter", "adaptive_interval"]

#: A case is looked at again after at most this share of its age...
AGE_FRACTION = 0.1
#: ...and at least every this many seconds (a waiter's ``max_interval`` default).
DEFAULT_MAX_INTERVAL = 900.0


def adaptive_interval(poke_interval: float, age: float, max_interval: float) -> float:
    """Seconds until the next look at a case of ``age`` seconds for a waiter of ``poke_interval``."""
    return max(poke_interval, min(AGE_FRACTION * max(age, 0.0), max_interval))


@dataclass(frozen=True)
class Waiter:
    """One waiter's wish: its cases, its interval (already floored), its cap and when it started."""

    case_ids: frozenset[str]
    interval: float
    max_interval: float = DEFAULT_MAX_INTERVAL
    started: float = 0.0


class PollSchedule:
    """The due time of every watched case.

    :param batch_size: ids per Get Multiple request.
    """

    def __init__(self, batch_size: int = 50) -> None:
        self.batch_size = batch_size
        self._waiters: dict[int, Waiter] = {}
        self._due: dict[str, float] = {}
        self._born: dict[str, float] = {}

    def add(self, key: int, waiter: Waiter, now: float) -> None:
        """Watch ``waiter``'s cases; they are due at once."""
        self._waiters[key] = waiter
        for case_id in waiter.case_ids:
            self._due[case_id] = now

    def remove(self, key: int) -> set[str]:
        """Stop watching for waiter ``key``; return the ids nobody watches any more."""
        waiter = self._waiters.pop(key, None)
        if waiter is None:
            return set()
        still = self.watched()
        orphans = {case_id for case_id in waiter.case_ids if case_id not in still}
        for case_id in orphans:
            self._due.pop(case_id, None)
            self._born.pop(case_id, None)
        return orphans

    def watched(self) -> set[str]:
        """Every id some waiter watches."""
        return set().union(*(w.case_ids for w in self._waiters.values()))

    def settle(self, case_ids: Iterable[str]) -> None:
        """These cases reached a final state (signed, denied, ...): never read them again."""
        for case_id in case_ids:
            self._due.pop(case_id, None)

    def expedite(self, case_ids: Iterable[str], now: float) -> None:
        """Make these cases due now (a waiter's deadline passed: one last look)."""
        for case_id in case_ids:
            if case_id in self._due:
                self._due[case_id] = now

    def interval_of(self, case_id: str, now: float) -> float:
        """The shortest interval the waiters of ``case_id`` ask for, given the case's age."""
        intervals = [
            adaptive_interval(w.interval, now - self._born.get(case_id, w.started), w.max_interval)
            for w in self._waiters.values()
            if case_id in w.case_ids
        ]
        return min(intervals) if intervals else float("inf")

    def due_batches(self, now: float) -> list[list[str]]:
        """The batches to read now: the due ids (most overdue first), the last batch filled up with the
        ids due soonest."""
        order = sorted(self._due, key=self._due.__getitem__)
        due = [case_id for case_id in order if self._due[case_id] <= now]
        if not due:
            return []
        spare = -len(due) % self.batch_size
        due += order[len(due) : len(due) + spare]
        return [due[i : i + self.batch_size] for i in range(0, len(due), self.batch_size)]

    def polled(self, case_ids: Iterable[str], now: float, created: dict[str, float] | None = None) -> None:
        """These cases were read at ``now``; ``created`` gives their creation times when known."""
        for case_id, born in (created or {}).items():
            self._born[case_id] = born
        for case_id in case_ids:
            if case_id in self._due:
                self._due[case_id] = now + self.interval_of(case_id, now)

    def retry_later(self, case_ids: Iterable[str], now: float, delay: float) -> None:
        """A read of these cases failed: look again after ``delay`` (never later than their interval)."""
        for case_id in case_ids:
            if case_id in self._due:
                self._due[case_id] = now + min(delay, self.interval_of(case_id, now))

    def next_due(self) -> float | None:
        """When the next case is due (None when nothing is watched)."""
        return min(self._due.values(), default=None)
