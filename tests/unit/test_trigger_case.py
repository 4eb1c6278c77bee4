"""NextSignCaseTrigger and its shared per-connection poller, with an in-memory async client."""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import time

import pytest

from airflow_provider_nextsign.exceptions import (
    NextSignNotFoundError,
    NextSignRateLimitError,
    NextSignServerError,
)
from airflow_provider_nextsign.triggers import _poller
from airflow_provider_nextsign.triggers import case as trigger_module
from airflow_provider_nextsign.triggers.case import NextSignCaseTrigger


def _case(case_id: str, signed: str) -> dict:
    return {
        "_id": case_id,
        "recipients": [{"name": "A", "email": "a@example.com", "signing": True, "signed": signed}],
        "signedDocuments": [{"name": f"{case_id}.pdf", "file": f"https://files.test/{case_id}.pdf"}]
        if signed == "signed"
        else [],
    }


class FakeClient:
    """Get Multiple over a dict of cases; each call may run a callback that advances the world."""

    def __init__(self, cases: dict[str, dict], on_call=None) -> None:
        self.cases = cases
        self.calls: list[list[str]] = []
        self.on_call = on_call

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc) -> None:
        return None

    async def get_cases(self, ids: list[str]) -> list[dict]:
        self.calls.append(list(ids))
        if self.on_call is not None:
            self.on_call(self)
        return [self.cases[i] for i in ids if i in self.cases]

    async def get_case(self, case_id: str) -> dict:
        self.calls.append([f"get:{case_id}"])
        if case_id not in self.cases:
            raise NextSignNotFoundError(
                "Case not found", status_code=200, body={"message": "Case not found"}, operation="case_get"
            )
        return self.cases[case_id]


@pytest.fixture
def fake(monkeypatch):
    holder: dict = {}

    async def factory(conn_id: str) -> FakeClient:
        return holder["client"]

    monkeypatch.setattr(trigger_module, "async_client_for", factory)

    def install(client: FakeClient) -> FakeClient:
        holder["client"] = client
        return client

    yield install
    assert not _poller._POLLERS, "every poller must close once its triggers are done"


async def _first_event(trigger: NextSignCaseTrigger):
    agen = trigger.run()
    try:
        return await agen.__anext__()
    finally:
        await agen.aclose()


def test_serialize_is_json_safe_and_round_trips():
    trigger = NextSignCaseTrigger(["a", "b"], "ns", poll_interval=5, end_time=123.5)
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


async def test_success_event_carries_every_case_state(fake):
    def sign_all(client):
        if len(client.calls) == 2:
            client.cases.update({c: _case(c, "signed") for c in client.cases})

    fake(FakeClient({"a": _case("a", "pending"), "b": _case("b", "pending")}, on_call=sign_all))
    event = await _first_event(NextSignCaseTrigger(["a", "b"], "ns", poll_interval=0.001))
    assert event.payload["status"] == "success"
    assert event.payload["cases"]["a"] == {
        "state": "signed",
        "signed_documents": [{"name": "a.pdf", "file": "https://files.test/a.pdf"}],
    }
    assert set(event.payload["cases"]) == {"a", "b"}


@pytest.mark.parametrize(("body", "state"), [(_case("b", "denied"), "denied"), (None, "deleted")])
async def test_failed_case_is_named(fake, body, state):
    cases = {"a": _case("a", "signed")}
    if body is not None:
        cases["b"] = body
    fake(FakeClient(cases))
    event = await _first_event(NextSignCaseTrigger(["a", "b"], "ns", poll_interval=0.001))
    assert event.payload["status"] == "failed"
    assert (event.payload["case_id"], event.payload["state"]) == ("b", state)
    assert "b" in event.payload["message"] and state in event.payload["message"]


