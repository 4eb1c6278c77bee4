"""Every endpoint: the exact URL, method, headers and body of nextsign-api.md, and the answer's shape."""

from __future__ import annotations

import base64
import json
from datetime import UTC

import pytest

from airflow_provider_nextsign import __version__
from airflow_provider_nextsign.api import payloads
from airflow_provider_nextsign.api.errors import NextSignInputError, NextSignNotFoundError

from .conftest import API_KEY, COMPANY, FILES, HOST, V2, V3

CASE = {"_id": "657b2ffb0965b111023fb0d1", "title": "Contract", "recipients": []}
CREATED = {"status": "OK", "message": "Contract created", "contract": CASE}
URL_DOC = "https://storage.test/a.pdf"
RECIPIENTS = [{"name": "Jane Doe", "email": "jane@example.com", "signing": True, "group": 0}]


def _headers_ok(request) -> None:
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"].startswith(f"airflow-provider-nextsign/{__version__} ")


def test_get_form(client, requests_mock):
    requests_mock.get(f"{V2}/forms/F1/get", json={"_id": "F1", "title": "Example Form", "tags": []})
    assert client.get_form("F1")["title"] == "Example Form"
    _headers_ok(requests_mock.last_request)


def test_get_form_tags_is_a_bare_array(client, requests_mock):
    tags = [{"name": "customer_name", "tag": "customer_name", "value": "", "type": "text", "_id": "t1"}]
    requests_mock.get(f"{V2}/forms/F1/tags/get", json=tags)
    assert client.get_form_tags("F1") == tags


def test_submit_form_turns_a_tag_dict_into_the_api_list(client, requests_mock):
    requests_mock.post(f"{V2}/forms/F1/submit", json=CREATED)
    case = client.submit_form(
        "F1",
        tags={"customer_name": "Jane", "price": 4500},
        recipients=RECIPIENTS,
        referenceId="ref-1",
        title="T",
    )
    assert case == CASE
    request = requests_mock.last_request
    _headers_ok(request)
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "title": "T",
        "referenceId": "ref-1",
        "tags": [
            {"tag": "customer_name", "value": "Jane", "type": "text"},
            {"tag": "price", "value": 4500, "type": "number"},
        ],
        "recipients": RECIPIENTS,
    }


def test_submit_form_accepts_the_api_tag_list(client, requests_mock):
    requests_mock.post(f"{V2}/forms/F1/submit", json={"status": "OK", "data": {"_id": "x1"}})
    tags = [{"tag": "customer_zip", "value": "8000", "type": "text"}]
    assert client.submit_form("F1", tags=tags, recipients=RECIPIENTS) == {"_id": "x1"}
    assert requests_mock.last_request.json()["tags"] == tags


def test_list_cases_pages_until_a_short_page_confirmed_by_an_empty_one(client, requests_mock):
    pages = {0: [{"_id": "a"}, {"_id": "b"}], 1: [{"_id": "c"}, {"_id": "d"}], 2: [{"_id": "e"}]}

    def answer(request, context):
        return {"status": "company_found", "cases": pages.get(int(request.qs["index"][0]), [])}

    requests_mock.get(f"{V2}/cases/get", json=answer)
    ids = [c["_id"] for c in client.list_cases(status="signed", folder="Default", page_size=2)]
    assert ids == ["a", "b", "c", "d", "e"]
    # The short page 2 ends the list only once page 3 is seen empty (a capped limit would fill it).
    assert [r.qs for r in requests_mock.request_history] == [
        {"status": ["signed"], "folder": ["default"], "limit": ["2"], "index": [str(i)]} for i in range(4)
    ]


def test_list_cases_stops_on_an_empty_page(client, requests_mock):
    requests_mock.get(f"{V2}/cases/get", json={"status": "company_found", "cases": []})
    assert list(client.list_cases()) == []
    assert requests_mock.call_count == 1
    assert requests_mock.last_request.qs == {"limit": ["100"], "index": ["0"]}


def test_get_case(client, requests_mock):
    requests_mock.get(f"{V2}/case/{CASE['_id']}/get", json={"status": "case_found", "case": CASE})
    assert client.get_case(CASE["_id"]) == CASE
    _headers_ok(requests_mock.last_request)


def test_get_case_not_found_under_http_200(client, requests_mock):
    requests_mock.get(f"{V2}/case/gone/get", json={"message": "Case not found"})
    with pytest.raises(NextSignNotFoundError, match="Case not found"):
        client.get_case("gone")


