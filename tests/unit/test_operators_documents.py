"""NextSignConvertDocumentOperator and NextSignSignedDocumentsToStorageOperator."""

from __future__ import annotations

import pytest

from airflow_provider_nextsign.api.payloads import DOCX_MIME
from airflow_provider_nextsign.operators.documents import (
    NextSignConvertDocumentOperator,
    NextSignSignedDocumentsToStorageOperator,
)

from .conftest import COMPANY, FILES, HOST, docx_bytes, zip_bytes

pytestmark = pytest.mark.usefixtures("nextsign_connection")
V2 = f"{HOST}/api/v2/{COMPANY}"
UPLOAD_URL = f"{FILES}/v3/company/{COMPANY}/file/upload"
PRESIGN_URL = f"{FILES}/v3/company/{COMPANY}/file/view-presigned-url"
CONVERT_URL = f"{HOST}/api/v1/document/convert"  # production's path, tried first
STORE = "https://store.test"


def _presign(request, context):
    url = request.json()["url"]
    return {
        "key": url.rsplit("/", 1)[-1],
        "signedUrl": f"{url}?sig=1",
        "type": "application/pdf",
        "cached": False,
    }


def test_convert_uploads_converts_and_streams_pdf(requests_mock, tmp_path):
    source = tmp_path / "offer.docx"
    source.write_bytes(docx_bytes())
    upload = requests_mock.post(UPLOAD_URL, json={"url": f"{STORE}/{COMPANY}/case/offer.docx"})
    convert = requests_mock.post(
        CONVERT_URL,
        json={
            "status": {"code": 200, "message": "OK"},
            "documents": [{"file": f"{STORE}/conv/offer.pdf", "name": "offer.pdf"}],
        },
    )
    requests_mock.post(PRESIGN_URL, json=_presign)
    download = requests_mock.get(f"{STORE}/conv/offer.pdf?sig=1", content=b"%PDF-1.7 converted")

    result = NextSignConvertDocumentOperator(
        task_id="convert",
        source=f"file://{source}",
        tags={"customer_name": "Holm ApS", "price": 4500},
        destination=f"file://{tmp_path}/out/",
    ).execute({})

    assert result == f"file://{tmp_path}/out/offer.pdf"
    assert (tmp_path / "out" / "offer.pdf").read_bytes() == b"%PDF-1.7 converted"
    assert upload.called and download.called
    assert "Authorization" not in download.last_request.headers  # pre-signed: no API key sent
    assert DOCX_MIME.encode() in upload.last_request.body
    body = convert.last_request.json()
    assert body["documents"] == [{"file": f"{STORE}/{COMPANY}/case/offer.docx", "name": "offer.docx"}]
    assert {"tag": "price", "value": 4500, "type": "number"} in body["tags"]


