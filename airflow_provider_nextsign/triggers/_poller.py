"""One shared poller per connection in a triggerer process.

Every deferred NextSign sensor in a triggerer subscribes its case ids to the poller of its connection.
The poller reads each case when it is due (:class:`~airflow_provider_nextsign.api.schedule.PollSchedule`:
a new waiter's cases at once, then at the waiter's interval growing with the case's age), in Get Multiple
batches of up to 50, and hands each subscriber what it learned of its own cases. N sensors on one
connection then cost ``ceil(due cases / 50)`` requests per look instead of N.

Rules that keep one waiter from hurting another:

- an error reaches only the subscribers whose cases the failed request carried, and a read that fails
  transiently ends the round (it is tried again soon), with at most two attempts per request;
- intervals have a floor (``[nextsign] min_poll_interval``), so one sensor cannot set the rate for all;
- the poller runs in a fresh ``contextvars.Context``: its log lines never land in some task's log
  (each trigger logs what concerns its own cases);
- the client is rebuilt every few minutes and after an auth error, so key rotations are picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nextsign.api.schedule import DEFAULT_MAX_INTERVAL, PollSchedule, Waiter

log = logging.getLogger(__name__)

BATCH_SIZE = 50
#: Default floor of any poll interval (``[nextsign] min_poll_interval``).
DEFAULT_MIN_POLL_INTERVAL = 5.0
#: Seconds after which the client is rebuilt (connection edits and key rotations are picked up).
CLIENT_MAX_AGE = 300.0
#: Seconds before a read that failed transiently is tried again (never later than the case's interval).
RETRY_DELAY = 30.0

#: Makes the client for a connection id: ``async with (await factory(conn_id)) as client``.
ClientFactory = Callable[[str], Awaitable[Any]]


def min_poll_interval() -> float:
    """The floor of every poll interval, from ``[nextsign] min_poll_interval`` (default 5 s)."""
    try:
        from airflow.providers.common.compat.sdk import conf

        return float(conf.getfloat("nextsign", "min_poll_interval", fallback=DEFAULT_MIN_POLL_INTERVAL))
    except Exception:  # no Airflow configuration (plain Python use)
        return DEFAULT_MIN_POLL_INTERVAL


@dataclass
class Subscription:
    """One trigger's interest: its case ids, interval, grace window and inbox."""

    case_ids: frozenset[str]
    poll_interval: float
    grace_until: float = 0.0
    max_interval: float = DEFAULT_MAX_INTERVAL
    inbox: asyncio.Queue = field(default_factory=asyncio.Queue)


@dataclass
class Snapshot:
    """What one read learned of some of a subscriber's cases (``api.watch.Observation`` each), or the
    error that stopped the poller for everyone (``fatal``: no client could be built)."""

    cases: dict[str, Any]
    error: str | None = None
    fatal: bool = False


