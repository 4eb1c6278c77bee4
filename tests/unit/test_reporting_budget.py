"""The report's share of the request budget: it never takes more than ``share`` of the rate."""

from __future__ import annotations

import pytest

from airflow_provider_nextsign.api.ratelimit import RequestBudget
from airflow_provider_nextsign.reporting.budget import ShareCappedBudget, cap_report_share


class FakeClock:
    """Epoch time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_a_capped_report_sends_at_half_the_rate_and_leaves_the_rest() -> None:
    clock = FakeClock()
    shared = RequestBudget("k" * 64, 100, clock=clock, safety=0.0)
    report = ShareCappedBudget(shared, 0.5, clock=clock)
    start = clock.t
    for _ in range(51):
        report.acquire()
    # 51 report requests at 50 a minute: 50 intervals of 1.2 s, where the whole budget allows 0.6 s.
    assert clock.t - start == pytest.approx(60.0, abs=0.05)
    assert report.requests_per_minute == 50 and shared.stats["granted"] == 51
    # Between two report requests (1.2 s apart) the signing DAGs sharing the budget get a token in the
    # gap without waiting, and the report's next request is not delayed by it.
    clock.sleep(0.6)
    assert shared.reserve() == 0.0
    before = clock.t
    report.acquire()
    assert clock.t - before == pytest.approx(0.6, abs=0.01)


def test_cap_applies_once_and_share_one_leaves_the_budget_alone() -> None:
    class Client:
        budget = RequestBudget("c" * 64, 100, clock=FakeClock())

    client = Client()
    original = client.budget
    cap_report_share(client, 1)
    assert client.budget is original
    cap_report_share(client, 0.25)
    cap_report_share(client, 0.25)
    assert isinstance(client.budget, ShareCappedBudget) and client.budget.inner is original
    assert client.budget.requests_per_minute == 25


@pytest.mark.parametrize("share", [0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="budget_share"):
        ShareCappedBudget(RequestBudget("b" * 64, 100), share)
