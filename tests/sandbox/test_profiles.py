"""The sandbox's answer profiles (docs, production, rich) and the late_write fault, over raw HTTP."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from .conftest import RECIPIENT, SETTINGS, pdf_b64

SUMMARY_LIST = {"_id", "title", "folder", "createdAt", "updatedAt"}
SUMMARY_MULTIPLE = {"_id", "title", "createdAt", "updatedAt"}


def _create(api, **fields):
    body = {
        "title": "Lease",
        "settings": SETTINGS,
        "recipients": [RECIPIENT],
        "documents": [
            {"name": "lease.pdf", "file": pdf_b64(), "fileIsBlob": True, "signObligated": True},
            {"name": "terms.pdf", "file": pdf_b64(), "fileIsBlob": True, "signObligated": False},
        ],
        **fields,
    }
    response = api.post(api.v2("case/create"), json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_docs_profile_answers_the_documented_shapes(api, nextsign_sandbox):
    answer = _create(api, referenceId="R1")
    assert set(answer) == {"status", "message", "contract"} and answer["status"] == "OK"
    case_id = answer["contract"]["_id"]
    (item,) = api.get(api.v2("cases/get")).json()["cases"]
    assert set(item) == SUMMARY_LIST
    (multiple,) = api.get(api.v2(f"cases/{case_id}/get")).json()["cases"]
    assert set(multiple) == SUMMARY_MULTIPLE
    assert api.get(api.v2(f"case/{case_id}/get")).json()["case"]["recipients"]  # Case Get is full
    assert nextsign_sandbox.configure()["profile"] == "docs"


@pytest.mark.nextsign_sandbox(profile="production", visibility_delay=0.5)
def test_production_profile_answers_as_production_was_seen(api, nextsign_sandbox):
    answer = _create(api, referenceId="R1")
    assert set(answer) == {"data"}
    assert set(answer["data"]) == {"_id", "nextSignKey", "title", "referenceId"}
    case_id = answer["data"]["_id"]

    # Invisible to every read right after the create: Case Get answers 404 (P8), lists leave it out.
    missing = api.get(api.v2(f"case/{case_id}/get"))
    assert (missing.status_code, missing.json()) == (404, {"message": "Case not found"})
    assert api.get(api.v2("cases/get")).json()["cases"] == []
    assert api.get(api.v2(f"cases/{case_id}/get")).status_code == 404
    assert [c["_id"] for c in nextsign_sandbox.cases()] == [case_id]  # it exists all the same

    time.sleep(0.6)
    (item,) = api.get(api.v2("cases/get")).json()["cases"]
    assert set(item) == SUMMARY_LIST | {"nextSignKey", "referenceId"}
    assert api.get(api.v2(f"case/{case_id}/get")).status_code == 200

    # Only the sign-obligated document gets a signed copy (P4); expiry leaves case_status null (P3).
    signed = nextsign_sandbox.sign(case_id)
    assert [d["name"] for d in signed["signedDocuments"]] == ["lease.pdf"]
    other = _create(api)["data"]["_id"]
    time.sleep(0.6)
    expired = nextsign_sandbox.expire(other)
    assert expired["settings"]["availability"]["isExpired"] is True
    assert expired.get("case_status") is None


def test_docs_profile_signs_every_document_and_marks_expired_cases(api, nextsign_sandbox):
    case_id = _create(api)["contract"]["_id"]
    assert [d["name"] for d in nextsign_sandbox.sign(case_id)["signedDocuments"]] == [
        "lease.pdf",
        "terms.pdf",
    ]
    other = _create(api)["contract"]["_id"]
    assert nextsign_sandbox.expire(other)["case_status"] == "expired"


@pytest.mark.nextsign_sandbox(profile="rich")
def test_rich_profile_lists_full_cases(api):
    case_id = _create(api, referenceId="R1")["contract"]["_id"]
    (item,) = api.get(api.v2("cases/get")).json()["cases"]
    assert item["recipients"] and item["referenceId"] == "R1"
    (multiple,) = api.get(api.v2(f"cases/{case_id}/get")).json()["cases"]
    assert multiple["recipients"]


@pytest.mark.parametrize(
    ("profile", "served", "refused"),
    [("docs", "v2", "v1"), ("production", "v1", "v2")],
)
def test_convert_is_served_on_the_profiles_path(api, nextsign_sandbox, profile, served, refused):
    nextsign_sandbox.configure(profile=profile)
    stored = api.post(api.v3("upload"), json={"file": pdf_b64(), "name": "a.pdf", "type": "application/pdf"})
    body = {"documents": [{"file": stored.json()["url"], "name": "a.pdf"}]}
    assert api.post(f"{api.url}/api/{served}/document/convert", json=body).json()["status"]["code"] == 200
    refused_answer = api.post(f"{api.url}/api/{refused}/document/convert", json=body)
    assert refused_answer.status_code == 404


def test_config_switches_profiles_and_single_settings(api, nextsign_sandbox):
    settings = api.control("config", profile="production").json()
    assert (settings["profile"], settings["create_answer"], settings["visibility_delay"]) == (
        "production",
        "data",
        3.0,
    )
    settings = api.control("config", visibility_delay=0, multiple_items="full").json()
    assert (settings["profile"], settings["visibility_delay"], settings["multiple_items"]) == (
        "production",
        0.0,
        "full",
    )
    bad = api.control("config", profile="staging")
    assert bad.status_code == 400 and "docs, production, rich" in bad.json()["message"]
    assert api.control("config", list_items="everything").status_code == 400


@pytest.mark.parametrize("operation", ["case_create", "forms_submit"])
def test_late_write_applies_after_its_seconds_and_never_answers(api, nextsign_sandbox, operation):
    nextsign_sandbox.inject_fault(operation, "late_write", seconds=0.5)
    if operation == "case_create":
        url, body = (
            api.v2("case/create"),
            {
                "title": "Lease",
                "settings": SETTINGS,
                "recipients": [RECIPIENT],
                "documents": [{"name": "a.pdf", "file": pdf_b64(), "fileIsBlob": True}],
                "referenceId": "LATE",
            },
        )
    else:
        form = nextsign_sandbox.form_id
        url = api.v2(f"forms/{form}/submit")
        body = {
            "tags": [{"tag": "customer_name", "value": "x"}, {"tag": "customer_zip", "value": "1"}],
            "recipients": [RECIPIENT],
            "referenceId": "LATE",
        }
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.session.post(url, json=body, headers=api.auth, timeout=1.5)
    assert time.monotonic() - started >= 1.5
    cases = nextsign_sandbox.cases()
    assert [c["referenceId"] for c in cases] == ["LATE"]  # applied meanwhile, once
    assert cases[0]["createdAt"]


def test_late_write_is_only_for_creates(nextsign_sandbox):
    with pytest.raises(ValueError, match="late_write applies to creates"):
        nextsign_sandbox.inject_fault("case_get", "late_write")


def test_cli_profile_option(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nextsign_sandbox",
            "--profile",
            "production",
            "--visibility-delay",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        import json

        first = json.loads(proc.stdout.readline())
        conn = first["connection"]
        config = requests.get(
            f"{conn['host']}/_sandbox/config",
            headers={"Authorization": f"Bearer {conn['password']}"},
            timeout=10,
        ).json()
        assert (config["profile"], config["visibility_delay"], config["create_answer"]) == (
            "production",
            0.0,
            "data",
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
