"""Progress of a long report: pages, cases, requests spent and the time left on the request budget."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_nextsign.reporting.frames import CaseFrames

#: Cases per Case Get Multiple request when the client does not say (ids travel in the URL path).
DEFAULT_DETAIL_BATCH = 50


def _stat(stats: Any, *names: str) -> float | None:
    """The first numeric statistic among ``names`` in a mapping or object, else None."""
    for name in names:
        value = stats.get(name) if isinstance(stats, Mapping) else getattr(stats, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


class ReportProgress:
    """Counts a report's work and logs a progress line at most every ``interval`` seconds.

    Requests are counted from the work done (one per Case List page, one per Get Multiple batch);
    ``requests_per_minute`` (the client's budget rate) turns the requests still expected into time left.
    ``expected_cases`` (e.g. the number of cases the previous run saw) makes the estimate possible
    before the last Case List page: the list API gives no total count.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        page_size: int = 100,
        detail_batch: int = DEFAULT_DETAIL_BATCH,
        expected_cases: int | None = None,
        interval: float = 30.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        budget: Any = None,
    ) -> None:
        self.requests_per_minute = requests_per_minute
        self.page_size = page_size
        self.detail_batch = max(1, detail_batch)
        self.expected_cases = expected_cases
        self.interval = interval
        self.log = logger or logging.getLogger(__name__)
        self._clock = clock
        self._budget = budget
        self.started = clock()
        self._last_log = self.started
        self.cases_listed = 0
        self.cases_fetched = 0
        self.cases_skipped = 0
        self.cases_missing = 0
        self.detail_requests = 0
        self.chunks = 0

    @classmethod
    def for_client(cls, client: Any, **kwargs: Any) -> ReportProgress:
        """Build from a client (or hook): its budget rate and Get Multiple batch size, when it has them."""
        budget = getattr(client, "budget", None)
        rate = getattr(budget, "requests_per_minute", None) or getattr(client, "requests_per_minute", None)
        batch = getattr(client, "get_cases_batch_size", None) or DEFAULT_DETAIL_BATCH
        kwargs.setdefault("requests_per_minute", float(rate) if rate else None)
        kwargs.setdefault("detail_batch", int(batch))
        return cls(budget=budget, **kwargs)

    @property
    def pages(self) -> int:
        """Case List pages read so far (the last, short or empty page included)."""
        return self.cases_listed // self.page_size + 1

    @property
    def requests_spent(self) -> int:
        """Requests this report has made: list pages plus Get Multiple batches."""
        return self.pages + self.detail_requests

    def listed(self, count: int) -> None:
        """Record ``count`` more Case List items."""
        self.cases_listed += count
        self.maybe_log()

    def chunk_done(self, frames: CaseFrames, *, detail_ids: int) -> None:
        """Record a finished chunk whose details were fetched for ``detail_ids`` cases."""
        self.chunks += 1
        self.cases_fetched += len(frames.cases)
        self.cases_skipped += frames.skipped
        self.cases_missing += len(frames.missing)
        self.detail_requests += math.ceil(detail_ids / self.detail_batch)
        self.maybe_log()

    def seconds_left(self) -> float | None:
        """Budget-bound time left, from the requests per case so far and the cases still expected."""
        if not self.requests_per_minute or not self.expected_cases or not self.cases_listed:
            return None
        remaining = max(self.expected_cases - self.cases_listed, 0)
        per_case = self.requests_spent / self.cases_listed
        return remaining * per_case * 60.0 / self.requests_per_minute

    def budget_wait_seconds(self) -> float | None:
        """Seconds callers waited on the shared budget, if the budget reports it."""
        stats = getattr(self._budget, "stats", None)
        if callable(stats):
            stats = stats()
        if stats is None:
            return None
        return _stat(stats, "waited_seconds", "wait_seconds", "total_wait", "waited")

    def line(self) -> str:
        """One human-readable progress line."""
        elapsed = self._clock() - self.started
        parts = [
            f"pages {self.pages}",
            f"cases listed {self.cases_listed}"
            + (f"/{self.expected_cases} expected" if self.expected_cases else ""),
            f"fetched {self.cases_fetched}",
            f"unchanged {self.cases_skipped}",
            f"requests {self.requests_spent}",
            f"elapsed {elapsed:.0f}s",
        ]
        left = self.seconds_left()
        parts.append(f"time left ~{left:.0f}s" if left is not None else "time left unknown")
        return "NextSign report: " + ", ".join(parts)

    def maybe_log(self, *, force: bool = False) -> None:
        """Log :meth:`line` when ``interval`` seconds passed since the last one (or when forced)."""
        now = self._clock()
        if force or now - self._last_log >= self.interval:
            self._last_log = now
            self.log.info("%s", self.line())

    def summary(self) -> dict[str, Any]:
        """JSON-safe counters for the operator's return value."""
        wait = self.budget_wait_seconds()
        out: dict[str, Any] = {
            "pages": self.pages,
            "cases_listed": self.cases_listed,
            "cases_fetched": self.cases_fetched,
            "cases_unchanged": self.cases_skipped,
            "cases_missing": self.cases_missing,
            "requests": self.requests_spent,
            "seconds": round(self._clock() - self.started, 3),
        }
        if wait is not None:
            out["budget_wait_seconds"] = round(wait, 3)
        return out