def test_get_cases_batches_ids_through_get_multiple(client, requests_mock):
    client.batch_size = 2
    requests_mock.get(
        f"{V2}/cases/a,b/get", json={"status": "cases_found", "cases": [{"_id": "a"}, {"_id": "b"}]}
    )
    requests_mock.get(f"{V2}/cases/c,d/get", status_code=404, json={"message": "Cases not found"})
    requests_mock.get(f"{V2}/cases/e/get", json={"status": "cases_found", "cases": [{"_id": "e"}]})
    found = client.get_cases(["a", "b", "c", "a", "d", "e"])  # "a" twice: asked once
    assert [c["_id"] for c in found] == ["a", "b", "e"]
    assert requests_mock.call_count == 3


def test_create_case(client, requests_mock):
    requests_mock.post(f"{V2}/case/create", json=CREATED)
    documents = [{"name": "c.pdf", "file": "JVBERi0x", "fileIsBlob": True, "signObligated": True}]
    case = client.create_case(
        title="Contract",
        recipients=RECIPIENTS,
        documents=documents,
        settings={},
        referenceId="r1",
        autoSend=True,
    )
    assert case == CASE
    body = requests_mock.last_request.json()
    assert body == {
        "title": "Contract",
        "recipients": RECIPIENTS,
        "documents": documents,
        "settings": {},
        "referenceId": "r1",
        "autoSend": True,
    }


def test_delete_case_is_a_get(client, requests_mock):
    removed = {"status": "removed", "return": {"acknowledged": True, "deletedCount": 1}}
    requests_mock.get(f"{V2}/case/c1/delete", json=removed)
    assert client.delete_case("c1") == removed
    assert requests_mock.last_request.method == "GET"


def test_delete_case_twice_is_not_found(client, requests_mock):
    requests_mock.get(f"{V2}/case/c1/delete", json={"message": "Case not found"})
    with pytest.raises(NextSignNotFoundError):
        client.delete_case("c1")


def test_upload_document_goes_to_the_files_host_as_multipart(client, requests_mock):
    url = f"https://storage.test/{COMPANY}/case/c.pdf"
    requests_mock.post(f"{V3}/upload", json={"url": url, "key": f"{COMPANY}/case/c.pdf"})
    assert client.upload_document(b"%PDF-1.4 tiny", name="c.pdf") == url
    request = requests_mock.last_request
    _headers_ok(request)
    assert request.url == f"{FILES}/v3/company/{COMPANY}/file/upload"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = request.body
    assert b'name="file"; filename="c.pdf"' in body and b"%PDF-1.4 tiny" in body
    assert b"application/pdf" in body


def test_upload_refuses_other_types_before_sending(client, requests_mock):
    with pytest.raises(NextSignInputError, match="neither a PDF nor a DOCX"):
        client.upload_document(b"hello", name="notes.txt")
    assert requests_mock.call_count == 0


def test_presigned_url(client, requests_mock):
    stored = f"https://storage.test/{COMPANY}/case/signed.pdf"
    requests_mock.post(
        f"{V3}/view-presigned-url",
        json={
            "key": f"{COMPANY}/case/signed.pdf",
            "signedUrl": stored + "?sig=1",
            "type": "application/pdf",
            "cached": True,
        },
    )
    assert client.get_presigned_url(stored) == stored + "?sig=1"
    assert requests_mock.last_request.json() == {"url": stored}


CONVERTED = {
    "status": {"code": 200, "message": "OK"},
    "documents": [{"file": "https://s/x.pdf", "name": "x.pdf"}],
}


@pytest.fixture
def fresh_convert_memory(monkeypatch):
    from airflow_provider_nextsign.api import client as client_module

    monkeypatch.setattr(client_module, "_CONVERT_VERSION_BY_HOST", {})


def test_convert_uses_productions_v1_path_with_no_company_segment(
    client, requests_mock, fresh_convert_memory
):
    requests_mock.post(f"{HOST}/api/v1/document/convert", json=CONVERTED)
    docs = client.convert_documents(
        [{"file": "https://s/x.docx", "name": "x.docx"}], tags={"customer_name": "Jane"}
    )
    assert docs == CONVERTED["documents"]
    assert [r.url for r in requests_mock.request_history] == [f"{HOST}/api/v1/document/convert"]
    assert requests_mock.last_request.json() == {
        "documents": [{"file": "https://s/x.docx", "name": "x.docx"}],
        "tags": [{"tag": "customer_name", "value": "Jane", "type": "text"}],
    }