def test_convert_rejects_non_docx_before_any_request(requests_mock, tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text("hello")
    with pytest.raises(ValueError, match=r"source: notes.txt is not a .docx"):
        NextSignConvertDocumentOperator(
            task_id="c", source=str(source), destination=str(tmp_path / "x.pdf")
        ).execute({})
    assert requests_mock.call_count == 0


def test_convert_uploads_a_pdf_source_labelled_as_pdf(requests_mock, tmp_path):
    # Convert passes PDFs through unchanged (nextsign-api.md 3.11); the upload must say what it is.
    source = tmp_path / "ready.pdf"
    source.write_bytes(b"%PDF-1.7 already a pdf")
    upload = requests_mock.post(UPLOAD_URL, json={"url": f"{STORE}/{COMPANY}/case/ready.pdf"})
    requests_mock.post(
        CONVERT_URL,
        json={"status": {"code": 200}, "documents": [{"file": f"{STORE}/conv/r.pdf", "name": "ready.pdf"}]},
    )
    requests_mock.post(PRESIGN_URL, json=_presign)
    requests_mock.get(f"{STORE}/conv/r.pdf?sig=1", content=b"%PDF-1.7 already a pdf")
    destination = str(tmp_path / "o.pdf")
    NextSignConvertDocumentOperator(task_id="c", source=str(source), destination=destination).execute({})
    assert b"application/pdf" in upload.last_request.body
    assert DOCX_MIME.encode() not in upload.last_request.body


def test_convert_rejects_a_zip_that_is_not_a_docx_before_any_request(requests_mock, tmp_path):
    source = tmp_path / "offer.docx"
    source.write_bytes(zip_bytes())
    with pytest.raises(ValueError, match=r"source: offer.docx is not a .docx \(or PDF\) file"):
        NextSignConvertDocumentOperator(
            task_id="c", source=str(source), destination=str(tmp_path / "x.pdf")
        ).execute({})
    assert requests_mock.call_count == 0


def _signed_case(case_id: str) -> dict:
    return {
        "status": "case_found",
        "case": {
            "_id": case_id,
            "recipients": [{"name": "J", "email": "j@example.com", "signing": True, "signed": "signed"}],
            "signedDocuments": [
                {"name": "contract.pdf", "file": f"{STORE}/{case_id}/contract.pdf"},
                {"name": "../annex.pdf", "file": f"{STORE}/{case_id}/annex.pdf"},
            ],
        },
    }


def test_signed_documents_stream_into_a_case_folder(requests_mock, tmp_path):
    requests_mock.get(f"{V2}/case/c1/get", json=_signed_case("c1"))
    requests_mock.post(PRESIGN_URL, json=_presign)
    chunk = b"%PDF" + b"z" * (3 << 20)  # bigger than one stream chunk
    requests_mock.get(f"{STORE}/c1/contract.pdf?sig=1", content=chunk)
    requests_mock.get(f"{STORE}/c1/annex.pdf?sig=1", content=b"%PDF annex")

    paths = NextSignSignedDocumentsToStorageOperator(
        task_id="store", case_id="c1", destination=f"file://{tmp_path}/signed"
    ).execute({})

    assert paths == [f"file://{tmp_path}/signed/c1/contract.pdf", f"file://{tmp_path}/signed/c1/annex.pdf"]
    assert (tmp_path / "signed" / "c1" / "contract.pdf").read_bytes() == chunk
    assert (tmp_path / "signed" / "c1" / "annex.pdf").read_bytes() == b"%PDF annex"


def test_unsigned_case_fails_with_its_state(requests_mock, tmp_path):
    body = _signed_case("c2")
    body["case"]["recipients"][0]["signed"] = "pending"
    body["case"]["signedDocuments"] = []
    requests_mock.get(f"{V2}/case/c2/get", json=body)
    with pytest.raises(ValueError, match=r"Case c2 has no signed documents \(state: pending\)"):
        NextSignSignedDocumentsToStorageOperator(
            task_id="s", case_id="c2", destination=str(tmp_path)
        ).execute({})


class BreaksMidStream:
    """A response body that sends ``head`` and then loses the connection."""

    closed = False

    def __init__(self, head: bytes) -> None:
        self.head = head

    def read(self, *args, **kwargs) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            return head
        raise ConnectionResetError(104, "Connection reset by peer")

    def close(self) -> None:
        self.closed = True


def _one_signed_document(requests_mock, *downloads) -> None:
    case = _signed_case("c1")
    case["case"]["signedDocuments"] = case["case"]["signedDocuments"][:1]
    requests_mock.get(f"{V2}/case/c1/get", json=case)
    requests_mock.post(PRESIGN_URL, json=_presign)
    requests_mock.get(f"{STORE}/c1/contract.pdf?sig=1", list(downloads))


def test_a_download_that_breaks_mid_stream_is_started_again(requests_mock, tmp_path):
    full = b"%PDF-1.7 " + b"s" * 5000
    _one_signed_document(requests_mock, {"body": BreaksMidStream(full[:1000])}, {"content": full})
    (path,) = NextSignSignedDocumentsToStorageOperator(
        task_id="s", case_id="c1", destination=str(tmp_path), per_case_folder=False
    ).execute({})
    assert path == str(tmp_path / "contract.pdf") and (tmp_path / "contract.pdf").read_bytes() == full
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contract.pdf"]  # no temporary file left
    assert requests_mock.call_count == 1 + 2 * 2  # case, then presign and download twice


def test_a_download_that_keeps_breaking_leaves_no_truncated_signed_pdf(requests_mock, tmp_path):
    from airflow_provider_nextsign.exceptions import NextSignConnectionError

    (tmp_path / "contract.pdf").write_bytes(b"%PDF-1.7 the copy stored yesterday")
    _one_signed_document(requests_mock, *[{"body": BreaksMidStream(b"%PDF-1.7 half")} for _ in range(3)])
    with pytest.raises(NextSignConnectionError):
        NextSignSignedDocumentsToStorageOperator(
            task_id="s", case_id="c1", destination=str(tmp_path), per_case_folder=False
        ).execute({})
    assert (tmp_path / "contract.pdf").read_bytes() == b"%PDF-1.7 the copy stored yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contract.pdf"]


