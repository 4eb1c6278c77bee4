"""Holding the report to a share of the request budget, so it never starves the signing DAGs.

Every NextSign request of a company takes a token from one shared budget (100 per minute by default).
A report of many cases could take all of them for an hour, and the DAGs that create and watch signing
cases would wait behind it. :func:`cap_report_share` puts a second, smaller budget in front of the
report's client: ``share`` of the rate, shared by every report of the same budget on this host (a file
next to the budget's own), so reports together never take more than ``share`` and the rest stays free.
The report's requests still take their tokens from the shared budget too.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["DEFAULT_BUDGET_SHARE", "ShareCappedBudget", "cap_report_share"]

#: The share of the request budget reports may use together, by default.
DEFAULT_BUDGET_SHARE = 0.5


class ShareCappedBudget:
    """A request budget (``inner``) whose holder may use at most ``share`` of its rate.

    Implements the client's budget protocol: :meth:`acquire` waits for a token of the cap and then for
    one of ``inner``; counters, penalties (429s) and sharing are ``inner``'s.
    """

    def __init__(self, inner: Any, share: float, *, clock: Any = None) -> None:
        from airflow_provider_nextsign.api.ratelimit import RequestBudget, default_shared_dir

        if not 0 < share <= 1:
            raise ValueError(f"budget_share: expected a fraction in (0, 1], got {share!r}")
        self.inner = inner
        self.share = share
        self.key = str(inner.key)
        cap_key = hashlib.sha256(f"{self.key}:report-share".encode()).hexdigest()
        state_file = default_shared_dir() / f"{cap_key}.json" if getattr(inner, "shared", False) else None
        # No safety margin: the shared budget behind it already keeps one.
        self.cap = RequestBudget(
            cap_key, float(inner.requests_per_minute) * share, state_file=state_file, clock=clock, safety=0.0
        )

    @property
    def requests_per_minute(self) -> float:
        """The rate this holder may use (``share`` of the budget)."""
        return float(self.cap.requests_per_minute)

    @property
    def interval(self) -> float:
        """Seconds between two of this holder's tokens."""
        return float(self.cap.interval)

    @property
    def shared(self) -> bool:
        """Whether the underlying budget is shared with other processes."""
        return bool(self.inner.shared)

    @property
    def stats(self) -> Any:
        """The underlying budget's counters."""
        return self.inner.stats

    def set_rate(self, requests_per_minute: float) -> None:
        """Change the underlying budget; the cap follows at ``share`` of it."""
        self.inner.set_rate(requests_per_minute)
        self.cap.set_rate(requests_per_minute * self.share)

    def reserve(self) -> float:
        """Take a token of the cap and of the budget; return the longer wait."""
        return max(self.cap.reserve(), self.inner.reserve())

    def acquire(self) -> float:
        """Wait for a token of the cap, then of the budget; return the seconds waited."""
        return float(self.cap.acquire()) + float(self.inner.acquire())

    async def acquire_async(self) -> float:
        """:meth:`acquire` without blocking the event loop."""
        return float(await self.cap.acquire_async()) + float(await self.inner.acquire_async())

    def penalize(self, seconds: float) -> None:
        """A 429 arrived: pause the whole budget."""
        self.inner.penalize(seconds)

    async def penalize_async(self, seconds: float) -> None:
        """:meth:`penalize` from a coroutine."""
        await self.inner.penalize_async(seconds)


def cap_report_share(client: Any, share: float) -> None:
    """Hold ``client`` (a :class:`~airflow_provider_nextsign.api.client.NextSignClient` the report owns)
    to ``share`` of its request budget; ``share=1`` leaves the budget uncapped. Calling it again replaces
    the cap (never caps a capped budget)."""
    budget = getattr(client, "budget", None)
    if budget is None:
        return
    inner = budget.inner if isinstance(budget, ShareCappedBudget) else budget
    client.budget = inner if share >= 1 else ShareCappedBudget(inner, share)
