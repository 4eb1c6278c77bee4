"""The hook and client against the sandbox over real HTTP: two independent readings of the NextSign docs."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader

from airflow_provider_nextsign.api.cases import CaseState, case_state, signed_documents
from airflow_provider_nextsign.api.client import NextSignClient
from airflow_provider_nextsign.api.ratelimit import get_budget
from airflow_provider_nextsign.exceptions import (
    NextSignAmbiguousWriteError,
    NextSignAuthError,
    NextSignNotFoundError,
)
from airflow_provider_nextsign.hooks.nextsign import NextSignHook

# 100 requests per API minute, 600 API seconds per real second: the budget rules apply, 1 ms apart.
FAST = pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=600)
RECIPIENTS = [
    {"name": "Jane Doe", "email": "jane@example.com", "signing": True, "group": 0},
    {"name": "Bo Berg", "email": "bo@example.com", "signing": True, "group": 1},
]


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _submit(hook: NextSignHook, sandbox, reference: str = "ref-1", **tags: str) -> dict:
    values = {"customer_name": "Jane Doe", "customer_zip": "8000", **tags}
    return hook.submit_form(sandbox.form_id, tags=values, recipients=RECIPIENTS, referenceId=reference)


@FAST
def test_forms(nextsign_sandbox):
    hook = NextSignHook()
    form = hook.get_form(nextsign_sandbox.form_id)
    assert form["_id"] == nextsign_sandbox.form_id
    assert {t["tag"] for t in hook.get_form_tags(nextsign_sandbox.form_id)} >= {
        "customer_name",
        "customer_zip",
    }
    with pytest.raises(NextSignNotFoundError):
        hook.get_form("000000000000000000000000")


@FAST
def test_case_lifecycle_through_the_hook(nextsign_sandbox):
    hook = NextSignHook()
    case = _submit(hook, nextsign_sandbox)
    case_id = case["_id"]
    assert case["referenceId"] == "ref-1"
    assert case_state(hook.get_case(case_id)) is CaseState.PENDING
    assert [c["_id"] for c in hook.list_cases(status="pending")] == [case_id]
    assert list(hook.list_cases(status="signed")) == []

    nextsign_sandbox.sign(case_id)
    signed = hook.get_case(case_id)
    assert case_state(signed) is CaseState.SIGNED
    assert [c["_id"] for c in hook.list_cases(status="signed")] == [case_id]
    (document,) = signed_documents(signed)
    pdf = b"".join(hook.stream_file(hook.get_presigned_url(document["file"])))
    assert pdf.startswith(b"%PDF-")
    assert "Jane Doe" in _pdf_text(pdf)

    assert hook.delete_case(case_id)["status"] == "removed"
    with pytest.raises(NextSignNotFoundError, match="Case not found"):
        hook.get_case(case_id)
    with pytest.raises(NextSignNotFoundError):
        hook.delete_case(case_id)
    assert hook.get_cases([case_id]) == []


@FAST
def test_deny_and_expire(nextsign_sandbox):
    hook = NextSignHook()
    denied, expired = _submit(hook, nextsign_sandbox, "a")["_id"], _submit(hook, nextsign_sandbox, "b")["_id"]
    nextsign_sandbox.deny(denied)
    nextsign_sandbox.expire(expired)
    ids = [denied, expired, "000000000000000000000000"]
    assert all("recipients" not in c for c in hook.get_cases(ids))  # the docs profile: summaries
    states = {c["_id"]: case_state(c) for c in hook.get_full_cases(ids)}
    assert states == {denied: CaseState.DENIED, expired: CaseState.EXPIRED}
    assert [c["_id"] for c in hook.list_cases(status="denied")] == [denied]


@FAST
def test_paging_and_folders(nextsign_sandbox):
    ids = nextsign_sandbox.seed_cases(23, folder="Sales")
    nextsign_sandbox.seed_cases(2, folder="HR")
    hook = NextSignHook()
    assert [c["_id"] for c in hook.list_cases(folder="Sales", page_size=5)] == ids
    assert len(list(hook.list_cases(page_size=10))) == 25
    hook.get_conn().batch_size = 10
    assert sorted(c["_id"] for c in hook.get_cases(ids)) == sorted(ids)


@FAST
def test_create_case_inline_and_from_an_upload(nextsign_sandbox):
    import base64

    from nextsign_sandbox.documents import make_pdf

    hook = NextSignHook()
    pdf = make_pdf("Contract", ["Terms"])
    inline = hook.create_case(
        title="Inline",
        recipients=RECIPIENTS[:1],
        documents=[{"name": "c.pdf", "file": base64.b64encode(pdf).decode(), "fileIsBlob": True}],
        settings={},
        referenceId="inline-1",
    )
    url = hook.upload_document(pdf, name="big.pdf")
    uploaded = hook.create_case(
        title="Uploaded", recipients=RECIPIENTS[:1], documents=[{"name": "big.pdf", "file": url}], settings={}
    )
    assert {inline["title"], uploaded["title"]} == {"Inline", "Uploaded"}
    assert len(nextsign_sandbox.cases()) == 2


@FAST
def test_convert_replaces_tags_in_docx(nextsign_sandbox):
    from nextsign_sandbox.documents import demo_template_docx

    hook = NextSignHook()
    url = hook.upload_document(demo_template_docx(), name="contract.docx")
    (pdf_doc,) = hook.convert_documents(
        [{"file": url, "name": "contract.docx"}], tags={"customer_name": "Åse Ørsted", "customer_zip": 8000}
    )
    assert pdf_doc["name"].endswith(".pdf")
    text = _pdf_text(b"".join(hook.stream_file(hook.get_presigned_url(pdf_doc["file"]))))
    assert "Åse Ørsted" in text and "8000" in text and "{{" not in text


def _wrong_connections(sandbox, monkeypatch) -> None:
    conn = json.loads(sandbox.connection_json)
    monkeypatch.setenv("AIRFLOW_CONN_WRONG_KEY", json.dumps({**conn, "password": "sk-wrong"}))
    monkeypatch.setenv("AIRFLOW_CONN_WRONG_COMPANY", json.dumps({**conn, "login": "f" * 24}))


@FAST
def test_errors_are_typed(nextsign_sandbox, monkeypatch):
    conn = json.loads(nextsign_sandbox.connection_json)
    monkeypatch.setenv("AIRFLOW_CONN_WRONG_KEY", json.dumps({**conn, "password": "sk-wrong"}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_WRONG_COMPANY", json.dumps({**conn, "login": "ffffffffffffffffffffffff"})
    )
    with pytest.raises(NextSignAuthError):
        NextSignHook("wrong_key").get_case("000000000000000000000000")
    with pytest.raises(NextSignNotFoundError):
        NextSignHook("wrong_company").get_case("000000000000000000000000")


@FAST
def test_test_connection_tells_the_causes_apart(nextsign_sandbox, monkeypatch):
    conn = json.loads(nextsign_sandbox.connection_json)
    monkeypatch.setenv("AIRFLOW_CONN_WRONG_KEY", json.dumps({**conn, "password": "sk-wrong"}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_WRONG_COMPANY", json.dumps({**conn, "login": "ffffffffffffffffffffffff"})
    )
    assert NextSignHook().test_connection()[0] is True
    ok, message = NextSignHook("wrong_key").test_connection()
    assert not ok and "API key" in message
    ok, message = NextSignHook("wrong_company").test_connection()
    assert not ok and "company ID" in message
    nextsign_sandbox.stop()
    ok, message = NextSignHook().test_connection()
    assert not ok and message.startswith("Could not reach NextSign")


@FAST
@pytest.mark.parametrize("kind", ["server_error", "drop", "error_body"])
def test_reads_ride_out_injected_faults(nextsign_sandbox, kind):
    hook = NextSignHook()
    hook.get_conn().retry_policy = type(hook.get_conn().retry_policy)(backoff_initial=0.01, jitter=0.0)
    case_id = _submit(hook, nextsign_sandbox)["_id"]
    nextsign_sandbox.inject_fault("case_get", kind, count=2)
    assert hook.get_case(case_id)["_id"] == case_id


@FAST
@pytest.mark.parametrize("operation", ["forms_submit", "case_create"])
def test_lost_create_response_is_ambiguous_and_the_case_is_found_by_reference(nextsign_sandbox, operation):
    hook = NextSignHook()
    nextsign_sandbox.inject_fault(operation, "lost_response", count=1)
    with pytest.raises(NextSignAmbiguousWriteError):
        if operation == "forms_submit":
            _submit(hook, nextsign_sandbox, "lost-1")
        else:
            hook.create_case(
                title="T",
                recipients=RECIPIENTS[:1],
                documents=[{"name": "a.pdf", "file": "JVBERi0xLjQK", "fileIsBlob": True}],
                settings={},
                referenceId="lost-1",
            )
    (only,) = nextsign_sandbox.cases()
    found = hook.find_case_by_reference("lost-1")
    assert found is not None and found["_id"] == only["_id"]


@pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=600)
def test_a_loop_of_reads_within_the_budget_draws_no_429(nextsign_sandbox):
    """150 reads at the connection's budget against the sandbox's strict rolling window: zero 429s."""
    hook = NextSignHook()
    case_id = _submit(hook, nextsign_sandbox)["_id"]
    client = hook.get_conn()
    for _ in range(150):
        client.get_case(case_id)
    assert client.budget.stats["penalties"] == 0


@pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=60)
def test_an_over_eager_caller_is_throttled_and_still_succeeds(nextsign_sandbox):
    """A budget 5x the server's (as if other hosts shared the key): 429s come, Retry-After is obeyed."""
    conn = nextsign_sandbox.connection
    budget = get_budget(
        conn["host"],
        conn["login"],
        conn["password"],
        conn["extra"]["requests_per_minute"] * 5,
        cross_process=False,
    )
    client = NextSignClient(
        conn["login"], conn["password"], host=conn["host"], files_host=conn["host"], budget=budget
    )
    ids = nextsign_sandbox.seed_cases(1)
    for _ in range(250):
        assert client.get_cases(ids)[0]["_id"] == ids[0]
    assert budget.stats["penalties"] > 0
