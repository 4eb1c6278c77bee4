"""Shared fixtures of the unit tests: a client on fake hosts with a recording budget and no real sleeps."""

from __future__ import annotations

import pytest

from airflow_provider_nextsign.api.retry import RetryPolicy

HOST = "https://ns.test"
FILES = "https://files.test"
COMPANY = "6576e19662ec13c4faa7de7b"
API_KEY = "sk-live-2f1c9a7e-very-secret"
V2 = f"{HOST}/api/v2/{COMPANY}"
V3 = f"{FILES}/v3/company/{COMPANY}/file"


class RecordingBudget:
    """Counts tokens taken and penalties, never waits."""

    def __init__(self) -> None:
        self.acquired = 0
        self.penalties: list[float] = []
        self.requests_per_minute = 100.0

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0

    async def acquire_async(self) -> float:
        self.acquired += 1
        return 0.0

    def penalize(self, seconds: float) -> None:
        self.penalties.append(seconds)


@pytest.fixture
def budget() -> RecordingBudget:
    return RecordingBudget()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(budget, sleeps):
    from airflow_provider_nextsign.api.client import NextSignClient

    with NextSignClient(
        COMPANY,
        API_KEY,
        host=HOST,
        files_host=FILES,
        budget=budget,  # type: ignore[arg-type]
        retry_policy=RetryPolicy(jitter=0.0),
        sleep=sleeps.append,
    ) as c:
        yield c