def test_document_names_over_255_bytes_are_shortened_keeping_extension_and_a_hash(requests_mock, tmp_path):
    case = _signed_case("c1")
    long_names = ["ø" * 200 + " A.pdf", "ø" * 200 + " B.pdf"]  # 407 bytes each, same first 255
    case["case"]["signedDocuments"] = [
        {"name": name, "file": f"{STORE}/c1/{i}.pdf"} for i, name in enumerate(long_names)
    ]
    requests_mock.get(f"{V2}/case/c1/get", json=case)
    requests_mock.post(PRESIGN_URL, json=_presign)
    requests_mock.get(f"{STORE}/c1/0.pdf?sig=1", content=b"%PDF-1.7 A")
    requests_mock.get(f"{STORE}/c1/1.pdf?sig=1", content=b"%PDF-1.7 B")
    paths = NextSignSignedDocumentsToStorageOperator(
        task_id="s", case_id="c1", destination=str(tmp_path)
    ).execute({})
    names = [p.rsplit("/", 1)[-1] for p in paths]
    assert len(set(names)) == 2
    for name, content in zip(names, (b"%PDF-1.7 A", b"%PDF-1.7 B"), strict=True):
        assert len(name.encode()) <= 255 and name.endswith(".pdf") and name.startswith("ø" * 50)
        assert (tmp_path / "c1" / name).read_bytes() == content


def test_signed_documents_without_a_usable_name_get_a_numbered_one(requests_mock, tmp_path):
    case = _signed_case("c1")
    case["case"]["signedDocuments"] = [
        {"name": "", "file": f"{STORE}/c1/a.pdf"},
        {"name": "/../ ..", "file": f"{STORE}/c1/b.pdf"},
        {"name": "signed.pdf", "file": f"{STORE}/c1/c.pdf"},
    ]
    requests_mock.get(f"{V2}/case/c1/get", json=case)
    requests_mock.post(PRESIGN_URL, json=_presign)
    requests_mock.get(f"{STORE}/c1/a.pdf?sig=1", content=b"%PDF-1.7 a")
    requests_mock.get(f"{STORE}/c1/b.pdf?sig=1", content=b"%PDF-1.7 b")
    requests_mock.get(f"{STORE}/c1/c.pdf?sig=1", content=b"%PDF-1.7 c")
    paths = NextSignSignedDocumentsToStorageOperator(
        task_id="s", case_id="c1", destination=str(tmp_path)
    ).execute({})
    # No name at all: api.cases calls it signed.pdf; a name that is only a path: signed-<n>.pdf;
    # a name used before gets its number in front.
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["signed.pdf", "signed-2.pdf", "3-signed.pdf"]
    assert (tmp_path / "c1" / "3-signed.pdf").read_bytes() == b"%PDF-1.7 c"
