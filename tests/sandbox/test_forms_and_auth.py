"""Forms Get / Tags / Submit, Bearer auth and company scoping."""

from __future__ import annotations

import pytest

from .conftest import RECIPIENT

UNAUTHORIZED = {"errors": [{"code": 401, "message": "Unauthorized", "description": "Bearer token not found"}]}


def _submit_body(**fields):
    return {
        "tags": [
            {"tag": "customer_name", "value": "Holm Bryghus", "type": "text"},
            {"tag": "customer_zip", "value": "2100", "type": "text"},
        ],
        "recipients": [RECIPIENT],
        **fields,
    }


def test_forms_get_returns_the_raw_form(api, nextsign_sandbox):
    form = api.get(api.v2(f"forms/{nextsign_sandbox.form_id}/get")).json()
    assert form["_id"] == nextsign_sandbox.form_id
    assert form["companyId"] == nextsign_sandbox.company_id
    assert (form["folder"], form["active"]) == ("Default", True)
    assert set(form["settings"]) >= {"deletion", "availability", "reminders", "allowAPI"}
    assert [t["tag"] for t in form["tags"]] == ["customer_name", "customer_zip"]
    assert form["documents"][0]["name"].endswith(".docx")


def test_forms_tags_is_a_bare_array(api, nextsign_sandbox):
    tags = api.get(api.v2(f"forms/{nextsign_sandbox.form_id}/tags/get")).json()
    assert isinstance(tags, list)
    assert [{k: t[k] for k in ("name", "tag", "value", "type")} for t in tags] == [
        {"name": "customer_name", "tag": "customer_name", "value": "", "type": "text"},
        {"name": "customer_zip", "tag": "customer_zip", "value": "", "type": "text"},
    ]
    assert all(len(t["_id"]) == 24 for t in tags)


def test_unknown_form(api):
    response = api.get(api.v2("forms/65f493fb52bb6d8baa5d16af/get"))
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"code": 400, "message": "Bad Request", "description": "Form not found"}]
    }
    tags = api.get(api.v2("forms/65f493fb52bb6d8baa5d16af/tags/get"))
    assert tags.json()["errors"][0]["description"] == "Company not found"


def test_submit_creates_a_case_with_the_rendered_document(api, nextsign_sandbox):
    response = api.post(
        api.v2(f"forms/{nextsign_sandbox.form_id}/submit"),
        json=_submit_body(
            referenceId="ORDER-7", title="Offer", recipients=[{**RECIPIENT, "redirectUrl": "https://x.dk"}]
        ),
    )
    body = response.json()
    assert (response.status_code, body["status"], body["message"]) == (200, "OK", "Contract created")
    contract = body["contract"]
    assert (contract["referenceId"], contract["title"]) == ("ORDER-7", "Offer")
    assert contract["recipients"][0]["redirectUrl"] == "https://x.dk"
    assert contract["documents"][0]["name"].endswith(".pdf")
    assert api.case(contract["_id"])["case"]["_id"] == contract["_id"]
    # the rendered PDF carries the tag values
    signed = api.post(api.v3("view-presigned-url"), json={"url": contract["documents"][0]["file"]}).json()
    import io

    from pypdf import PdfReader

    text = "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(api.get(signed["signedUrl"]).content)).pages
    )
    assert "Holm Bryghus" in text and "2100" in text


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"recipients": [RECIPIENT]}, "Missing tags"),
        (_submit_body(recipients=None), "Missing recipients"),
        (_submit_body(tags=[{"tag": "customer_name", "value": "x"}]), "Missing tag: customer_zip"),
        (_submit_body(recipients=[{**RECIPIENT, "needsCpr": True, "cpr": "not a cpr"}]), "cpr"),
        (_submit_body(signingSchemas=["nope"]), "Invalid signingSchema: nope"),
        (
            _submit_body(
                tags=[
                    {"tag": "customer_name", "value": "x"},
                    {"tag": "customer_zip", "value": "y", "type": "number"},
                ]
            ),
            "number",
        ),
    ],
)
def test_submit_validation(api, nextsign_sandbox, body, description):
    body = {k: v for k, v in body.items() if v is not None}
    response = api.post(api.v2(f"forms/{nextsign_sandbox.form_id}/submit"), json=body)
    assert response.status_code == 400
    assert any(description in e["description"] for e in response.json()["errors"]), response.json()
    assert nextsign_sandbox.cases() == []


def test_missing_bearer_is_401_with_the_documented_body(api, nextsign_sandbox):
    for url in (
        api.v2(f"forms/{nextsign_sandbox.form_id}/get"),
        api.v2("cases/get"),
        api.v2("case/657b2ffb0965b111023fb0d1/get"),
        f"{api.url}/_sandbox/cases",
    ):
        response = api.session.get(url)
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    response = api.session.post(f"{api.url}/api/v2/document/convert", json={})
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_wrong_key_is_401(api):
    response = api.get(api.v2("cases/get"), headers={"Authorization": "Bearer not-the-key"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["description"] == "Invalid API key"


def test_foreign_company_is_a_flat_400(api):
    response = api.get(api.url + "/api/v2/6576e19662ec13c4faa7de7b/cases/get", headers=api.auth)
    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": "Bad Request", "description": "Company not found"}
    upload = api.post(api.url + "/v3/company/6576e19662ec13c4faa7de7b/file/upload", json={})
    assert upload.json()["description"] == "Company not found"