def test_convert_falls_back_to_the_documented_v2_path_on_404_and_remembers_it(
    client, requests_mock, fresh_convert_memory
):
    requests_mock.post(f"{HOST}/api/v1/document/convert", status_code=404, json={"message": "Not Found"})
    requests_mock.post(f"{HOST}/api/v2/document/convert", json=CONVERTED)
    documents = [{"file": "https://s/x.docx", "name": "x.docx"}]
    assert client.convert_documents(documents) == CONVERTED["documents"]
    assert client.convert_documents(documents) == CONVERTED["documents"]
    paths = [r.path for r in requests_mock.request_history]
    assert paths == ["/api/v1/document/convert", "/api/v2/document/convert", "/api/v2/document/convert"]


def test_convert_does_not_fall_back_on_an_error_inside_the_answer(
    client, requests_mock, fresh_convert_memory
):
    requests_mock.post(
        f"{HOST}/api/v1/document/convert",
        json={"status": {"code": 404, "message": "documents[0].file was not found"}},
    )
    with pytest.raises(NextSignNotFoundError, match="was not found"):
        client.convert_documents([{"file": "https://s/x.docx", "name": "x.docx"}])
    assert requests_mock.call_count == 1


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_convert_api_version_pins_the_path(budget, requests_mock, fresh_convert_memory, version):
    from airflow_provider_nextsign.api.client import NextSignClient

    pinned = NextSignClient(
        COMPANY, API_KEY, host=HOST, files_host=FILES, budget=budget, convert_api_version=version
    )
    requests_mock.post(
        f"{HOST}/api/{version}/document/convert", status_code=404, json={"message": "Not Found"}
    )
    with pytest.raises(NextSignNotFoundError):
        pinned.convert_documents([{"file": "https://s/x.docx", "name": "x.docx"}])
    assert [r.path for r in requests_mock.request_history] == [f"/api/{version}/document/convert"]


def test_convert_api_version_is_checked_before_any_request(budget):
    from airflow_provider_nextsign.api.client import NextSignClient

    with pytest.raises(NextSignInputError, match="convert_api_version"):
        NextSignClient(COMPANY, API_KEY, host=HOST, budget=budget, convert_api_version="v3")


def test_stream_file_sends_no_api_key_and_spends_no_budget(client, budget, requests_mock):
    payload = b"%PDF-" + b"x" * 3000
    requests_mock.get("https://storage.test/signed.pdf?sig=1", content=payload)
    chunks = list(client.stream_file("https://storage.test/signed.pdf?sig=1", chunk_size=1024))
    assert b"".join(chunks) == payload and len(chunks) == 3
    assert "Authorization" not in requests_mock.last_request.headers
    assert budget.acquired == 0


def _list_answer(pages):
    def answer(request, context):
        status = request.qs.get("status", [None])[0]
        return {"status": "company_found", "cases": pages.get((status, int(request.qs["index"][0])), [])}

    return answer


def test_find_case_by_reference_reads_the_reference_from_list_items(client, requests_mock):
    pages = {("pending", 0): [{"_id": "a", "referenceId": "x"}, {"_id": "b", "referenceId": "r1"}]}
    requests_mock.get(f"{V2}/cases/get", json=_list_answer(pages))
    assert client.find_case_by_reference("r1") == {"_id": "b", "referenceId": "r1"}
    assert requests_mock.call_count == 1  # the first match ends the lookup


def test_find_case_by_reference_confirms_summary_items_with_case_get(client, requests_mock):
    pages = {("pending", 0): [{"_id": "a", "title": "T"}, {"_id": "b", "title": "T"}]}
    requests_mock.get(f"{V2}/cases/get", json=_list_answer(pages))
    requests_mock.get(
        f"{V2}/case/a/get", json={"status": "case_found", "case": {"_id": "a", "referenceId": "q"}}
    )
    requests_mock.get(
        f"{V2}/case/b/get", json={"status": "case_found", "case": {"_id": "b", "referenceId": "r1"}}
    )
    assert client.find_case_by_reference("r1")["_id"] == "b"
    assert [r.path.rsplit("/", 2)[-2] for r in requests_mock.request_history[1:]] == ["a", "b"]


def test_find_case_by_reference_skips_other_titles_and_older_cases_without_reading_them(
    client, requests_mock
):
    from datetime import datetime

    pages = {
        ("pending", 0): [
            {"_id": "a", "title": "Other", "createdAt": "2026-12-01T10:00:00.000Z"},
            {"_id": "b", "title": "Lease", "createdAt": "2026-11-01T10:00:00.000Z"},
            {"_id": "c", "title": "Lease", "createdAt": "2026-12-01T10:00:01.000Z"},
        ]
    }
    requests_mock.get(f"{V2}/cases/get", json=_list_answer(pages))
    requests_mock.get(
        f"{V2}/case/c/get", json={"status": "case_found", "case": {"_id": "c", "referenceId": "r1"}}
    )
    since = datetime(2026, 12, 1, 9, 50, tzinfo=UTC)
    assert client.find_case_by_reference("r1", since=since, title="Lease")["_id"] == "c"
    assert [r.path for r in requests_mock.request_history[1:]] == [f"/api/v2/{COMPANY}/case/c/get"]


