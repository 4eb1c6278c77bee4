"""Progress of a long report: pages, cases, requests spent and the time left on the request budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any


def _stat(stats: Any, name: str) -> float | None:
    """A numeric statistic of a mapping or object, else None."""
    value = stats.get(name) if isinstance(stats, Mapping) else getattr(stats, name, None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


class ReportProgress:
    """Counts a report's work and logs a progress line at most every ``interval`` seconds.

    Requests spent are the tokens the request budget granted since the start (its ``stats``:
    ``granted`` minus ``reslotted``, retries included; the budget is shared, so concurrent tasks of the
    same key count too), or, without a budget, one per Case List page, Get Multiple batch and Case Get.
    Get Multiple may answer summaries (the documented shape); each such case then costs one Case Get,
    and the log says so: the first chunk that needs Case Gets logs what it cost, and every progress
    line counts both kinds of detail request.
    ``requests_per_minute`` (the budget's rate) turns the requests still expected into time left.
    ``expected_cases`` (e.g. the number of cases the previous run saw) makes the estimate possible
    before the last Case List page: the list API gives no total count.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        page_size: int = 100,
        expected_cases: int | None = None,
        interval: float = 30.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        budget: Any = None,
    ) -> None:
        self.requests_per_minute = requests_per_minute
        self.page_size = page_size
        self.expected_cases = expected_cases
        self.interval = interval
        self.log = logger or logging.getLogger(__name__)
        self._clock = clock
        self._budget = budget
        self._granted0 = self._budget_requests()
        self._waited0 = self._budget_stat("waited_seconds")
        self.started = clock()
        self._last_log = self.started
        self.cases_listed = 0
        self.cases_fetched = 0
        self.cases_skipped = 0
        self.cases_missing = 0
        self.detail_requests = 0
        self.case_gets = 0
        self.chunks = 0
        self._case_gets_explained = False

    @classmethod
    def for_client(cls, client: Any, **kwargs: Any) -> ReportProgress:
        """Build from a client (or hook): its budget and the budget's rate, when it has them."""
        budget = getattr(client, "budget", None)
        rate = getattr(budget, "requests_per_minute", None) or getattr(client, "requests_per_minute", None)
        kwargs.setdefault("requests_per_minute", float(rate) if rate else None)
        return cls(budget=budget, **kwargs)

    @property
    def pages(self) -> int:
        """Case List pages read so far (the last, short or empty page included)."""
        return self.cases_listed // self.page_size + 1

    @property
    def requests_estimated(self) -> int:
        """Requests the work needed without retries: list pages, Get Multiple batches and Case Gets."""
        return self.pages + self.detail_requests + self.case_gets

    @property
    def requests_spent(self) -> int:
        """Requests made since the start, from the budget when it counts them, else estimated."""
        granted = self._budget_requests()
        if granted is not None and self._granted0 is not None:
            return int(granted - self._granted0)
        return self.requests_estimated

    def _budget_requests(self) -> float | None:
        """Requests sent through the budget: tokens granted minus slots given up and taken again."""
        granted = self._budget_stat("granted")
        return None if granted is None else granted - (self._budget_stat("reslotted") or 0.0)

    def _budget_stat(self, name: str) -> float | None:
        stats = getattr(self._budget, "stats", None)
        if callable(stats):
            stats = stats()
        return None if stats is None else _stat(stats, name)

    def listed(self, count: int) -> None:
        """Record ``count`` more Case List items."""
        self.cases_listed += count
        self.maybe_log()

    def chunk_done(
        self,
        *,
        fetched: int,
        skipped: int,
        missing: int,
        multiple_requests: int,
        case_gets: int,
        detail_ids: int,
    ) -> None:
        """Record a finished chunk: ``fetched`` cases read, ``skipped`` unchanged ones, ``missing`` ones
        deleted between the list and the read, and the detail requests the read of ``detail_ids`` cases
        made (as the read counted them)."""
        self.chunks += 1
        self.cases_fetched += fetched
        self.cases_skipped += skipped
        self.cases_missing += missing
        self.details_read(
            multiple_requests,
            case_gets,
            cases=detail_ids,
            what=f"chunk {self.chunks}",
        )
        self.maybe_log()

    def details_read(self, multiple_requests: int, case_gets: int, *, cases: int, what: str) -> None:
        """Record the detail requests of one read of ``cases`` cases (a chunk, or the sweep's re-reads)."""
        self.detail_requests += multiple_requests
        self.case_gets += case_gets
        if case_gets and not self._case_gets_explained:
            self._case_gets_explained = True
            self.log.info(
                "NextSign report: Get Multiple answers summaries, so each case read costs one Case Get "
                "(%s: %d case(s) read with %d Get Multiple + %d Case Get requests)",
                what,
                cases,
                multiple_requests,
                case_gets,
            )

    def seconds_left(self) -> float | None:
        """Budget-bound time left, from the requests per case so far and the cases still expected."""
        if not self.requests_per_minute or not self.expected_cases or not self.cases_listed:
            return None
        remaining = max(self.expected_cases - self.cases_listed, 0)
        per_case = self.requests_spent / self.cases_listed
        return remaining * per_case * 60.0 / self.requests_per_minute

    def budget_wait_seconds(self) -> float | None:
        """Seconds spent waiting on the request budget since the start, if the budget reports it."""
        waited = self._budget_stat("waited_seconds")
        if waited is None or self._waited0 is None:
            return None
        return waited - self._waited0

    def line(self) -> str:
        """One human-readable progress line."""
        elapsed = self._clock() - self.started
        parts = [
            f"pages {self.pages}",
            f"cases listed {self.cases_listed}"
            + (f"/{self.expected_cases} expected" if self.expected_cases else ""),
            f"fetched {self.cases_fetched}",
            f"unchanged {self.cases_skipped}",
            f"requests {self.requests_spent} "
            f"({self.detail_requests} Get Multiple + {self.case_gets} Case Get for details)",
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
            "requests_per_minute": self.requests_per_minute,
            "multiple_requests": self.detail_requests,
            "case_gets": self.case_gets,
            "seconds": round(self._clock() - self.started, 3),
        }
        if wait is not None:
            out["budget_wait_seconds"] = round(wait, 3)
        return out
