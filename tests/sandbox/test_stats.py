"""Request counters: GET /_sandbox/stats counts every API request by status and operation; DELETE resets."""

from __future__ import annotations

import pytest
import requests

CASE = "657b2ffb0965b111023fb0d1"


def stats(api) -> dict:
    response = api.get(f"{api.url}/_sandbox/stats")
    assert response.status_code == 200
    return response.json()


@pytest.mark.nextsign_sandbox(requests_per_minute=3)
def test_counts_answers_by_status_and_operation(api, nextsign_sandbox):
    assert stats(api) == {"requests": 0, "by_status": {}, "by_operation": {}}
    for _ in range(3):
        assert api.get(api.v2("cases/get")).status_code == 200
    assert api.get(api.v2(f"forms/{nextsign_sandbox.form_id}/get")).status_code == 429
    assert api.session.get(api.v2(f"case/{CASE}/get")).status_code == 401  # no key: counted, not limited
    api.get(f"{api.url}/_sandbox/cases")  # control routes are not API requests
    assert stats(api) == {
        "requests": 5,
        "by_status": {"200": 3, "401": 1, "429": 1},
        "by_operation": {"case_get": 1, "cases_list": 3, "forms_get": 1},
    }
    assert nextsign_sandbox.stats() == stats(api)  # the fixture's server object shows the same


def test_faults_count_with_the_status_the_client_saw(api, nextsign_sandbox):
    nextsign_sandbox.inject_fault("case_get", "server_error", status=503)
    nextsign_sandbox.inject_fault("cases_get_multiple", "drop")
    nextsign_sandbox.inject_fault("case_create", "lost_response")
    assert api.get(api.v2(f"case/{CASE}/get")).status_code == 503
    with pytest.raises(requests.ConnectionError):
        api.get(api.v2(f"cases/{CASE}/get"))
    with pytest.raises(requests.ConnectionError):
        api.create()  # applied, but the answer is lost
    assert nextsign_sandbox.stats()["by_status"] == {"503": 1, "dropped": 2}
    assert nextsign_sandbox.stats()["by_operation"] == {
        "case_create": 1,
        "case_get": 1,
        "cases_get_multiple": 1,
    }


def test_delete_resets_and_needs_the_key(api, nextsign_sandbox):
    api.get(api.v2("cases/get"))
    assert api.session.get(f"{api.url}/_sandbox/stats").status_code == 401
    assert api.session.delete(f"{api.url}/_sandbox/stats").status_code == 401
    assert nextsign_sandbox.stats()["requests"] == 1
    reset = api.session.delete(f"{api.url}/_sandbox/stats", headers=api.auth)
    assert reset.json() == {"requests": 0, "by_status": {}, "by_operation": {}}
    api.get(api.v2("cases/get"))
    nextsign_sandbox.reset_stats()
    assert nextsign_sandbox.stats()["requests"] == 0
