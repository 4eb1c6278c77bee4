"""NextSignCreateCaseOperator (documents inline vs uploaded, any storage) and NextSignDeleteCaseOperator."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_nextsign.api.payloads import DOCX_MIME
from airflow_provider_nextsign.operators.cases import (
    INLINE_LIMIT_BYTES,
    NextSignCreateCaseOperator,
    NextSignDeleteCaseOperator,
)

from .conftest import COMPANY, FILES, HOST, make_context

pytestmark = pytest.mark.usefixtures("nextsign_connection")
V2 = f"{HOST}/api/v2/{COMPANY}"
CREATE_URL = f"{V2}/case/create"
LIST_URL = f"{V2}/cases/get"
UPLOAD_URL = f"{FILES}/v3/company/{COMPANY}/file/upload"
RECIPIENTS = [{"name": "Jane Doe", "email": "jane@example.com"}]
PDF = b"%PDF-1.4\n" + b"x" * 100


def _context(**kwargs):
    return make_context(**{"dag_id": "leases", "task_id": "create", **kwargs})


def _created(case_id: str) -> dict:
    return {"status": "OK", "message": "Contract created", "contract": {"_id": case_id}}


def test_small_documents_go_inline_from_path_storage_path_and_bytes(requests_mock, tmp_path):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    (tmp_path / "lease.pdf").write_bytes(PDF)
    (tmp_path / "terms.pdf").write_bytes(PDF + b"terms")
    create = requests_mock.post(CREATE_URL, json=_created("c1"))
    context = _context()
    op = NextSignCreateCaseOperator(
        task_id="create",
        title="Lease",
        recipients=RECIPIENTS,
        documents=[
            str(tmp_path / "lease.pdf"),
            ObjectStoragePath(f"file://{tmp_path}/terms.pdf"),
            {"content": b"%PDF-1.4 annex", "name": "annex.pdf", "signObligated": False},
        ],
    )
    assert op.execute(context) == "c1"

    body = create.last_request.json()
    assert [d["name"] for d in body["documents"]] == ["lease.pdf", "terms.pdf", "annex.pdf"]
    assert all(d["fileIsBlob"] is True for d in body["documents"])
    assert base64.b64decode(body["documents"][1]["file"]) == PDF + b"terms"
    assert [d["signObligated"] for d in body["documents"]] == [True, True, False]
    assert body["referenceId"] == "airflow:leases:create:manual__1"
    assert body["settings"]["availability"]["days"] == 14
    assert context["ti"].xcom["nextsign_case_id"] == "c1"
    assert not requests_mock.request_history[0].url.startswith(FILES)


def test_documents_over_3_5_mb_are_uploaded_first(requests_mock, tmp_path):
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-" + b"0" * (INLINE_LIMIT_BYTES - 4))
    upload = requests_mock.post(UPLOAD_URL, json={"url": f"https://store.test/{COMPANY}/case/big.pdf"})
    create = requests_mock.post(CREATE_URL, json=_created("c2"))

    NextSignCreateCaseOperator(
        task_id="create", title="Big", recipients=RECIPIENTS, documents=[big, b"%PDF-1.4 small"]
    ).execute(_context())

    assert upload.call_count == 2
    docs = create.last_request.json()["documents"]
    assert docs[0]["file"] == f"https://store.test/{COMPANY}/case/big.pdf"
    assert "fileIsBlob" not in docs[0]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"documents": []}, "documents must list at least one document"),
        ({"documents": ["/nonexistent/x.pdf"]}, "documents[0]: /nonexistent/x.pdf does not exist"),
        ({"documents": [{"name": "x.pdf"}]}, "documents[0]: a dict document needs 'content'"),
        ({"documents": [b""]}, "is empty"),
        ({"title": ""}, "title is required"),
        ({"recipients": [{"name": "J"}]}, "recipients[0].email"),
    ],
)
def test_bad_input_fails_before_any_request(requests_mock, kwargs, expected):
    args = {"title": "T", "recipients": RECIPIENTS, "documents": [PDF], **kwargs}
    with pytest.raises(ValueError) as err:
        NextSignCreateCaseOperator(task_id="create", **args).execute(_context())
    assert expected in str(err.value)
    assert requests_mock.call_count == 0


def test_retry_reuses_existing_case(requests_mock):
    requests_mock.get(
        LIST_URL,
        json={
            "status": "company_found",
            "cases": [{"_id": "c7", "referenceId": "airflow:leases:create:manual__1"}],
        },
    )
    create = requests_mock.post(CREATE_URL, json=_created("dup"))
    case_id = NextSignCreateCaseOperator(
        task_id="create", title="T", recipients=RECIPIENTS, documents=[PDF]
    ).execute(_context(try_number=2))
    assert case_id == "c7"
    assert not create.called


def test_delete_removes_case(requests_mock):
    delete = requests_mock.get(
        f"{V2}/case/c1/delete",
        json={"status": "removed", "return": {"acknowledged": True, "deletedCount": 1}},
    )
    assert NextSignDeleteCaseOperator(task_id="delete", case_id="c1").execute(_context()) == "c1"
    assert delete.called


def test_delete_of_a_gone_case_counts_as_deleted(requests_mock, caplog, capsys):
    requests_mock.get(f"{V2}/case/c1/delete", json={"message": "Case not found"})
    with caplog.at_level("INFO"):
        assert NextSignDeleteCaseOperator(task_id="delete", case_id="c1").execute(_context()) == "c1"
    # Airflow 3 logs through structlog to stdout, Airflow 2 through logging.
    assert "Case c1 is already gone" in caplog.text + capsys.readouterr().out


def test_delete_needs_a_case_id(requests_mock):
    with pytest.raises(ValueError, match="case_id"):
        NextSignDeleteCaseOperator(task_id="delete", case_id="").execute(_context())
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("bogus", [".", ".."])
def test_delete_refuses_a_dot_id_instead_of_reporting_it_deleted(requests_mock, bogus):
    requests_mock.get(f"{V2}/delete", json={"status": "removed", "return": {"deletedCount": 0}})
    requests_mock.get(f"{V2}/case/delete", json={"status": "removed", "return": {"deletedCount": 0}})
    with pytest.raises(ValueError, match="case_id"):
        NextSignDeleteCaseOperator(task_id="delete", case_id=bogus).execute(_context())
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b"plain text, not a document", "documents[1]: the content is neither a PDF nor a DOCX"),
        ({"content": PDF, "name": "a.docx"}, "documents[1]: 'a.docx' is a PDF, but its name ends in .docx"),
    ],
)
def test_documents_are_sniffed_before_any_request(requests_mock, tmp_path, document, expected):
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-" + b"0" * INLINE_LIMIT_BYTES)  # would be uploaded first
    with pytest.raises(ValueError) as err:
        NextSignCreateCaseOperator(
            task_id="create", title="T", recipients=RECIPIENTS, documents=[big, document]
        ).execute(_context())
    assert expected in str(err.value)
    assert requests_mock.call_count == 0


def test_docx_bytes_are_named_and_uploaded_as_docx(requests_mock):
    from .conftest import docx_bytes

    upload = requests_mock.post(UPLOAD_URL, json={"url": f"https://store.test/{COMPANY}/case/x"})
    create = requests_mock.post(CREATE_URL, json=_created("c3"))
    padding = b"0" * INLINE_LIMIT_BYTES
    NextSignCreateCaseOperator(
        task_id="create", title="T", recipients=RECIPIENTS, documents=[docx_bytes(), b"%PDF-" + padding]
    ).execute(_context())
    first, second = upload.request_history
    assert b'filename="document-1.docx"' in first.body and DOCX_MIME.encode() in first.body
    assert b'filename="document-2.pdf"' in second.body and b"application/pdf" in second.body
    names = [d["name"] for d in create.last_request.json()["documents"]]
    assert names == ["document-1.docx", "document-2.pdf"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"case_fields": {"title": "Other"}}, "case_fields: 'title' is set by the operator; pass title="),
        ({"case_fields": {"recipients": []}}, "case_fields: 'recipients' is set by the operator"),
        ({"case_fields": {"documents": []}}, "pass documents="),
        ({"case_fields": {"settings": {}}}, "pass settings="),
        ({"case_fields": {"referenceId": "r"}}, "pass reference_id="),
        ({"case_fields": {"signingSchemas": ["draw"]}}, "pass signing_schemas="),
        ({"case_fields": ["folder", "x"]}, "case_fields must be a dict"),
        ({"title": 5}, "title must be a non-empty string"),
        ({"settings": "fast"}, "settings must be an object"),
        ({"signing_schemas": ["fax"]}, "signing_schemas has invalid values ['fax']"),
    ],
)
def test_every_check_runs_before_large_documents_are_uploaded(requests_mock, tmp_path, kwargs, expected):
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-" + b"0" * INLINE_LIMIT_BYTES)  # goes through the upload endpoint first
    requests_mock.post(UPLOAD_URL, json={"url": f"https://store.test/{COMPANY}/case/big.pdf"})
    requests_mock.post(CREATE_URL, json=_created("c9"))
    args = {"title": "T", "recipients": RECIPIENTS, "documents": [big], **kwargs}
    with pytest.raises(ValueError) as err:
        NextSignCreateCaseOperator(task_id="create", **args).execute(_context())
    assert expected in str(err.value)
    assert requests_mock.call_count == 0
