"""NextSignCaseSensor: case id inputs, batched poke, failure/skip, deferral and execute_complete."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    TaskDeferred,
)

from airflow_provider_nextsign.exceptions import NextSignAuthError, NextSignCaseFailedError, NextSignError
from airflow_provider_nextsign.sensors.case import NextSignCaseSensor, normalize_case_ids
from airflow_provider_nextsign.triggers.case import NextSignCaseTrigger

from .conftest import COMPANY, HOST

pytestmark = pytest.mark.usefixtures("nextsign_connection")
V2 = f"{HOST}/api/v2/{COMPANY}"
UNAUTHORIZED = {"errors": [{"code": 401, "message": "Unauthorized", "description": "Invalid API key"}]}


def _case(case_id: str, signed: str = "signed") -> dict:
    docs = (
        [{"name": "contract.pdf", "file": f"https://store.test/{case_id}.pdf"}] if signed == "signed" else []
    )
    return {
        "_id": case_id,
        "recipients": [{"name": "J", "email": "j@example.com", "signing": True, "signed": signed}],
        "signedDocuments": docs,
    }


def _mock_multiple(requests_mock, cases: list[dict]):
    def callback(request, context):
        wanted = request.path.split("/cases/")[1].split("/")[0].split(",")
        found = [c for c in cases if c["_id"].lower() in wanted]
        if not found:
            context.status_code = 404
            return {"message": "Cases not found"}
        return {"status": "cases_found", "cases": found}

    return requests_mock.get(re.compile(rf"{V2}/cases/[^/]+/get"), json=callback)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a", ["a"]),
        (["a", "b", "a"], ["a", "b"]),
        ((x for x in ["a", " b "]), ["a", "b"]),
        ([["a", "b"], ["c"]], ["a", "b", "c"]),
    ],
)
def test_case_ids_accept_one_a_list_or_mapped_output(value, expected):
    assert normalize_case_ids(value) == expected


@pytest.mark.parametrize("value", [None, [], [""], 42])
def test_bad_case_ids_fail_clearly(value):
    with pytest.raises(ValueError, match="case_ids"):
        normalize_case_ids(value)


def test_poke_done_when_every_case_is_signed(requests_mock):
    multiple = _mock_multiple(requests_mock, [_case("a"), _case("b")])
    result = NextSignCaseSensor(task_id="wait", case_ids=["a", "b"]).poke({})
    assert isinstance(result, PokeReturnValue) and result.is_done
    assert result.xcom_value == {
        "a": {
            "state": "signed",
            "signed_documents": [{"name": "contract.pdf", "file": "https://store.test/a.pdf"}],
        },
        "b": {
            "state": "signed",
            "signed_documents": [{"name": "contract.pdf", "file": "https://store.test/b.pdf"}],
        },
    }
    assert multiple.call_count == 1  # one batched Get Multiple, not one call per case


def test_poke_waits_while_a_case_is_pending(requests_mock):
    _mock_multiple(requests_mock, [_case("a"), _case("b", "pending")])
    assert NextSignCaseSensor(task_id="wait", case_ids=["a", "b"]).poke({}) is False


def _mock_case_get(requests_mock, cases: list[dict]):
    by_id = {c["_id"]: c for c in cases}

    def callback(request, context):
        case_id = request.path.split("/case/")[1].split("/")[0]
        if case_id in by_id:
            return {"status": "case_found", "case": by_id[case_id]}
        return {"message": "Case not found"}  # NextSign's documented answer, HTTP 200

    return requests_mock.get(re.compile(rf"{V2}/case/[^/]+/get"), json=callback)


@pytest.mark.parametrize(
    ("cases", "state"), [([_case("a"), _case("b", "denied")], "denied"), ([_case("a")], "deleted")]
)
def test_failed_case_fails_the_sensor_without_retries_naming_it(requests_mock, cases, state):
    _mock_multiple(requests_mock, cases)
    _mock_case_get(requests_mock, cases)
    with pytest.raises(NextSignCaseFailedError) as err:
        NextSignCaseSensor(task_id="wait", case_ids=["a", "b"], not_found_grace=0).poke({})
    assert (err.value.case_id, err.value.state) == ("b", state)
    assert "b" in str(err.value) and state in str(err.value)
    assert isinstance(err.value, AirflowFailException)  # Airflow does not retry it


def test_a_case_missing_within_the_grace_window_is_pending_and_costs_no_case_get(requests_mock):
    _mock_multiple(requests_mock, [_case("a")])
    case_get = _mock_case_get(requests_mock, [_case("a")])
    assert NextSignCaseSensor(task_id="wait", case_ids=["a", "b"]).poke({}) is False
    assert not case_get.called


def test_a_case_missing_after_the_grace_window_is_deleted_only_when_case_get_confirms(requests_mock):
    _mock_multiple(requests_mock, [_case("a")])
    requests_mock.get(f"{V2}/case/b/get", status_code=404, text="<html>gateway</html>")
    sensor = NextSignCaseSensor(task_id="wait", case_ids=["a", "b"], not_found_grace=0)
    with pytest.raises(Exception, match="404") as err:  # not the documented answer: no verdict
        sensor.poke({})
    assert not isinstance(err.value, NextSignCaseFailedError)


def test_summary_items_are_read_once_with_case_get_then_only_when_updated_at_moves(requests_mock):
    summaries = {"a": {"_id": "a", "title": "T", "updatedAt": "2026-12-01T10:00:00.000Z"}}
    full = {"a": {**_case("a", "pending"), "updatedAt": "2026-12-01T10:00:00.000Z"}}
    requests_mock.get(
        re.compile(rf"{V2}/cases/[^/]+/get"),
        json=lambda request, context: {"status": "cases_found", "cases": [summaries["a"]]},
    )
    case_get = requests_mock.get(
        f"{V2}/case/a/get", json=lambda request, context: {"status": "case_found", "case": full["a"]}
    )
    sensor = NextSignCaseSensor(task_id="wait", case_ids=["a"])
    assert sensor.poke({}) is False and case_get.call_count == 1
    assert sensor.poke({}) is False and case_get.call_count == 1  # unchanged: no second Case Get
    summaries["a"] = {**summaries["a"], "updatedAt": "2026-12-01T10:05:00.000Z"}
    full["a"] = {**_case("a", "signed"), "updatedAt": "2026-12-01T10:05:00.000Z"}
    result = sensor.poke({})
    assert case_get.call_count == 2
    assert result.is_done and result.xcom_value["a"]["state"] == "signed"


def test_soft_fail_skips_instead(requests_mock):
    _mock_multiple(requests_mock, [_case("a", "denied")])
    with pytest.raises(AirflowSkipException, match="a is denied"):
        NextSignCaseSensor(task_id="wait", case_ids="a", soft_fail=True).poke({})


def test_deferrable_defers_with_an_absolute_deadline(requests_mock):
    _mock_multiple(requests_mock, [_case("a", "pending")])
    sensor = NextSignCaseSensor(
        task_id="wait", case_ids=["a", "a"], deferrable=True, poke_interval=30, timeout=timedelta(hours=2)
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, NextSignCaseTrigger)
    assert trigger.case_ids == ["a"] and trigger.poll_interval == 30
    assert before + 7200 <= trigger.end_time <= time.time() + 7200
    assert deferred.value.method_name == "execute_complete"


def test_deferrable_returns_at_once_when_already_signed(requests_mock):
    _mock_multiple(requests_mock, [_case("a")])
    assert (
        NextSignCaseSensor(task_id="wait", case_ids="a", deferrable=True).execute({})["a"]["state"]
        == "signed"
    )


def test_deferrable_default_comes_from_config(monkeypatch):
    import importlib

    import airflow_provider_nextsign.sensors.case as module

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    try:
        reloaded = importlib.reload(module)
        assert reloaded.NextSignCaseSensor(task_id="w", case_ids="a").deferrable is True
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(module)


def test_execute_complete_success_returns_the_cases():
    cases = {"a": {"state": "signed", "signed_documents": []}}
    sensor = NextSignCaseSensor(task_id="wait", case_ids="a")
    assert sensor.execute_complete({}, {"status": "success", "cases": cases, "message": "ok"}) == cases


def test_execute_complete_failed_raises_typed_error():
    sensor = NextSignCaseSensor(task_id="wait", case_ids="a")
    with pytest.raises(NextSignCaseFailedError) as err:
        sensor.execute_complete({}, {"status": "failed", "case_id": "a", "state": "expired", "cases": {}})
    assert (err.value.case_id, err.value.state) == ("a", "expired")


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"status": "timeout", "message": "Timed out"}, AirflowSensorTimeout),
        ({"status": "error", "message": "conn missing"}, NextSignError),
        (None, NextSignError),
        ({"no": "status"}, NextSignError),
    ],
)
def test_execute_complete_rejects_bad_events(event, error):
    with pytest.raises(error):
        NextSignCaseSensor(task_id="wait", case_ids="a").execute_complete({}, event)


def test_an_error_event_fails_even_with_soft_fail_as_poke_mode_does(requests_mock):
    """soft_fail skips failed cases and timeouts; an error about the wait itself fails in every mode."""
    sensor = NextSignCaseSensor(task_id="wait", case_ids="a", soft_fail=True)
    with pytest.raises(NextSignError, match="refused") as deferred_error:
        sensor.execute_complete({}, {"status": "error", "message": "the API key was refused"})
    assert not isinstance(deferred_error.value, AirflowException)  # resume_execution cannot skip it
    requests_mock.get(re.compile(rf"{V2}/cases/[^/]+/get"), status_code=401, json=UNAUTHORIZED)
    with pytest.raises(NextSignAuthError):
        NextSignCaseSensor(task_id="wait", case_ids="a", soft_fail=True, mode="poke").execute({})


def test_silent_fail_does_not_keep_poking_a_denied_case(requests_mock):
    _mock_multiple(requests_mock, [_case("a", "denied")])
    _mock_case_get(requests_mock, [_case("a", "denied")])
    sensor = NextSignCaseSensor(task_id="wait", case_ids="a", silent_fail=True, poke_interval=0.01, timeout=5)
    with pytest.raises(NextSignCaseFailedError):
        sensor.execute({})


def test_a_transient_error_on_the_first_deferrable_look_defers_instead_of_failing(requests_mock, monkeypatch):
    from airflow_provider_nextsign.api.client import NextSignClient

    monkeypatch.setitem(NextSignClient.__init__.__kwdefaults__, "sleep", lambda seconds: None)
    requests_mock.get(re.compile(rf"{V2}/cases/[^/]+/get"), status_code=503, json={"message": "busy"})
    with pytest.raises(TaskDeferred):
        NextSignCaseSensor(task_id="wait", case_ids="a", deferrable=True).execute({})


@pytest.mark.parametrize("case_ids", [None, [], [""]])
def test_empty_case_ids_fail_without_retries_naming_the_field(case_ids, requests_mock):
    with pytest.raises(AirflowFailException, match="case_ids"):
        NextSignCaseSensor(task_id="wait", case_ids=case_ids).execute({})
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("interval", [0, -1, timedelta(0)])
def test_poke_interval_must_be_positive(interval):
    with pytest.raises(ValueError, match="poke_interval"):
        NextSignCaseSensor(task_id="wait", case_ids="a", poke_interval=interval)


@pytest.mark.parametrize(("state", "signed"), [("signed", True), ("pending", False)])
def test_a_deferral_timed_out_by_airflow_takes_one_last_look(requests_mock, state, signed):
    _mock_multiple(requests_mock, [_case("a", state)])
    _mock_case_get(requests_mock, [_case("a", state)])
    sensor = NextSignCaseSensor(task_id="wait", case_ids="a", deferrable=True)
    timeout = {"error": "Trigger/execution timeout"}
    if signed:
        assert sensor.resume_execution("__fail__", timeout, {})["a"]["state"] == "signed"
    else:
        with pytest.raises(AirflowException, match=r"(?i)timeout"):  # AirflowSensorTimeout on 3.x
            sensor.resume_execution("__fail__", timeout, {})


def test_execute_complete_soft_fail_skips_on_timeout():
    with pytest.raises(AirflowSkipException):
        NextSignCaseSensor(task_id="wait", case_ids="a", soft_fail=True).execute_complete(
            {}, {"status": "timeout", "message": "Timed out"}
        )
