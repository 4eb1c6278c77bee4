"""Injected faults (each kind) and the rate limit (429 + Retry-After), with a time scale."""

from __future__ import annotations

import time

import pytest
import requests

from nextsign_sandbox.ratelimit import RollingWindowLimiter


def test_server_error_then_normal(api, nextsign_sandbox):
    nextsign_sandbox.inject_fault("cases_list", "server_error", count=2)
    for _ in range(2):
        response = api.get(api.v2("cases/get"))
        assert (response.status_code, response.json()) == (
            500,
            {"message": "Internal server error", "errors": []},
        )
    assert api.get(api.v2("cases/get")).json() == {"status": "company_found", "cases": []}


def test_server_error_with_another_status_over_http(api):
    armed = api.control("faults", operation="case_get", kind="server_error", status=503)
    assert armed.json()["fault"] == {
        "operation": "case_get",
        "kind": "server_error",
        "count": 1,
        "status": 503,
    }
    assert api.get(api.v2("case/657b2ffb0965b111023fb0d1/get")).status_code == 503


def test_error_body_is_http_200(api, nextsign_sandbox):
    nextsign_sandbox.inject_fault("forms_get", "error_body")
    response = api.get(api.v2(f"forms/{nextsign_sandbox.form_id}/get"))
    assert response.status_code == 200
    assert response.json()["errors"][0]["code"] == 500


def test_slow_answers_late(api, nextsign_sandbox):
    nextsign_sandbox.inject_fault("case_get", "slow", seconds=0.3)
    started = time.monotonic()
    assert api.get(api.v2("case/657b2ffb0965b111023fb0d1/get")).json() == {"message": "Case not found"}
    assert time.monotonic() - started >= 0.3
    nextsign_sandbox.inject_fault("case_get", "slow", seconds=2)
    with pytest.raises(requests.ReadTimeout):
        api.session.get(api.v2("case/657b2ffb0965b111023fb0d1/get"), headers=api.auth, timeout=0.2)


def test_drop_closes_the_connection_without_an_answer(api, nextsign_sandbox):
    nextsign_sandbox.inject_fault("cases_get_multiple", "drop")
    with pytest.raises(requests.ConnectionError):
        api.get(api.v2("cases/657b2ffb0965b111023fb0d1/get"))
    assert api.get(api.v2("cases/657b2ffb0965b111023fb0d1/get")).status_code == 404  # only once


@pytest.mark.parametrize("operation", ["case_create", "forms_submit"])
def test_lost_response_applies_the_write(api, nextsign_sandbox, operation):
    nextsign_sandbox.inject_fault(operation, "lost_response")
    with pytest.raises(requests.ConnectionError):
        if operation == "case_create":
            api.create(referenceId="lost")
        else:
            api.post(
                api.v2(f"forms/{nextsign_sandbox.form_id}/submit"),
                json={
                    "referenceId": "lost",
                    "tags": [{"tag": "customer_name", "value": "a"}, {"tag": "customer_zip", "value": "1"}],
                    "recipients": [{"name": "A", "email": "a@example.com"}],
                },
            )
    [case] = nextsign_sandbox.cases()
    assert case["referenceId"] == "lost"


def test_lost_response_loses_an_error_answer_too(api, nextsign_sandbox):
    nextsign_sandbox.inject_fault("case_create", "lost_response")
    with pytest.raises(requests.ConnectionError):
        api.post(api.v2("case/create"), json={"title": "no recipients"})
    assert nextsign_sandbox.cases() == []
    assert api.post(api.v2("case/create"), json={}).status_code == 400  # consumed


def test_fault_arguments_are_checked(api, nextsign_sandbox):
    with pytest.raises(ValueError, match="operation must be one of"):
        nextsign_sandbox.inject_fault("case_update", "drop")
    with pytest.raises(ValueError, match="kind must be one of"):
        nextsign_sandbox.inject_fault("case_get", "explode")
    with pytest.raises(ValueError, match="lost_response applies to writes"):
        nextsign_sandbox.inject_fault("case_get", "lost_response")
    assert api.control("faults", operation="case_get", kind="drop", count=0).status_code == 400


def test_faults_and_control_do_not_touch_other_operations(api, nextsign_sandbox):
    nextsign_sandbox.inject_fault("case_delete", "server_error")
    assert api.get(api.v2("cases/get")).status_code == 200
    listed = api.get(f"{api.url}/_sandbox/faults").json()["faults"]
    assert listed == [{"operation": "case_delete", "kind": "server_error", "count": 1}]
    assert api.session.delete(f"{api.url}/_sandbox/faults", headers=api.auth).json() == {"faults": []}
    assert api.get(api.v2("case/x/delete")).json() == {"message": "Case not found"}


@pytest.mark.nextsign_sandbox(requests_per_minute=5, time_scale=120)  # window: 0.5 real seconds
def test_rate_limit_429_with_retry_after_then_recovers(api, nextsign_sandbox):
    for _ in range(5):
        assert api.get(api.v2("cases/get")).status_code == 200
    # control routes are not limited, and neither is seeding
    assert api.get(f"{api.url}/_sandbox/cases").status_code == 200
    nextsign_sandbox.seed_cases(3)
    limited = api.get(api.v2("cases/get"))
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"  # whole seconds, at least 1
    body = limited.json()
    assert body["message"] == "Too many requests" and 0 < body["retry_after"] <= 0.5
    time.sleep(body["retry_after"] + 0.02)
    assert api.get(api.v2("cases/get")).status_code == 200
    assert nextsign_sandbox.connection["extra"]["requests_per_minute"] == 600


@pytest.mark.nextsign_sandbox(requests_per_minute=1)
def test_rate_limit_ignores_unauthenticated_requests_and_can_be_switched_off(api, nextsign_sandbox):
    assert api.get(api.v2("cases/get")).status_code == 200
    unauthenticated = api.session.get(api.v2("cases/get"))
    assert unauthenticated.status_code == 401  # not counted, not limited
    limited = api.get(api.v2("cases/get"))
    assert limited.status_code == 429 and 55 <= int(limited.headers["Retry-After"]) <= 60
    api.control("config", rate_limit=False)
    assert api.get(api.v2("cases/get")).status_code == 200


def test_rolling_window_with_a_fake_clock():
    now = [0.0]
    limiter = RollingWindowLimiter(3, time_scale=2.0, clock=lambda: now[0])  # 30 real seconds
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        assert limiter.acquire("k") is None
    now[0] = 25.0
    assert limiter.acquire("k") == pytest.approx(5.0)  # the hit at 0 leaves the window at 30
    assert limiter.acquire("other") is None
    now[0] = 30.0
    assert limiter.acquire("k") is None
    assert limiter.acquire("k") == pytest.approx(10.0)


def test_seed_count_is_capped(api, nextsign_sandbox):
    from nextsign_sandbox.routes_control import MAX_SEED_COUNT

    answer = api.control("seed", count=MAX_SEED_COUNT + 1)
    assert answer.status_code == 400 and "count" in answer.json()["message"]
    assert str(MAX_SEED_COUNT) in answer.json()["message"]
    assert nextsign_sandbox.cases() == []
    assert len(api.control("seed", count=3).json()["case_ids"]) == 3
