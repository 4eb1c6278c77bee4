"""Document Upload and Retrieve (v3), Document Convert (v2, no company) and the storage the URLs point at."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nextsign_sandbox.core import Sandbox
from nextsign_sandbox.guard import ApiError, json_body, open_call, sandbox_of
from nextsign_sandbox.store import b64decode

router = APIRouter()
ACCEPTED = {
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _v3_error(code: str, status: int = 400) -> ApiError:
    return ApiError(status, {"error": code})


@router.post("/v3/company/{company}/file/upload")
async def file_upload(request: Request, company: str) -> Response:
    """Document Upload: multipart (``file``, ``name``, ``type``) or JSON (base64 / data URL)."""
    call = await open_call(request, "file_upload", company)
    sandbox = sandbox_of(request)
    limit = sandbox.max_upload_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit * 4 // 3 + 64 * 1024:
        raise _v3_error("file-too-large", 413)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise _v3_error("missing-file")
        data = await upload.read()
        name = str(form.get("name") or upload.filename or "")
        declared = str(form.get("type") or "") or None
    else:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("file"), str) or not body["file"]:
            raise _v3_error("missing-file")
        name = str(body.get("name") or "")
        declared = body.get("type") or None
        value: str = body["file"]
        if value.startswith("data:"):
            header, _, value = value.partition(",")
            declared = declared or header[5:].split(";")[0] or None
        elif declared is None:
            raise _v3_error("missing-type")
        try:
            data = b64decode(value)
        except ValueError:
            raise _v3_error("invalid-file") from None
    if not name:
        raise _v3_error("missing-name")
    if len(data) > limit:
        raise _v3_error("file-too-large", 413)
    mime = _check_type(data, declared)
    stored = sandbox.store.put_file(os.path.basename(name), mime, data)
    url = sandbox.store.file_url(stored.key)
    return await call.finish({"url": url, "key": stored.key, "name": stored.name, "type": mime})


def _check_type(data: bytes, declared: str | None) -> str:
    from nextsign_sandbox import documents as docs

    sniffed = docs.sniff_mime(data)
    if sniffed is None or (declared is not None and declared != sniffed):
        raise _v3_error("invalid-type")
    return sniffed


@router.post("/v3/company/{company}/file/view-presigned-url")
async def file_presigned_url(request: Request, company: str) -> Response:
    """Document Retrieve: a pre-signed URL served by the sandbox, cached while valid."""
    call = await open_call(request, "file_presigned_url", company)
    sandbox = sandbox_of(request)
    body = await json_body(request)
    url = body.get("url") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url.strip():
        raise _v3_error("missing-url")
    key = sandbox.store.key_from_url(url.strip())
    if key is None or not key.startswith(f"{sandbox.store.company_id}/"):
        raise _v3_error("file-not-found", 404)
    stored = sandbox.store.get_file(key)
    signed, cached = sandbox.presign(key)
    return await call.finish(
        {"key": key, "signedUrl": signed, "type": stored.type if stored else None, "cached": cached}
    )


@router.get("/storage/{key:path}")
async def storage(request: Request, key: str) -> Response:
    """The object storage: only pre-signed URLs (``expires`` + ``sig``) are served; 403 otherwise."""
    sandbox = sandbox_of(request)
    problem = sandbox.check_signature(
        key, request.query_params.get("expires"), request.query_params.get("sig")
    )
    if problem is not None:
        return JSONResponse({"error": problem}, status_code=403)
    stored = sandbox.store.get_file(key)
    if stored is None:
        return JSONResponse({"error": "not-found"}, status_code=404)
    data = await run_in_threadpool(sandbox.file_bytes, stored)
    return Response(
        data,
        media_type=stored.type,
        headers={"Content-Disposition": f'attachment; filename="{_ascii(stored.name)}"'},
    )


def _ascii(name: str) -> str:
    return name.encode("ascii", "replace").decode().replace('"', "'")


def _convert_error(message: str, status: int = 400) -> ApiError:
    return ApiError(status, {"status": {"code": status, "message": message}})


@router.post("/api/{version}/document/convert")
async def document_convert(request: Request, version: str) -> Response:
    """Document Convert: DOCX (tags replaced) to PDF, PDF passed through; results stored.

    Served on the API versions of the profile (docs: v2; production: v1, with v2 answering 404).
    """
    sandbox = sandbox_of(request)
    if version not in sandbox.shape["convert_versions"]:
        return JSONResponse({"message": "Not Found"}, status_code=404)
    call = await open_call(request, "document_convert")
    body = await json_body(request)
    if not isinstance(body, dict):
        raise _convert_error("Body must be a JSON object")
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents:
        raise _convert_error("Missing documents")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or not all(
        isinstance(t, dict) and isinstance(t.get("tag"), str) for t in tags
    ):
        raise _convert_error("tags must be an array of {tag, value, type}")
    values = {t["tag"]: t.get("value", "") for t in tags}
    sources = []
    for i, document in enumerate(documents):
        url = document.get("file") if isinstance(document, dict) else None
        if not isinstance(url, str) or not url:
            raise _convert_error(f"Missing documents[{i}].file")
        key = sandbox.store.key_from_url(url)
        stored = sandbox.store.get_file(key) if key else None
        if stored is None:
            raise _convert_error(f"documents[{i}].file was not found in storage")
        sources.append((str(document.get("name") or stored.name), stored))
    converted = await run_in_threadpool(_convert_all, sandbox, sources, values)
    return await call.finish({"status": {"code": 200, "message": "OK"}, "documents": converted})


def _convert_all(
    sandbox: Sandbox, sources: list[tuple[str, Any]], values: dict[str, Any]
) -> list[dict[str, str]]:
    from nextsign_sandbox import documents as docs

    result = []
    for i, (name, stored) in enumerate(sources):
        try:
            pdf = docs.convert(sandbox.file_bytes(stored), values)
        except ValueError:
            raise _convert_error(f"documents[{i}] must be a PDF or DOCX document") from None
        pdf_name = os.path.splitext(name)[0] + ".pdf"
        kept = sandbox.store.put_file(pdf_name, docs.PDF_MIME, pdf)
        result.append({"file": sandbox.store.file_url(kept.key), "name": pdf_name})
    return result
