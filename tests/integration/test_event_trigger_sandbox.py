"""NextSignCaseEventTrigger against the sandbox: one event per newly signed case, fixed requests per poll."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_nextsign.compat import ASSET_WATCHERS

pytestmark = pytest.mark.skipif(not ASSET_WATCHERS.available, reason=ASSET_WATCHERS.message())

FAST = pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=600)


async def _collect(trigger, sandbox, to_sign, expected, requests, primed_after=4):
    from airflow_provider_nextsign.api import aio

    send = aio.AsyncNextSignClient._send

    async def counting(self, *args):
        answer = await send(self, *args)
        requests.append(args[0].operation)  # counted once answered: the trigger has the page when we look
        return answer

    aio.AsyncNextSignClient._send = counting
    events: list = []

    async def consume():
        async for event in trigger.run():
            events.append(event)

    consumer = asyncio.create_task(consume())
    try:
        while len(requests) < primed_after:  # the first sweep primes the cursor without events
            await asyncio.sleep(0.001)
        assert events == []
        for case_id in to_sign:
            await asyncio.to_thread(sandbox.sign, case_id)
        async with asyncio.timeout(10):
            while sum(len(e.payload["case_ids"]) for e in events) < expected:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # a few more polls: nothing is reported twice
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        aio.AsyncNextSignClient._send = send
    return events


@FAST
def test_each_newly_signed_case_is_one_event(nextsign_sandbox, monkeypatch):
    from datetime import timedelta

    from airflow_provider_nextsign.api import event_cursor
    from airflow_provider_nextsign.triggers.events import NextSignCaseEventTrigger

    # Cases signed within the clock-skew margin before the start count as new; here none are.
    monkeypatch.setattr(event_cursor, "CLOCK_SKEW", timedelta(0))

    already = nextsign_sandbox.seed_cases(5)
    for case_id in already:
        nextsign_sandbox.sign(case_id)
    pending = nextsign_sandbox.seed_cases(3)
    trigger = NextSignCaseEventTrigger(poll_interval=0.01, pages_per_poll=1, page_size=2)
    requests: list[str] = []
    events = asyncio.run(_collect(trigger, nextsign_sandbox, pending, 3, requests))

    assert sorted(case_id for e in events for case_id in e.payload["case_ids"]) == sorted(pending)
    assert [c["case_id"] for e in events for c in e.payload["cases"]] == [
        case_id for e in events for case_id in e.payload["case_ids"]
    ]
    assert {e.payload["trigger"] for e in events} == {"case_signed"}
    assert set(requests) == {"cases_list"}  # one Case List page per poll, whatever the case count


@FAST
def test_cases_signed_between_two_polls_are_one_event(nextsign_sandbox):
    from airflow_provider_nextsign.triggers.events import NextSignCaseEventTrigger

    pending = nextsign_sandbox.seed_cases(3)
    trigger = NextSignCaseEventTrigger(poll_interval=0.5, pages_per_poll=1, page_size=100)
    requests: list[str] = []
    events = asyncio.run(_collect(trigger, nextsign_sandbox, pending, 3, requests, primed_after=1))

    (event,) = events
    assert sorted(event.payload["case_ids"]) == sorted(pending)


def test_serialize_round_trips():
    from airflow_provider_nextsign.triggers.events import NextSignCaseEventTrigger

    trigger = NextSignCaseEventTrigger(trigger="case_denied", poll_interval=30, pages_per_poll=2)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_nextsign.triggers.events.NextSignCaseEventTrigger"
    assert NextSignCaseEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    with pytest.raises(ValueError, match="case_signed"):
        NextSignCaseEventTrigger(trigger="signed")


def test_watcher_example_dag_declares_a_watched_nextsign_asset(monkeypatch):
    import runpy
    from pathlib import Path

    monkeypatch.setenv("NEXTSIGN_COMPANY_ID", "6576e19662ec13c4faa7de7b")
    monkeypatch.setenv("NEXTSIGN_POLL_INTERVAL", "30")
    path = Path(__file__).resolve().parents[2] / "example_dags" / "example_nextsign_case_signed_watcher.py"
    namespace = runpy.run_path(str(path))
    asset = namespace["case_signed"]
    assert asset.uri == "nextsign://6576e19662ec13c4faa7de7b/case_signed"
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath.endswith("NextSignCaseEventTrigger")
    assert (kwargs["trigger"], kwargs["poll_interval"]) == ("case_signed", 30.0)
    assert namespace["dag"].task_ids == ["signed_case_ids", "store_signed_pdfs"]
