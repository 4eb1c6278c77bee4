"""Case lifecycle: on-demand control (Python and HTTP), the signing simulator, group order, deny, expire."""

from __future__ import annotations

import io
import time

import pytest
from pypdf import PdfReader

from .conftest import RECIPIENT

TWO_GROUPS = [
    {"name": "First", "email": "first@example.com", "signing": True, "group": 0},
    {"name": "Copy", "email": "copy@example.com", "signing": False, "group": 0},
    {"name": "Second", "email": "second@example.com", "signing": True, "group": 1},
]


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_sign_on_demand_produces_a_downloadable_signed_pdf(api, nextsign_sandbox):
    contract = api.create(referenceId="R-9")
    time.sleep(0.01)
    signed = nextsign_sandbox.sign(contract["_id"])
    case = api.case(contract["_id"])["case"]
    assert case == signed
    assert case["recipients"][0]["signed"] == "signed"
    assert case["recipients"][0]["signedDateAndTime"]
    assert case["updatedAt"] > contract["updatedAt"]
    [document] = case["signedDocuments"]
    assert set(document) == {"name", "file"} and document["name"].endswith(".pdf")
    url = api.post(api.v3("view-presigned-url"), json={"url": document["file"]}).json()["signedUrl"]
    pdf = api.session.get(url).content
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert contract["_id"] in text and "R-9" in text


def test_sign_one_recipient_respects_group_order(api, nextsign_sandbox):
    case_id = api.create(recipients=TWO_GROUPS)["_id"]
    too_early = api.control(f"cases/{case_id}/sign", recipient="second@example.com")
    assert too_early.status_code == 409
    first = api.control(f"cases/{case_id}/sign", recipient="first@example.com").json()["case"]
    assert [r["signed"] for r in first["recipients"]] == ["signed", "pending", "pending"]
    assert first["signedDocuments"] == []
    done = api.control(f"cases/{case_id}/sign", recipient=2).json()["case"]
    assert [r["signed"] for r in done["recipients"]] == ["signed", "pending", "signed"]
    assert done["signedDocuments"]
    assert api.get(api.v2("cases/get"), params={"status": "signed"}).json()["cases"][0]["_id"] == case_id


def test_deny_and_expire(api, nextsign_sandbox):
    denied, expired = api.create()["_id"], api.create()["_id"]
    case = api.control(f"cases/{denied}/deny").json()["case"]
    assert case["recipients"][0]["signed"] == "denied"
    assert api.control(f"cases/{denied}/sign").status_code == 409
    case = api.control(f"cases/{expired}/expire").json()["case"]
    assert case["settings"]["availability"]["isExpired"] is True
    assert case["case_status"] == "expired"
    assert api.get(api.v2("cases/get"), params={"status": "pending"}).json()["cases"] == []
    assert api.control("cases/657b2ffb0965b111023fb0d1/sign").status_code == 404


@pytest.mark.nextsign_sandbox(sign_after=0.05)
def test_simulator_signs_groups_in_order(api, nextsign_sandbox):
    case_id = api.create(recipients=TWO_GROUPS)["_id"]
    case = _wait_for(lambda: (c := api.case(case_id)["case"])["signedDocuments"] and c)
    first, second = case["recipients"][0], case["recipients"][2]
    assert first["signedDateAndTime"] < second["signedDateAndTime"]
    assert case["recipients"][1]["signed"] == "pending"  # receive-only never signs


@pytest.mark.nextsign_sandbox(sign_after=0.05, outcome="deny")
def test_simulator_can_deny(api):
    case_id = api.create()["_id"]
    _wait_for(lambda: api.case(case_id)["case"]["recipients"][0]["signed"] == "denied")


def test_configure_switches_the_simulator_on_for_pending_cases(api, nextsign_sandbox):
    case_id = api.create()["_id"]
    time.sleep(0.1)
    assert api.case(case_id)["case"]["recipients"][0]["signed"] == "pending"  # on demand only
    assert api.control("config", sign_after=0.05, outcome="expire").json()["outcome"] == "expire"
    _wait_for(lambda: api.case(case_id)["case"]["settings"]["availability"]["isExpired"])


@pytest.mark.nextsign_sandbox(profile="production")  # its list items carry referenceId
def test_seed_over_http_and_python(api, nextsign_sandbox):
    ids = api.control("seed", count=3, status="signed", folder="Seeded", reference_prefix="S-").json()[
        "case_ids"
    ]
    cases = api.get(api.v2("cases/get"), params={"folder": "Seeded", "status": "signed"}).json()["cases"]
    assert [c["_id"] for c in cases] == ids
    assert [c["referenceId"] for c in cases] == ["S-1", "S-2", "S-3"]
    more = nextsign_sandbox.seed_cases(2, recipients=[RECIPIENT])
    assert [c["_id"] for c in nextsign_sandbox.cases()] == ids + more
    assert api.control("seed", count=1, status="weird").status_code == 400
    listed = api.get(f"{api.url}/_sandbox/cases").json()
    assert listed["status"][ids[0]] == "signed" and listed["status"][more[0]] == "pending"


def test_config_rejects_unknown_settings(api):
    response = api.control("config", colour="blue")
    assert response.status_code == 400 and "colour" in response.json()["message"]


@pytest.mark.nextsign_sandbox(time_scale=864000)  # one API day passes in 0.1 s
def test_cases_expire_after_their_availability_days(api, nextsign_sandbox, receiver):
    url, received = receiver
    nextsign_sandbox.add_webhook(url, ["case.expiry.7days", "case.expiry.expired"])
    limited = api.create(settings={"availability": {"unlimited": False, "days": 8}})["_id"]
    unlimited = api.create(settings={"availability": {"unlimited": True, "days": 1}})["_id"]
    case = _wait_for(lambda: (c := api.case(limited)["case"])["settings"]["availability"]["isExpired"] and c)
    assert case["case_status"] == "expired"
    assert (time.time() - case_created(case)) >= 0.8
    _wait_for(lambda: len(received) == 2)
    assert [r["body"]["trigger"] for r in received] == ["case.expiry.7days", "case.expiry.expired"]
    assert api.case(unlimited)["case"]["settings"]["availability"]["isExpired"] is False
    nextsign_sandbox.configure(auto_expire=False)
    never = api.create(settings={"availability": {"unlimited": False, "days": 1}})["_id"]
    time.sleep(0.2)
    assert api.case(never)["case"]["settings"]["availability"]["isExpired"] is False


def case_created(case):
    from datetime import datetime

    return datetime.strptime(case["createdAt"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