class CasePoller:
    """Polls its subscribers' cases for one connection, on one event loop."""

    def __init__(
        self,
        conn_id: str,
        client_factory: ClientFactory,
        batch_size: int = BATCH_SIZE,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from airflow_provider_nextsign.api.watch import CaseWatch

        self.conn_id = conn_id
        self.batch_size = batch_size
        self._factory = client_factory
        self._clock = clock
        self._subs: dict[int, Subscription] = {}
        self._keys = itertools.count()
        self._schedule = PollSchedule(batch_size)
        self._watch = CaseWatch(batch_size)
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.closed = False
        self.requests = 0

    def subscribe(
        self,
        case_ids: Iterable[str],
        poll_interval: float,
        grace_until: float = 0.0,
        max_interval: float = DEFAULT_MAX_INTERVAL,
    ) -> tuple[int, Subscription]:
        """Register interest in ``case_ids``: they are read at once, then every ``poll_interval``
        (floored, growing with the case's age up to ``max_interval``).

        ``grace_until``: until then (epoch seconds) a case NextSign does not show counts as pending.
        """
        floor = min_poll_interval()
        interval = max(float(poll_interval), floor)
        sub = Subscription(frozenset(case_ids), interval, grace_until, max(float(max_interval), interval))
        key = next(self._keys)
        self._subs[key] = sub
        now = self._clock()
        self._schedule.add(key, Waiter(sub.case_ids, interval, sub.max_interval, now), now)
        if self._task is None:
            # A fresh context: the poller outlives the trigger that started it and must not log into
            # that task's log (Airflow routes trigger logs by context variables).
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"nextsign-poller-{self.conn_id}", context=contextvars.Context()
            )
        self._wake.set()
        return key, sub

    def unsubscribe(self, key: int) -> None:
        """Drop a subscription; the poller stops after its last subscriber leaves."""
        self._subs.pop(key, None)
        self._watch.forget(self._schedule.remove(key))
        self._wake.set()

    def expedite(self, key: int) -> None:
        """Read subscriber ``key``'s cases at once (its deadline passed: one last look)."""
        sub = self._subs.get(key)
        if sub is not None:
            self._schedule.expedite(sub.case_ids, self._clock())
            self._wake.set()

    async def _run(self) -> None:
        client_cm: Any = None
        client: Any = None
        built = 0.0
        try:
            while self._subs:
                if client is None or time.monotonic() - built > CLIENT_MAX_AGE:
                    if client_cm is not None:
                        await client_cm.__aexit__(None, None, None)
                    client_cm = await self._factory(self.conn_id)
                    client = await client_cm.__aenter__()
                    built = time.monotonic()
                if await self._round(client):
                    await client_cm.__aexit__(None, None, None)  # auth refused: rebuild next round
                    client_cm = client = None
                await self._sleep()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # connection missing, bad config: nothing a retry fixes
            log.warning("NextSign poller for %s stopped: %s", self.conn_id, err)
            self._broadcast_fatal(f"{type(err).__name__}: {err}")
        finally:
            self._close()
            if client_cm is not None:
                with contextlib.suppress(Exception):
                    await client_cm.__aexit__(None, None, None)

    async def _sleep(self) -> None:
        """Wait until the next case is due, or a subscriber comes or goes. Always yields to the loop:
        a waiter whose cases are all settled (its trigger not yet closed) must not spin it."""
        due = self._schedule.next_due()
        if not self._subs:
            return
        wait = None if due is None else due - self._clock()
        if wait is not None and wait <= 0:
            await asyncio.sleep(0)
            return
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait)

    def _close(self) -> None:
        self.closed = True
        if _POLLERS.get(self._registry_key) is self:
            del _POLLERS[self._registry_key]

    @property
    def _registry_key(self) -> tuple[str, int]:
        return (self.conn_id, id(asyncio.get_running_loop()))

    async def _round(self, client: Any) -> bool:
        """Read every due batch; return True when NextSign refused the credentials."""
        from airflow_provider_nextsign.api.errors import NextSignAuthError
        from airflow_provider_nextsign.api.retry import TRANSIENT_ERRORS
        from airflow_provider_nextsign.api.watch import drive_async

        now = self._clock()
        batches = self._schedule.due_batches(now)
        for number, batch in enumerate(batches):
            watched = self._schedule.watched()
            batch = [case_id for case_id in batch if case_id in watched]  # waiters may have left
            if not batch:
                continue
            observations = await drive_async(
                self._watch.poll(batch, in_grace=self._in_grace), _Counting(client, self)
            )
            failed = {c for c, o in observations.items() if o.error is not None}
            created = {c: o.created_at for c, o in observations.items() if o.created_at is not None}
            self._schedule.polled([c for c in batch if c not in failed], now, created)
            self._schedule.settle(c for c, o in observations.items() if o.error is None and _final(o.state))
            self._schedule.retry_later(failed, now, RETRY_DELAY)
            self._deliver(observations)
            errors = [observations[c].error for c in failed]
            if any(isinstance(err, NextSignAuthError) for err in errors):
                return True
            if any(isinstance(err, TRANSIENT_ERRORS) for err in errors):
                later = {c for b in batches[number + 1 :] for c in b}
                self._schedule.retry_later(later, now, RETRY_DELAY)  # end the round; try again soon
                break
        return False

    def _in_grace(self, case_id: str) -> bool:
        now = self._clock()
        return any(case_id in s.case_ids and now < s.grace_until for s in self._subs.values())

    def _deliver(self, observations: dict[str, Any]) -> None:
        for sub in list(self._subs.values()):
            mine = {c: o for c, o in observations.items() if c in sub.case_ids}
            if mine:
                sub.inbox.put_nowait(Snapshot(mine))

    def _broadcast_fatal(self, error: str) -> None:
        for sub in list(self._subs.values()):
            sub.inbox.put_nowait(Snapshot({}, error=error, fatal=True))


def _final(state: str) -> bool:
    from airflow_provider_nextsign.api.cases import CaseState

    return state in CaseState._value2member_map_ and CaseState(state).is_terminal


class _Counting:
    """The poller's client, counting every request it sends (for tests and benchmarks)."""

    def __init__(self, client: Any, poller: CasePoller) -> None:
        self._client, self._poller = client, poller

    async def get_cases(self, ids: list[str]) -> Any:
        self._poller.requests += 1
        return await self._client.get_cases(ids)

    async def get_case(self, case_id: str) -> Any:
        self._poller.requests += 1
        return await self._client.get_case(case_id)


_POLLERS: dict[tuple[str, int], CasePoller] = {}


def get_poller(conn_id: str, client_factory: ClientFactory) -> CasePoller:
    """Return the live poller of ``conn_id`` on the running loop, creating it when needed."""
    key = (conn_id, id(asyncio.get_running_loop()))
    poller = _POLLERS.get(key)
    if poller is None or poller.closed:
        poller = CasePoller(conn_id, client_factory, batch_size=BATCH_SIZE)
        _POLLERS[key] = poller
    return poller
