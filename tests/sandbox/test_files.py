"""Document Upload, Retrieve (pre-signed URLs) and Convert over HTTP."""

from __future__ import annotations

import base64
import io
import time

import pytest
from pypdf import PdfReader

from nextsign_sandbox.documents import DOCX_MIME, demo_template_docx

from .conftest import RECIPIENT, SETTINGS, tiny_pdf


def _upload_json(api, data: bytes, **fields):
    return api.post(api.v3("upload"), json={"file": base64.b64encode(data).decode(), **fields})


def _pdf_text(content: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_upload_multipart(api, nextsign_sandbox):
    response = api.post(
        api.v3("upload"),
        files={"file": ("lease.pdf", tiny_pdf(), "application/pdf")},
        data={"name": "Lease 2025.pdf", "type": "application/pdf"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"url", "key", "name", "type"}
    assert body["type"] == "application/pdf" and body["name"] == "Lease 2025.pdf"
    assert body["key"].startswith(f"{nextsign_sandbox.company_id}/case/")
    assert body["url"] == f"{nextsign_sandbox.url}/storage/{body['key']}"


def test_upload_json_base64_and_data_url(api):
    raw = _upload_json(api, tiny_pdf(), name="a.pdf", type="application/pdf").json()
    data_url = "data:application/pdf;base64," + base64.b64encode(tiny_pdf()).decode()
    from_data_url = api.post(api.v3("upload"), json={"file": data_url, "name": "b.pdf"}).json()
    docx = _upload_json(api, demo_template_docx(), name="t.docx", type=DOCX_MIME).json()
    assert (raw["type"], from_data_url["type"], docx["type"]) == (
        "application/pdf",
        "application/pdf",
        DOCX_MIME,
    )
    assert raw["url"] != from_data_url["url"]
    # an uploaded file works as documents[].file of Case Create
    contract = api.create(documents=[{"name": "a.pdf", "file": raw["url"]}])
    assert contract["documents"][0]["file"] == raw["url"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"name": "a.pdf", "type": "application/pdf"}, "missing-file"),
        ({"file": base64.b64encode(b"%PDF-1.4 x").decode(), "type": "application/pdf"}, "missing-name"),
        ({"file": base64.b64encode(b"%PDF-1.4 x").decode(), "name": "a.pdf"}, "missing-type"),
        (
            {"file": base64.b64encode(b"hello").decode(), "name": "a.txt", "type": "text/plain"},
            "invalid-type",
        ),
        (
            {"file": base64.b64encode(b"hello").decode(), "name": "a.pdf", "type": "application/pdf"},
            "invalid-type",
        ),
        (
            {"file": base64.b64encode(b"%PDF-1.4 x").decode(), "name": "a.docx", "type": DOCX_MIME},
            "invalid-type",
        ),
        ({"file": "!!not base64!!", "name": "a.pdf", "type": "application/pdf"}, "invalid-file"),
    ],
)
def test_upload_errors(api, body, error):
    response = api.post(api.v3("upload"), json=body)
    assert (response.status_code, response.json()) == (400, {"error": error})


def test_upload_size_limit(api, nextsign_sandbox):
    nextsign_sandbox.configure(max_upload_bytes=2000)
    big = tiny_pdf() + b"\n%" + b"x" * 2000
    response = _upload_json(api, big, name="big.pdf", type="application/pdf")
    assert (response.status_code, response.json()) == (413, {"error": "file-too-large"})
    multipart = api.post(api.v3("upload"), files={"file": ("big.pdf", big, "application/pdf")})
    assert multipart.status_code == 413
    assert _upload_json(api, tiny_pdf(), name="ok.pdf", type="application/pdf").status_code == 200