async def test_a_missing_case_is_pending_within_its_grace_window(fake):
    client = fake(FakeClient({"a": _case("a", "signed")}))
    trigger = NextSignCaseTrigger(
        ["a", "b"], "ns", poll_interval=0.01, end_time=time.time() + 0.2, grace_until=time.time() + 60
    )
    event = await _first_event(trigger)
    assert event.payload["status"] == "timeout"
    assert event.payload["cases"]["b"]["state"] == "pending"
    assert not any(call[0].startswith("get:") for call in client.calls)  # no Case Get inside the window


async def test_a_gateway_404_on_a_batch_deletes_nothing(fake):
    def gateway(client):
        raise NextSignNotFoundError("HTTP 404", status_code=404, body="<html>404</html>", operation="x")

    fake(FakeClient({"a": _case("a", "pending")}, on_call=gateway))
    trigger = NextSignCaseTrigger(["a"], "ns", poll_interval=0.01, end_time=time.time() + 0.2)
    event = await _first_event(trigger)
    assert event.payload["status"] == "error"  # a non-transient error, reported; never "deleted"
    assert event.payload["cases"] == {}


async def test_transient_errors_are_ridden_out(fake):
    def flaky(client):
        if len(client.calls) == 1:
            raise NextSignRateLimitError("slow down", status_code=429)
        if len(client.calls) == 2:
            raise NextSignServerError("boom", status_code=503)

    client = fake(FakeClient({"a": _case("a", "signed")}, on_call=flaky))
    event = await _first_event(NextSignCaseTrigger(["a"], "ns", poll_interval=0.001))
    assert event.payload["status"] == "success"
    assert len(client.calls) == 3


async def test_deadline_in_the_past_times_out_at_once(fake):
    client = fake(FakeClient({"a": _case("a", "pending")}))
    event = await _first_event(NextSignCaseTrigger(["a"], "ns", poll_interval=60, end_time=time.time() - 1))
    assert event.payload["status"] == "timeout"
    assert "a" in event.payload["message"]
    await asyncio.sleep(0.01)  # let the poller notice it has no subscribers left
    assert len(client.calls) <= 1


async def test_deadline_passes_while_waiting(fake):
    fake(FakeClient({"a": _case("a", "pending")}))
    started = time.monotonic()
    event = await _first_event(
        NextSignCaseTrigger(["a"], "ns", poll_interval=0.01, end_time=time.time() + 0.1)
    )
    assert event.payload["status"] == "timeout"
    assert event.payload["cases"]["a"]["state"] == "pending"
    assert time.monotonic() - started < 2


async def test_connection_problem_gives_an_error_event(monkeypatch):
    async def broken(conn_id: str):
        raise RuntimeError("The conn_id `ns` isn't defined")

    monkeypatch.setattr(trigger_module, "async_client_for", broken)
    event = await _first_event(NextSignCaseTrigger(["a"], "ns", poll_interval=0.001))
    assert event.payload["status"] == "error"
    assert "isn't defined" in event.payload["message"]
    assert not _poller._POLLERS


async def test_many_triggers_share_one_poll_per_batch(fake):
    """60 triggers x 2 cases = 120 distinct cases: 3 requests per round (batch 50), not 60."""
    triggers = [NextSignCaseTrigger([f"c{i}a", f"c{i}b"], "ns", poll_interval=0.05) for i in range(60)]
    cases = {cid: _case(cid, "pending") for t in triggers for cid in t.case_ids}

    def sign_after_first_round(client):
        if len(client.calls) == math.ceil(len(cases) / _poller.BATCH_SIZE) + 1:
            client.cases.update({c: _case(c, "signed") for c in client.cases})

    client = fake(FakeClient(cases, on_call=sign_after_first_round))
    events = await asyncio.gather(*(_first_event(t) for t in triggers))
    assert {e.payload["status"] for e in events} == {"success"}
    per_round = math.ceil(len(cases) / _poller.BATCH_SIZE)
    assert len(client.calls) == 2 * per_round == 6
    assert all(len(batch) <= _poller.BATCH_SIZE for batch in client.calls)
    assert sorted(c for batch in client.calls[:per_round] for c in batch) == sorted(cases)
