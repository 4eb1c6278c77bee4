"""Case List, Get, Get Multiple, Create and Delete over HTTP, with the documented shapes and errors."""

from __future__ import annotations

import re

import pytest

from .conftest import RECIPIENT, SETTINGS, pdf_b64

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")


def test_create_returns_the_full_case(api):
    contract = api.create(
        referenceId="ORDER-1",
        folder="Leases",
        signingSchemas=["draw"],
        recipients=[{**RECIPIENT, "redirectUrl": "https://example.com/done", "order": 2}],
    )
    assert HEX24.match(contract["_id"])
    assert contract["nextSignKey"] and contract["nextSignKey"] != contract["_id"]
    assert (contract["referenceId"], contract["folder"], contract["type"]) == (
        "ORDER-1",
        "Leases",
        "Simple sign",
    )
    assert ISO.match(contract["createdAt"]) and ISO.match(contract["updatedAt"])
    assert contract["settings"]["availability"] == {"unlimited": True, "days": 10, "isExpired": False}
    recipient = contract["recipients"][0]
    assert recipient["signed"] == "pending" and recipient["signedDateAndTime"] is None
    assert recipient["redirectUrl"] == "https://example.com/done"
    assert (recipient["group"], recipient["order"]) == (2, 2)  # order is the legacy alias of group
    assert contract["documents"][0]["name"] == "lease.pdf"
    assert contract["signedDocuments"] == []
    assert api.case(contract["_id"]) == {"status": "case_found", "case": contract}


def test_create_twice_makes_two_cases(api):
    """NextSign has no idempotency: identical creates are two cases."""
    first, second = api.create(referenceId="R"), api.create(referenceId="R")
    assert first["_id"] != second["_id"]


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"title": None}, "Missing title"),
        ({"settings": None}, "Missing settings"),
        ({"recipients": None}, "Missing recipients"),
        ({"documents": None}, "Missing documents"),
        (
            {"recipients": [{**RECIPIENT, "needsCpr": True, "cpr": "01019O1234"}]},
            "Invalid recipients[0].cpr",
        ),
        ({"signingSchemas": ["face-id"]}, "Invalid signingSchema: face-id"),
        ({"recipients": [{**RECIPIENT, "signingSchema": "x"}]}, "Invalid recipients[0].signingSchema: x"),
        (
            {"recipients": [{**RECIPIENT, "signing": False}]},
            "At least one recipient must have signing set to true",
        ),
        ({"documents": [{"name": "a.txt", "file": "aGVsbG8=", "fileIsBlob": True}]}, "PDF or DOCX"),
        ({"documents": [{"name": "a.pdf", "file": "https://elsewhere.example/a.pdf"}]}, "upload it first"),
    ],
)
def test_create_validation_errors(api, change, description):
    body = {
        "title": "Lease",
        "settings": SETTINGS,
        "recipients": [RECIPIENT],
        "documents": [{"name": "a.pdf", "file": pdf_b64(), "fileIsBlob": True}],
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = api.post(api.v2("case/create"), json=body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0]["code"] == 400 and errors[0]["message"] == "Bad Request"
    assert any(description in e["description"] for e in errors), errors
    assert api.get(api.v2("cases/get")).json()["cases"] == []


def test_needs_cpr_without_cpr_is_accepted_as_production_sends_it(api):
    contract = api.create(recipients=[{**RECIPIENT, "needsCpr": True}])
    assert contract["recipients"][0]["needsCpr"] is True


def test_cpr_given_when_needed_is_accepted_and_not_echoed(api):
    contract = api.create(recipients=[{**RECIPIENT, "needsCpr": True, "cpr": "0101901234"}])
    assert contract["recipients"][0]["needsCpr"] is True
    assert "cpr" not in contract["recipients"][0]


def test_case_get_unknown_is_http_200_with_a_message(api):
    response = api.get(api.v2("case/657b2ffb0965b111023fb0d1/get"))
    assert (response.status_code, response.json()) == (200, {"message": "Case not found"})


def test_strict_http_errors_answers_404(api, nextsign_sandbox):
    nextsign_sandbox.configure(strict_http_errors=True)
    for path in ("case/657b2ffb0965b111023fb0d1/get", "case/657b2ffb0965b111023fb0d1/delete"):
        response = api.get(api.v2(path))
        assert (response.status_code, response.json()) == (404, {"message": "Case not found"})


def test_list_items_order_filters_and_paging(api, nextsign_sandbox):
    ids = [
        api.create(title=f"C{i}", referenceId=f"R{i}", folder="A" if i % 2 else "B")["_id"] for i in range(5)
    ]
    nextsign_sandbox.sign(ids[1])
    nextsign_sandbox.deny(ids[2])
    body = api.get(api.v2("cases/get")).json()
    assert body["status"] == "company_found"
    assert [c["_id"] for c in body["cases"]] == ids
    # The docs profile (default) lists the documented summary items.
    assert set(body["cases"][0]) == {"_id", "title", "folder", "createdAt", "updatedAt"}

    def listed(**params):
        return [c["_id"] for c in api.get(api.v2("cases/get"), params=params).json()["cases"]]

    assert listed(status="signed") == [ids[1]]
    assert listed(status="denied") == [ids[2]]
    assert listed(status="pending") == [ids[0], ids[3], ids[4]]
    assert listed(folder="A") == [ids[1], ids[3]]
    assert listed(status="pending", folder="B") == [ids[0], ids[4]]
    assert listed(limit=2, index=0) == ids[:2]
    assert listed(limit=2, index=2) == ids[4:]
    assert listed(limit=2, index=3) == []


def test_list_rejects_an_unknown_status(api):
    response = api.get(api.v2("cases/get"), params={"status": "expired"})
    assert response.status_code == 400
    assert "signed, denied, pending" in response.json()["errors"][0]["description"]


def test_list_default_limit_is_100(api, nextsign_sandbox):
    nextsign_sandbox.seed_cases(101)
    assert len(api.get(api.v2("cases/get")).json()["cases"]) == 100
    assert len(api.get(api.v2("cases/get"), params={"index": 1}).json()["cases"]) == 1


def test_get_multiple_found_partial_and_none(api):
    a, b = api.create()["_id"], api.create()["_id"]
    missing = "657b2ffb0965b111023fb0d1"
    body = api.get(api.v2(f"cases/{a},{missing},{b}/get")).json()
    assert body["status"] == "cases_found"
    assert [c["_id"] for c in body["cases"]] == [a, b]
    assert set(body["cases"][0]) == {"_id", "title", "createdAt", "updatedAt"}  # the docs' summaries
    response = api.get(api.v2(f"cases/{missing}/get"))
    assert (response.status_code, response.json()) == (404, {"message": "Cases not found"})


def test_delete_is_a_get_and_a_second_delete_is_not_found(api):
    case_id = api.create()["_id"]
    first = api.get(api.v2(f"case/{case_id}/delete"))
    assert first.json() == {"status": "removed", "return": {"acknowledged": True, "deletedCount": 1}}
    assert api.get(api.v2(f"case/{case_id}/delete")).json() == {"message": "Case not found"}
    assert api.case(case_id) == {"message": "Case not found"}
    assert api.get(api.v2(f"cases/{case_id}/get")).status_code == 404


def test_delete_without_id_is_the_documented_error(api):
    response = api.get(api.v2("case//delete"))
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"code": 400, "message": "Bad Request", "description": "Missing case id"}]
    }


def test_invalid_json_body_is_a_400(api):
    response = api.post(
        api.v2("case/create"), data=b"{nope", headers={**api.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["description"] == "Body must be valid JSON"