def test_find_case_by_reference_says_absent_only_after_two_identical_passes_of_every_status(
    client, requests_mock
):
    pages = {
        ("pending", 0): [{"_id": "a", "referenceId": "x"}],
        ("signed", 0): [{"_id": "b", "referenceId": "y"}],
    }
    requests_mock.get(f"{V2}/cases/get", json=_list_answer(pages))
    assert client.find_case_by_reference("nope") is None
    walked = [(r.qs.get("status", [""])[0], r.qs["index"][0]) for r in requests_mock.request_history]
    # each status: page 0 (+ its confirming empty page 1 when page 0 was not empty), twice
    assert walked == [
        *[("pending", "0"), ("pending", "1")] * 2,
        *[("signed", "0"), ("signed", "1")] * 2,
        *[("denied", "0")] * 2,
    ]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.get_case("a/b"), "case_id"),
        (lambda c: c.get_case(""), "case_id"),
        (lambda c: c.get_cases(["ok", "a,b"]), r"case_ids\[1\]"),
        (lambda c: list(c.list_cases(status="done")), "status"),
        (lambda c: list(c.list_cases(page_size=0)), "page_size"),
        (lambda c: list(c.list_cases(folder="")), "folder"),
        (
            lambda c: c.submit_form(
                "F1", tags={}, recipients=[{"name": "J", "email": "j@x.dk", "type": "fax"}]
            ),
            r"recipients\[0\].type",
        ),
        (
            lambda c: c.submit_form("F1", tags={}, recipients=[{"name": "J", "type": "phone"}]),
            r"recipients\[0\].phone",
        ),
        (
            lambda c: c.submit_form("F1", tags={"when": object()}, recipients=RECIPIENTS),
            "must be text, a number",
        ),
        (lambda c: c.submit_form("F1", tags="x", recipients=RECIPIENTS), "tags"),
        (lambda c: c.submit_form("F1", tags={}, recipients=[]), "recipients"),
        (
            lambda c: c.submit_form("F1", tags={}, recipients=[{"name": "J", "email": "nope"}]),
            r"recipients\[0\].email",
        ),
        (
            lambda c: c.submit_form(
                "F1", tags={}, recipients=[{"name": "J", "email": "j@x.dk", "needsCpr": True, "cpr": "12345"}]
            ),
            r"recipients\[0\].cpr",
        ),
        (
            lambda c: c.submit_form("F1", tags={}, recipients=RECIPIENTS, signingSchemas=["mitid"]),
            "signingSchemas",
        ),
        (lambda c: c.create_case(title="", recipients=RECIPIENTS, documents=[], settings={}), "title"),
        (lambda c: c.create_case(title="T", recipients=RECIPIENTS, documents=[], settings={}), "documents"),
        (
            lambda c: c.create_case(title="T", recipients=RECIPIENTS, documents=[{"name": "a"}], settings={}),
            "documents",
        ),
        (
            lambda c: c.create_case(
                title="T", recipients=RECIPIENTS, documents=[{"name": "a", "file": URL_DOC}], settings=None
            ),
            "settings",
        ),
        (lambda c: c.get_presigned_url("signed.pdf"), "file_url"),
    ],
)
def test_bad_input_fails_before_any_request(client, requests_mock, call, field):
    with pytest.raises(NextSignInputError, match=field):
        call(client)
    assert requests_mock.call_count == 0


def test_base64_document_bodies_are_sent_as_given(client, requests_mock):
    requests_mock.post(f"{V2}/case/create", json=CREATED)
    content = base64.b64encode(b"%PDF-1.4").decode()
    client.create_case(
        title="T",
        recipients=RECIPIENTS,
        documents=[{"name": "a.pdf", "file": content, "fileIsBlob": True}],
        settings={},
    )
    assert json.loads(requests_mock.last_request.body)["documents"][0]["file"] == content


def test_host_with_api_suffix_is_normalised(budget):
    from airflow_provider_nextsign.api.client import NextSignClient

    c = NextSignClient(
        COMPANY, API_KEY, host="https://test.nextsign.dk/api/", files_host="api.test", budget=budget
    )  # type: ignore[arg-type]
    assert c.endpoints.case("x") == f"https://test.nextsign.dk/api/v2/{COMPANY}/case/x/get"
    assert c.endpoints.file_upload() == f"https://api.test/v3/company/{COMPANY}/file/upload"