def test_presigned_url_is_served_cached_and_guarded(api):
    stored = _upload_json(api, tiny_pdf(), name="a.pdf", type="application/pdf").json()
    first = api.post(api.v3("view-presigned-url"), json={"url": stored["url"]}).json()
    assert (first["key"], first["type"], first["cached"]) == (stored["key"], "application/pdf", False)
    again = api.post(api.v3("view-presigned-url"), json={"url": stored["url"]}).json()
    assert (again["signedUrl"], again["cached"]) == (first["signedUrl"], True)
    download = api.session.get(first["signedUrl"])  # no Authorization header needed
    assert (download.status_code, download.content) == (200, tiny_pdf())
    assert download.headers["content-type"] == "application/pdf"
    assert api.session.get(stored["url"]).status_code == 403  # the stored URL itself is not public
    tampered = first["signedUrl"].replace("sig=", "sig=0")
    assert api.session.get(tampered).json() == {"error": "invalid-signature"}


@pytest.mark.nextsign_sandbox(time_scale=36000)  # the 3600 API-second TTL lasts 0.1 s
def test_presigned_url_expires(api):
    stored = _upload_json(api, tiny_pdf(), name="a.pdf", type="application/pdf").json()
    first = api.post(api.v3("view-presigned-url"), json={"url": stored["url"]}).json()
    time.sleep(0.15)
    response = api.session.get(first["signedUrl"])
    assert (response.status_code, response.json()) == (403, {"error": "expired"})
    fresh = api.post(api.v3("view-presigned-url"), json={"url": stored["url"]}).json()
    assert fresh["cached"] is False and fresh["signedUrl"] != first["signedUrl"]
    assert api.session.get(fresh["signedUrl"]).status_code == 200


def test_presigned_url_errors(api):
    missing = api.post(api.v3("view-presigned-url"), json={})
    assert (missing.status_code, missing.json()) == (400, {"error": "missing-url"})
    unknown = api.post(
        api.v3("view-presigned-url"), json={"url": f"{api.url}/storage/{api.company}/case/x.pdf"}
    )
    assert (unknown.status_code, unknown.json()) == (404, {"error": "file-not-found"})


def test_convert_docx_with_tags_and_pdf_passthrough(api):
    docx = _upload_json(api, demo_template_docx(), name="Contract.docx", type=DOCX_MIME).json()
    pdf = _upload_json(api, tiny_pdf(), name="Annex.pdf", type="application/pdf").json()
    response = api.post(
        f"{api.url}/api/v2/document/convert",
        json={
            "tags": [
                {"tag": "customer_name", "value": "Holm Bryghus ApS", "type": "text"},
                {"tag": "customer_zip", "value": 2100, "type": "number"},
            ],
            "documents": [
                {"file": docx["url"], "name": "Contract Agreement"},
                {"file": pdf["url"], "name": "Annex.pdf"},
            ],
        },
    )
    body = response.json()
    assert (response.status_code, body["status"]) == (200, {"code": 200, "message": "OK"})
    assert [d["name"] for d in body["documents"]] == ["Contract Agreement.pdf", "Annex.pdf"]
    urls = [
        api.post(api.v3("view-presigned-url"), json={"url": d["file"]}).json()["signedUrl"]
        for d in body["documents"]
    ]
    converted = api.session.get(urls[0]).content
    text = _pdf_text(converted)
    assert "Holm Bryghus ApS" in text and "2100" in text and "{{" not in text
    assert api.session.get(urls[1]).content == tiny_pdf()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing documents"),
        ({"documents": [{"name": "x"}]}, "Missing documents[0].file"),
        ({"documents": [{"file": "https://elsewhere.example/x.docx"}]}, "not found"),
        ({"documents": [{"file": "x"}], "tags": "nope"}, "tags"),
    ],
)
def test_convert_errors(api, body, message):
    response = api.post(f"{api.url}/api/v2/document/convert", json=body)
    assert response.status_code == 400
    assert response.json()["status"]["code"] == 400 and message in response.json()["status"]["message"]


def test_case_create_with_a_docx_document(api):
    contract = api.create(
        title="Docx",
        settings=SETTINGS,
        recipients=[RECIPIENT],
        documents=[
            {"name": "t.docx", "file": base64.b64encode(demo_template_docx()).decode(), "fileIsBlob": True}
        ],
    )
    assert contract["documents"][0]["name"] == "t.docx"
