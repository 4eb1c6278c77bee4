"""Forms Get, Forms Tags and Forms Submit (``/api/v2/{company}/forms/{form_id}/...``)."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from nextsign_sandbox.cases import build_case
from nextsign_sandbox.guard import bad_request, json_body, open_call, sandbox_of
from nextsign_sandbox.validation import check_form_submit

router = APIRouter(prefix="/api/v2/{company}/forms/{form_id}")


def _form(request: Request, form_id: str, *, tags_page: bool = False) -> dict[str, Any]:
    form = sandbox_of(request).store.forms.get(form_id)
    if form is None:
        # Forms Tags documents "Company not found" for an unknown company or form.
        raise bad_request("Company not found" if tags_page else "Form not found")
    return form


def public_form(form: dict[str, Any]) -> dict[str, Any]:
    """The Forms Get object (internal keys removed)."""
    return {k: copy.deepcopy(v) for k, v in form.items() if not k.startswith("_sandbox")}


@router.get("/get")
async def forms_get(request: Request, company: str, form_id: str) -> Response:
    """Forms Get: the raw form object."""
    call = await open_call(request, "forms_get", company, company_errors=True)
    return await call.finish(public_form(_form(request, form_id)))


@router.get("/tags/get")
async def forms_tags(request: Request, company: str, form_id: str) -> Response:
    """Forms Tags: a bare array of the form's tags."""
    call = await open_call(request, "forms_tags", company, company_errors=True)
    return await call.finish(copy.deepcopy(_form(request, form_id, tags_page=True)["tags"]))


@router.post("/submit")
async def forms_submit(request: Request, company: str, form_id: str) -> Response:
    """Forms Submit: validate tags and recipients, render the form's documents, create a case."""
    call = await open_call(request, "forms_submit", company, company_errors=True)
    sandbox = sandbox_of(request)
    form = _form(request, form_id)
    body = await json_body(request)
    problems = check_form_submit(body, form["tags"])
    if problems:
        raise bad_request(*problems)
    values = {t["tag"]: t.get("value") for t in body["tags"]}
    documents = await run_in_threadpool(_render_documents, sandbox, form, values)
    case = build_case(
        body, documents, settings=form.get("settings"), title=form["title"], folder=form["folder"]
    )
    return await call.create(case)


def _render_documents(sandbox: Any, form: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    from nextsign_sandbox import documents as docs
    from nextsign_sandbox._util import object_id

    result = []
    for document in form.get("documents") or []:
        stored = sandbox.store.get_file(sandbox.store.key_from_url(document["file"]) or "")
        if stored is None:
            continue
        pdf = docs.convert(sandbox.file_bytes(stored), values)
        name = document["name"].rsplit(".", 1)[0] + ".pdf"
        kept = sandbox.store.put_file(name, docs.PDF_MIME, pdf)
        result.append(
            {
                "name": name,
                "sign_obligated": True,
                "document_id": object_id(),
                "file": sandbox.store.file_url(kept.key),
            }
        )
    return result