def test_needs_cpr_without_cpr_is_sent_as_production_does(client, requests_mock):
    requests_mock.post(f"{V2}/forms/F1/submit", json=CREATED)
    client.submit_form("F1", tags={}, recipients=[{"name": "J", "email": "j@x.dk", "needsCpr": True}])
    assert requests_mock.last_request.json()["recipients"] == [
        {"name": "J", "email": "j@x.dk", "needsCpr": True, "signing": True}
    ]


@pytest.mark.parametrize("bad", [".", "..", " .. ", "...", "../x", "a.b", "%2e%2e", "a;b", "c1\x00", "ø"])
def test_ids_are_refused_unless_letters_digits_dash_underscore(client, requests_mock, bad):
    # urllib3 removes "." and ".." path segments: get_case("..") would reach /api/v2/{company}/get.
    calls = (client.get_case, client.delete_case, client.get_form, client.get_form_tags)
    for call in (*calls, lambda value: client.get_cases(["c1", value])):
        with pytest.raises(NextSignInputError, match=r"_id|case_ids\[1\]"):
            call(bad)
    assert requests_mock.call_count == 0


def test_object_ids_and_sandbox_style_ids_pass(client, requests_mock):
    for case_id in ("657b2ffb0965b111023fb0d1", "c1", "case_2-b"):
        requests_mock.get(f"{V2}/case/{case_id}/get", json={"case": {"_id": case_id}})
        assert client.get_case(case_id) == {"_id": case_id}


@pytest.mark.parametrize(
    ("content", "name", "mime_type", "message"),
    [
        (b"hello", "notes.pdf", None, r"'notes.pdf' is neither a PDF nor a DOCX"),
        (b"PK\x03\x04 not a zip", "offer.docx", None, "neither a PDF nor a DOCX"),
        ("zip", "offer.docx", None, "neither a PDF nor a DOCX"),
        (b"%PDF-1.7 x", "offer.pdf", payloads.DOCX_MIME, "is a PDF, but mime_type says"),
        ("docx", "offer.docx", payloads.PDF_MIME, "is a DOCX, but mime_type says"),
        (b"%PDF-1.7 x", "offer.docx", None, r"is a PDF, but its name ends in \.docx"),
        ("docx", "offer.pdf", None, r"is a DOCX, but its name ends in \.pdf"),
    ],
)
def test_upload_sniffs_the_content_before_sending(client, requests_mock, content, name, mime_type, message):
    from .conftest import docx_bytes, zip_bytes

    content = {"zip": zip_bytes(), "docx": docx_bytes()}.get(content, content)
    with pytest.raises(NextSignInputError, match=message):
        client.upload_document(content, name=name, mime_type=mime_type)
    assert requests_mock.call_count == 0


def test_upload_labels_a_docx_by_its_content(client, requests_mock):
    from .conftest import docx_bytes

    requests_mock.post(f"{V3}/upload", json={"url": "https://storage.test/offer"})
    client.upload_document(docx_bytes(), name="offer")
    assert payloads.DOCX_MIME.encode() in requests_mock.last_request.body


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (base64.b64encode(b"hello").decode(), r"documents\[0\].file: 'a.pdf' is neither a PDF nor a DOCX"),
        ("data:application/pdf;base64," + base64.b64encode(b"hi").decode(), r"documents\[0\].file"),
        ("not base64 at all!", r"documents\[0\].file is neither a stored-file URL nor base64"),
    ],
)
def test_inline_base64_documents_are_sniffed_before_sending(client, requests_mock, file, message):
    documents = [{"name": "a.pdf", "file": file, "fileIsBlob": True}]
    with pytest.raises(NextSignInputError, match=message):
        client.create_case(title="T", recipients=RECIPIENTS, documents=documents, settings={})
    assert requests_mock.call_count == 0


def test_inline_docx_and_data_url_pdf_pass(client, requests_mock):
    from .conftest import docx_bytes

    requests_mock.post(f"{V2}/case/create", json=CREATED)
    documents = [
        {"name": "a.docx", "file": base64.b64encode(docx_bytes()).decode(), "fileIsBlob": True},
        {"name": "b.pdf", "file": "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4").decode()},
        {"name": "c.pdf", "file": "https://storage.test/c.pdf"},
    ]
    client.create_case(title="T", recipients=RECIPIENTS, documents=documents, settings={})
    assert requests_mock.last_request.json()["documents"] == documents
