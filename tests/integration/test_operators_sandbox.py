"""Operators, sensor and trigger against the sandbox: real HTTP, real state changes, injected faults."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_nextsign.exceptions import NextSignCaseFailedError
from airflow_provider_nextsign.operators.cases import NextSignCreateCaseOperator, NextSignDeleteCaseOperator
from airflow_provider_nextsign.operators.forms import NextSignSubmitFormOperator
from airflow_provider_nextsign.sensors.case import NextSignCaseSensor
from airflow_provider_nextsign.triggers import _poller
from airflow_provider_nextsign.triggers.case import NextSignCaseTrigger

RECIPIENTS = [{"name": "Jane Doe", "email": "jane@example.com", "signing": True}]


class FakeTI:
    def __init__(self, task_id: str = "submit", try_number: int = 1, map_index: int = -1) -> None:
        self.dag_id, self.task_id, self.run_id = "itest", task_id, "manual__itest"
        self.try_number, self.map_index = try_number, map_index
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value


def _context(**kwargs):
    ti = FakeTI(**kwargs)
    return {"ti": ti, "run_id": ti.run_id}


def _form_tags(sandbox) -> dict:
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    tags = NextSignHook().get_form_tags(sandbox.form_id)
    return {
        t["tag"]: (1 if t.get("type") == "number" else "2025-01-01" if t.get("type") == "date" else "x")
        for t in tags
    }


def _submit(sandbox, **ti_kwargs) -> str:
    op = NextSignSubmitFormOperator(
        task_id="submit", form_id=sandbox.form_id, tags=_form_tags(sandbox), recipients=RECIPIENTS
    )
    return op.execute(_context(**ti_kwargs))


@pytest.mark.nextsign_sandbox(sign_after=None)
def test_lost_response_then_retry_leave_exactly_one_case(nextsign_sandbox):
    nextsign_sandbox.inject_fault("forms_submit", "lost_response", count=1)
    first = _submit(nextsign_sandbox)
    again = _submit(nextsign_sandbox, try_number=2)
    assert first == again
    assert len(nextsign_sandbox.cases()) == 1


@pytest.mark.nextsign_sandbox(sign_after=None)
def test_denied_case_fails_the_sensor_with_a_clear_message(nextsign_sandbox):
    signed, denied = _submit(nextsign_sandbox, map_index=0), _submit(nextsign_sandbox, map_index=1)
    nextsign_sandbox.sign(signed)
    nextsign_sandbox.deny(denied)
    with pytest.raises(NextSignCaseFailedError) as err:
        NextSignCaseSensor(task_id="wait", case_ids=[signed, denied]).poke({})
    assert denied in str(err.value) and "denied" in str(err.value)


@pytest.mark.nextsign_sandbox(sign_after=None)
def test_create_wait_and_delete(nextsign_sandbox):
    case_id = NextSignCreateCaseOperator(
        task_id="create", title="Lease", recipients=RECIPIENTS, documents=[b"%PDF-1.4 tiny"]
    ).execute(_context(task_id="create"))
    sensor = NextSignCaseSensor(task_id="wait", case_ids=case_id, not_found_grace=0)
    assert sensor.poke({}) is False
    nextsign_sandbox.sign(case_id)
    assert sensor.poke({}).xcom_value[case_id]["state"] == "signed"
    NextSignDeleteCaseOperator(task_id="delete", case_id=case_id).execute({})
    NextSignDeleteCaseOperator(task_id="delete", case_id=case_id).execute({})  # gone counts as deleted
    with pytest.raises(NextSignCaseFailedError, match="deleted"):
        sensor.poke({})


@pytest.mark.nextsign_sandbox(sign_after=None, requests_per_minute=100000, profile="rich")
def test_triggers_share_polling_against_the_sandbox(nextsign_sandbox, monkeypatch):
    """Ten triggers in one event loop cost ceil(cases / batch) Get Multiple requests per round."""
    case_ids = nextsign_sandbox.seed_cases(20)
    calls: list[int] = []
    from airflow_provider_nextsign.api import aio

    original = aio.AsyncNextSignClient.get_cases

    async def counting(self, ids):
        calls.append(len(ids))
        result = await original(self, ids)
        if len(calls) == 6:  # after two full rounds (3 batches each), everybody signs
            for case_id in case_ids:
                await asyncio.to_thread(nextsign_sandbox.sign, case_id)
        return result

    monkeypatch.setattr(aio.AsyncNextSignClient, "get_cases", counting)
    monkeypatch.setattr(_poller, "BATCH_SIZE", 8)

    async def wait_all():
        triggers = [NextSignCaseTrigger(case_ids[i : i + 2], poll_interval=0.05) for i in range(0, 20, 2)]

        async def first(trigger):
            agen = trigger.run()
            try:
                return await agen.__anext__()
            finally:
                await agen.aclose()

        return await asyncio.gather(*(first(t) for t in triggers))

    events = asyncio.run(wait_all())
    assert {e.payload["status"] for e in events} == {"success"}
    assert json.dumps([e.payload for e in events])
    # 20 cases in batches of 8 -> 3 requests per round; three rounds (2 pending, 1 signed).
    assert len(calls) == 9
