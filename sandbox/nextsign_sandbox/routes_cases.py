"""Case List, Case Get, Case Get Multiple, Case Create and Case Delete (``/api/v2/{company}/case(s)/...``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from nextsign_sandbox._util import object_id
from nextsign_sandbox.cases import build_case
from nextsign_sandbox.core import Sandbox
from nextsign_sandbox.guard import bad_request, json_body, open_call, sandbox_of
from nextsign_sandbox.profiles import list_item, multiple_item
from nextsign_sandbox.store import b64decode
from nextsign_sandbox.validation import check_case_create

router = APIRouter(prefix="/api/v2/{company}")

LIST_STATUSES = ("signed", "denied", "pending")
NOT_FOUND = {"message": "Case not found"}


def _non_negative_int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name} must be a non-negative integer") from None
    if number < 0:
        raise bad_request(f"{name} must be a non-negative integer")
    return number


@router.get("/cases/get")
async def cases_list(request: Request, company: str) -> Response:
    """Case List: filters ``status`` and ``folder``; ``limit`` (default 100) and zero-based page ``index``."""
    call = await open_call(request, "cases_list", company)
    query = request.query_params
    status = query.get("status") or None
    if status is not None and status not in LIST_STATUSES:
        raise bad_request("status must be one of signed, denied, pending")
    limit = _non_negative_int(query.get("limit"), "limit", 100)
    index = _non_negative_int(query.get("index"), "index", 0)
    if limit == 0:
        raise bad_request("limit must be at least 1")
    sandbox = sandbox_of(request)
    shape = sandbox.shape["list_items"]
    page = sandbox.store.list_page(
        status=status,
        folder=query.get("folder") or None,
        index=index,
        limit=limit,
        item=lambda case: list_item(case, shape),
    )
    return await call.finish({"status": "company_found", "cases": page})


@router.get("/case/{case_id}/get")
async def case_get(request: Request, company: str, case_id: str) -> Response:
    """Case Get: ``case_found`` with the full case, or HTTP 200 ``{"message":"Case not found"}``.

    A case inside its visibility delay answers the same body with HTTP 404 (production saw 404s for
    some seconds right after a create, nextsign-api.md §0 P8).
    """
    call = await open_call(request, "case_get", company)
    sandbox = sandbox_of(request)
    case = sandbox.store.get_visible_case(case_id)
    if case is None:
        hidden = sandbox.store.get_case(case_id) is not None
        return await call.finish(NOT_FOUND, status=404 if sandbox.strict_http_errors or hidden else 200)
    return await call.finish({"status": "case_found", "case": case})


@router.get("/cases/{case_ids}/get")
async def cases_get_multiple(request: Request, company: str, case_ids: str) -> Response:
    """Case Get Multiple: the cases found (in the order asked), or 404 ``Cases not found``."""
    call = await open_call(request, "cases_get_multiple", company)
    sandbox = sandbox_of(request)
    shape = sandbox.shape["multiple_items"]
    ids = [i.strip() for i in case_ids.split(",") if i.strip()]
    found = [c for c in (sandbox.store.get_visible_case(i) for i in dict.fromkeys(ids)) if c is not None]
    if not found:
        return await call.finish({"message": "Cases not found"}, status=404)
    return await call.finish({"status": "cases_found", "cases": [multiple_item(c, shape) for c in found]})


@router.post("/case/create")
async def case_create(request: Request, company: str) -> Response:
    """Case Create: validate, store the documents (base64 or stored-file URL), create a pending case."""
    call = await open_call(request, "case_create", company)
    sandbox = sandbox_of(request)
    body = await json_body(request)
    problems = check_case_create(body)
    if problems:
        raise bad_request(*problems)
    documents = await run_in_threadpool(_store_documents, sandbox, body["documents"])
    return await call.create(build_case(body, documents))


def _store_documents(sandbox: Sandbox, given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Case documents from ``documents[]``: base64 (``fileIsBlob``), data URL or this sandbox's stored URL."""
    from nextsign_sandbox import documents as docs

    store = sandbox.store
    problems: list[str] = []
    result: list[dict[str, Any]] = []
    for i, document in enumerate(given):
        where = f"documents[{i}]"
        value: str = document["file"]
        name = str(document.get("name") or f"document-{i + 1}.pdf")
        key = None
        if document.get("fileIsBlob") is not True and value.startswith(("http://", "https://")):
            key = store.key_from_url(value)
            if key is None:
                problems.append(f"{where}.file is not a stored file of this company (upload it first)")
                continue
        else:
            try:
                data = b64decode(value.split(",", 1)[1] if value.startswith("data:") else value)
            except (ValueError, IndexError):
                problems.append(f"{where}.file is neither base64 nor a stored-file URL")
                continue
            mime = docs.sniff_mime(data)
            if mime is None:
                problems.append(f"{where}.file must be a PDF or DOCX document")
                continue
            if len(data) > sandbox.max_upload_bytes:
                problems.append(f"{where}.file is larger than {sandbox.max_upload_bytes} bytes")
                continue
            key = store.put_file(name, mime, data).key
        result.append(
            {
                "name": name,
                "sign_obligated": document.get("signObligated", True) is not False,
                "document_id": object_id(),
                "file": store.file_url(key),
            }
        )
    if problems:
        raise bad_request(*problems)
    return result


@router.get("/case/{case_id}/delete")
async def case_delete(request: Request, company: str, case_id: str) -> Response:
    """Case Delete (a GET): ``removed`` once, then ``{"message":"Case not found"}``."""
    call = await open_call(request, "case_delete", company)
    if not case_id.strip():
        raise bad_request("Missing case id")
    sandbox = sandbox_of(request)
    if not sandbox.store.is_visible(case_id) or not sandbox.store.delete_case(case_id):
        return await call.finish(NOT_FOUND, status=404 if sandbox.strict_http_errors else 200)
    return await call.finish({"status": "removed", "return": {"acknowledged": True, "deletedCount": 1}})


@router.get("/case//delete", include_in_schema=False)
async def case_delete_without_id(request: Request, company: str) -> Response:
    """Case Delete with an empty id segment: the documented ``Missing case id`` error."""
    await open_call(request, "case_delete", company)
    raise bad_request("Missing case id")
