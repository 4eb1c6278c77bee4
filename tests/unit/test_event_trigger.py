"""NextSignCaseEventTrigger's loop: errors never kill it, and a failed poll loses no case."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_nextsign.compat import ASSET_WATCHERS
from airflow_provider_nextsign.exceptions import NextSignServerError

pytestmark = pytest.mark.skipif(not ASSET_WATCHERS.available, reason=ASSET_WATCHERS.message())


def _stamp(minutes: float) -> str:
    moment = datetime.now(UTC) + timedelta(minutes=minutes)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Pages:
    """Case List pages of signed cases; ``fail`` makes chosen calls raise."""

    def __init__(self, pages: list[list[dict]], fail: set[int]) -> None:
        self.pages, self.fail, self.calls = pages, fail, 0

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def list_cases_page(self, *, status, page_size, index):
        self.calls += 1
        if self.calls in self.fail:
            raise NextSignServerError("busy", status_code=503)
        return self.pages[index] if index < len(self.pages) else []


async def _events(trigger, count: int) -> list:
    found = []

    async def consume():
        async for event in trigger.run():
            found.append(event)
            if len(found) == count:
                return

    await asyncio.wait_for(consume(), 10)
    return found


@pytest.fixture
def client(monkeypatch):
    from airflow_provider_nextsign.triggers import events

    holder: dict = {}

    async def factory(conn_id):
        return holder["client"]

    monkeypatch.setattr(events, "async_client_for", factory)
    return holder


async def test_a_page_that_fails_mid_poll_loses_no_case(client):
    from airflow_provider_nextsign.triggers.events import NextSignCaseEventTrigger

    page0 = [{"_id": "a", "updatedAt": _stamp(1)}, {"_id": "b", "updatedAt": _stamp(1)}]
    page1 = [{"_id": "c", "updatedAt": _stamp(1)}]
    client["client"] = Pages([page0, page1], fail={2})  # the second page of the first poll fails
    trigger = NextSignCaseEventTrigger(poll_interval=0.001, pages_per_poll=2, page_size=2)
    (event,) = await _events(trigger, 1)
    assert sorted(event.payload["case_ids"]) == ["a", "b", "c"]


async def test_errors_never_end_the_watcher(client):
    from airflow_provider_nextsign.triggers.events import NextSignCaseEventTrigger

    client["client"] = Pages([[{"_id": "a", "updatedAt": _stamp(1)}]], fail={1, 2, 3})
    trigger = NextSignCaseEventTrigger(poll_interval=0.001, pages_per_poll=1, page_size=5)
    (event,) = await _events(trigger, 1)
    assert event.payload["case_ids"] == ["a"]
    assert event.payload["cases"][0]["dedupe_key"].startswith("case_signed:a:")
