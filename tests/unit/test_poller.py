"""The shared poller inside one triggerer: fair intervals, isolated failures, its own log context."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time

import pytest

from airflow_provider_nextsign.api.schedule import PollSchedule, Waiter, adaptive_interval
from airflow_provider_nextsign.exceptions import (
    NextSignAuthError,
    NextSignNotFoundError,
    NextSignServerError,
    NextSignUnexpectedResponseError,
)
from airflow_provider_nextsign.triggers import _poller
from airflow_provider_nextsign.triggers import case as trigger_module
from airflow_provider_nextsign.triggers.case import NextSignCaseTrigger


def _case(case_id: str, signed: str = "pending") -> dict:
    return {
        "_id": case_id,
        "recipients": [{"name": "A", "email": "a@example.com", "signing": True, "signed": signed}],
        "signedDocuments": [],
    }


class Client:
    """Get Multiple and Case Get over a dict; ``fail`` maps a case id to the error its batch raises."""

    def __init__(self, cases: dict[str, dict], fail: dict[str, Exception] | None = None) -> None:
        self.cases = cases
        self.fail = fail or {}
        self.batches: list[list[str]] = []
        self.closed = 0

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.closed += 1

    async def get_cases(self, ids):
        await asyncio.sleep(0)  # a real request yields to the event loop
        self.batches.append(list(ids))
        for case_id in ids:
            if case_id in self.fail:
                raise self.fail[case_id]
        return [self.cases[i] for i in ids if i in self.cases]

    async def get_case(self, case_id):
        if case_id not in self.cases:
            raise NextSignNotFoundError("Case not found", status_code=200, body={"message": "Case not found"})
        return self.cases[case_id]


@pytest.fixture
def clients(monkeypatch):
    made: list[Client] = []
    template: dict = {}

    async def factory(conn_id):
        client = Client(template["cases"], template.get("fail"))
        made.append(client)
        return client

    monkeypatch.setattr(trigger_module, "async_client_for", factory)

    def install(cases, fail=None):
        template.update(cases=cases, fail=fail)
        return made

    yield install
    assert not _poller._POLLERS, "every poller must close once its triggers are done"


async def _run(trigger, timeout=5.0):
    agen = trigger.run()
    try:
        return await asyncio.wait_for(agen.__anext__(), timeout)
    finally:
        await agen.aclose()


def test_adaptive_interval_grows_with_age_between_the_poke_interval_and_the_cap():
    assert adaptive_interval(60, age=0, max_interval=900) == 60
    assert adaptive_interval(60, age=3600, max_interval=900) == 360  # 10% of an hour
    assert adaptive_interval(60, age=86400, max_interval=900) == 900  # capped
    assert adaptive_interval(1200, age=86400, max_interval=900) == 1200  # never below the poke interval


def test_schedule_reads_each_case_at_its_own_waiters_interval_and_fills_batches():
    schedule = PollSchedule(batch_size=3)
    schedule.add(1, Waiter(frozenset({"slow1", "slow2", "slow3", "slow4"}), 60.0, 900.0, 0.0), now=0.0)
    schedule.add(2, Waiter(frozenset({"fast"}), 1.0, 900.0, 0.0), now=0.0)
    assert sorted(map(len, schedule.due_batches(0.0))) == [2, 3]  # everything is due at once
    schedule.polled(schedule.watched(), now=0.0)
    assert schedule.due_batches(0.5) == []
    (batch,) = schedule.due_batches(1.0)
    assert batch[0] == "fast" and len(batch) == 3  # one request; two slow cases ride along for free
    schedule.polled(batch, now=1.0)
    assert schedule.next_due() == 2.0
    assert schedule.remove(2) == {"fast"} and "fast" not in schedule.watched()


async def test_a_new_waiter_is_read_at_once_not_after_anothers_long_interval(clients):
    made = clients({"slow": _case("slow"), "fast": _case("fast", "signed")})
    slow = asyncio.create_task(_run(NextSignCaseTrigger(["slow"], "c", poll_interval=3600), timeout=30))
    while not made or not made[0].batches:
        await asyncio.sleep(0.001)
    event = await _run(NextSignCaseTrigger(["fast"], "c", poll_interval=3600, end_time=time.time() + 30))
    assert event.payload["status"] == "success"
    slow.cancel()
    await asyncio.gather(slow, return_exceptions=True)
    reads = made[0].batches
    assert reads[0] == ["slow"] and "fast" in reads[1]  # the very next read
    assert sum("slow" in b for b in reads) <= 2  # the slow waiter was not read at the new one's rate


async def test_one_batchs_lasting_error_fails_only_the_waiters_of_that_batch(clients, monkeypatch):
    monkeypatch.setattr(_poller, "BATCH_SIZE", 1)
    bad = NextSignUnexpectedResponseError("unknown shape {rows: []}", status_code=200, operation="x")
    clients({"a": _case("a", "signed"), "b": _case("b")}, fail={"b": bad})
    ok, broken = await asyncio.gather(
        _run(NextSignCaseTrigger(["a"], "c", poll_interval=0.01)),
        _run(NextSignCaseTrigger(["b"], "c", poll_interval=0.01)),
    )
    assert ok.payload["status"] == "success"
    assert broken.payload["status"] == "error" and "unknown shape" in broken.payload["message"]


async def test_a_bad_id_fails_only_its_own_trigger(clients):
    clients({"a": _case("a", "signed"), "c": _case("c", "signed")})
    events = await asyncio.gather(
        _run(NextSignCaseTrigger(["a"], "c", poll_interval=0.01)),
        _run(NextSignCaseTrigger(["b c"], "c", poll_interval=0.01)),
        _run(NextSignCaseTrigger(["c"], "c", poll_interval=0.01)),
    )
    assert [e.payload["status"] for e in events] == ["success", "error", "success"]
    assert "case_ids[0]" in events[1].payload["message"]


@contextlib.contextmanager
def _warnings_logged(caplog):
    """The warning texts logged inside the block: structlog on Airflow 3, stdlib logging on Airflow 2."""
    seen: list[str] = []
    try:
        from structlog.testing import capture_logs
    except ImportError:  # Airflow 2.11 has no structlog; its task loggers are stdlib loggers
        with caplog.at_level(logging.WARNING):
            yield seen
        seen += [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        return
    with capture_logs() as logs:
        yield seen
    seen += [e["event"] for e in logs if e["log_level"] == "warning"]


async def test_a_transient_error_is_ridden_out_and_logged_by_its_waiter(clients, monkeypatch, caplog):
    monkeypatch.setattr(_poller, "RETRY_DELAY", 0.01)
    made = clients({"a": _case("a", "signed")}, fail={"a": NextSignServerError("busy", status_code=503)})

    async def heal():
        while not made or not made[0].batches:
            await asyncio.sleep(0.001)
        made[0].fail.clear()

    healer = asyncio.create_task(heal())
    with _warnings_logged(caplog) as warnings:
        event = await _run(NextSignCaseTrigger(["a"], "c", poll_interval=0.01))
    await healer
    assert event.payload["status"] == "success"
    # The trigger logs what concerns its own cases (in its task's log), with the error.
    (warning,) = [text for text in warnings if "Could not read" in text]
    assert "busy" in warning


async def test_an_auth_error_rebuilds_the_client_so_a_rotated_key_is_picked_up(clients):
    refused = NextSignAuthError("Unauthorized", status_code=401)
    made = clients({"a": _case("a", "signed")}, fail={"a": refused})
    waiting = asyncio.create_task(_run(NextSignCaseTrigger(["a"], "c", poll_interval=0.01)))
    event = await waiting
    assert event.payload["status"] == "error" and "Unauthorized" in event.payload["message"]
    assert made[0].closed == 1  # the refused client is closed, a new one is built on the next round


def test_the_interval_floor_comes_from_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__NEXTSIGN__MIN_POLL_INTERVAL", "7")
    assert _poller.min_poll_interval() == 7.0

    async def subscribe():
        poller = _poller.CasePoller("c", lambda conn_id: None)  # type: ignore[arg-type,return-value]
        _key, sub = poller.subscribe(["a"], poll_interval=0.001)
        poller._task.cancel()  # type: ignore[union-attr]
        await asyncio.gather(poller._task, return_exceptions=True)  # type: ignore[arg-type]
        return sub.poll_interval

    assert asyncio.run(subscribe()) == 7.0


async def test_the_poller_runs_in_a_fresh_context_not_in_the_first_triggers(clients, monkeypatch):
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("task_log", default="none")
    seen: list[str] = []
    original = trigger_module.async_client_for

    async def factory(conn_id):
        seen.append(marker.get())
        return await original(conn_id)

    monkeypatch.setattr(trigger_module, "async_client_for", factory)
    clients({"a": _case("a", "signed")})
    marker.set("task-1")  # what Airflow's triggerer sets to route a trigger's logs to its task
    event = await _run(NextSignCaseTrigger(["a"], "c", poll_interval=0.01))
    assert event.payload["status"] == "success"
    assert seen == ["none"]


async def test_waiters_that_left_are_not_read_in_the_rest_of_the_round(clients, monkeypatch):
    monkeypatch.setattr(_poller, "BATCH_SIZE", 1)
    made = clients({"a": _case("a", "signed"), "b": _case("b")})
    event_a = asyncio.create_task(_run(NextSignCaseTrigger(["a"], "c", poll_interval=3600)))
    event_b = asyncio.create_task(_run(NextSignCaseTrigger(["b"], "c", poll_interval=3600)))
    await asyncio.sleep(0)  # both subscribed before the first round
    event_b.cancel()
    assert (await event_a).payload["status"] == "success"
    await asyncio.gather(event_b, return_exceptions=True)
    assert ["b"] not in made[0].batches


async def test_a_waiter_whose_cases_all_settled_does_not_spin_the_event_loop(clients):
    """A trigger that got its final event may be closed late by the triggerer: meanwhile the poller
    has nothing due and must wait, not spin (the triggerer flags a blocked loop as deadlocked)."""
    clients({"a": _case("a", "signed")})
    poller = _poller.get_poller("c", trigger_module.async_client_for)
    _key, sub = poller.subscribe(["a"], poll_interval=0.001)
    await asyncio.wait_for(sub.inbox.get(), 5)  # "a" is signed: settled, never due again
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.3)
    task.cancel()
    poller.unsubscribe(_key)
    await asyncio.sleep(0)
    assert ticks >= 10  # the loop kept running other tasks
