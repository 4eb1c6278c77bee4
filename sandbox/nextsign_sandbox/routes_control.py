"""The sandbox control API under ``/_sandbox`` (same Bearer key, never rate limited or faulted)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nextsign_sandbox.guard import ApiError, check_bearer, json_body, sandbox_of
from nextsign_sandbox.lifecycle import CaseConflict, CaseNotFound
from nextsign_sandbox.seed import seed_cases

router = APIRouter(prefix="/_sandbox")

#: Most cases one ``POST /_sandbox/seed`` creates (each costs memory; call again for more).
MAX_SEED_COUNT = 10_000


async def _body(request: Request) -> dict[str, Any]:
    check_bearer(request)
    body = await json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, {"message": "Body must be a JSON object"})
    return body


def _act(action: Any, *args: Any, **kwargs: Any) -> JSONResponse:
    try:
        return JSONResponse({"case": action(*args, **kwargs)})
    except CaseNotFound:
        return JSONResponse({"message": "Case not found"}, status_code=404)
    except CaseConflict as err:
        return JSONResponse({"message": str(err)}, status_code=409)


@router.post("/cases/{case_id}/sign")
async def sign(request: Request, case_id: str) -> JSONResponse:
    """Sign every pending signer, or only ``{"recipient": <_id | email | index>}``."""
    body = await _body(request)
    return _act(sandbox_of(request).lifecycle.sign, case_id, body.get("recipient"))


@router.post("/cases/{case_id}/deny")
async def deny(request: Request, case_id: str) -> JSONResponse:
    """A recipient (default: the first pending signer) denies the case."""
    body = await _body(request)
    return _act(sandbox_of(request).lifecycle.deny, case_id, body.get("recipient"))


@router.post("/cases/{case_id}/expire")
async def expire(request: Request, case_id: str) -> JSONResponse:
    """The case's signing window passes."""
    await _body(request)
    return _act(sandbox_of(request).lifecycle.expire, case_id)


@router.get("/cases")
async def cases(request: Request) -> JSONResponse:
    """Every case that is not deleted, full objects in creation order, with the sandbox's status."""
    check_bearer(request)
    store = sandbox_of(request).store
    with store.lock:
        items = store.list_cases()
        statuses = dict(store.status)
    return JSONResponse({"cases": items, "status": {c["_id"]: statuses.get(c["_id"]) for c in items}})


@router.post("/seed")
async def seed(request: Request) -> JSONResponse:
    """Bulk-create cases: ``{"count", "status", "folder", "title", "referenceId", "recipients"}``."""
    body = await _body(request)
    count = body.get("count", 1)
    if isinstance(count, int) and not isinstance(count, bool) and count > MAX_SEED_COUNT:
        raise ApiError(
            400, {"message": f"count {count} is above {MAX_SEED_COUNT} per request; seed in batches"}
        )
    try:
        ids = await run_in_threadpool(lambda: seed_cases(sandbox_of(request), **body))
    except (TypeError, ValueError) as err:
        raise ApiError(400, {"message": str(err)}) from None
    return JSONResponse({"case_ids": ids})


@router.post("/faults")
async def add_fault(request: Request) -> JSONResponse:
    """Arm a fault: ``{"operation", "kind", "count", ...options}``."""
    body = await _body(request)
    try:
        fault = sandbox_of(request).faults.add(
            body.pop("operation", None), body.pop("kind", None), body.pop("count", 1), **body
        )
    except ValueError as err:
        raise ApiError(400, {"message": str(err)}) from None
    return JSONResponse({"fault": fault.as_dict()})


@router.get("/faults")
async def list_faults(request: Request) -> JSONResponse:
    """The armed faults."""
    check_bearer(request)
    return JSONResponse({"faults": sandbox_of(request).faults.list()})


@router.delete("/faults")
async def clear_faults(request: Request) -> JSONResponse:
    """Disarm every fault."""
    check_bearer(request)
    sandbox_of(request).faults.clear()
    return JSONResponse({"faults": []})


def _dispatcher(request: Request) -> Any:
    webhooks = sandbox_of(request).webhooks
    if webhooks is None:
        raise ApiError(501, {"message": "webhooks are not available in this installation"})
    return webhooks


@router.post("/webhooks")
async def add_webhook(request: Request) -> JSONResponse:
    """Register a target: ``{"url", "triggers", "headers", "name"}``."""
    body = await _body(request)
    if not isinstance(body.get("url"), str) or not isinstance(body.get("triggers"), list):
        raise ApiError(400, {"message": "url (string) and triggers (array) are required"})
    try:
        hook = _dispatcher(request).add(
            body["url"], body["triggers"], headers=body.get("headers"), name=body.get("name")
        )
    except ValueError as err:
        raise ApiError(400, {"message": str(err)}) from None
    return JSONResponse({"webhook": _masked(hook)})


@router.get("/webhooks")
async def list_webhooks(request: Request) -> JSONResponse:
    """Registered targets (custom header values masked) and the delivery log."""
    check_bearer(request)
    webhooks = _dispatcher(request)
    listed = [_masked(hook) for hook in webhooks.list()]
    return JSONResponse({"webhooks": listed, "deliveries": list(webhooks.deliveries)})


def _masked(hook: dict[str, Any]) -> dict[str, Any]:
    """The webhook with its custom header values as ``***``: they usually carry the receiver's secret."""
    return {**hook, "headers": dict.fromkeys(hook.get("headers") or {}, "***")}


@router.delete("/webhooks/{webhook_id}")
async def remove_webhook(request: Request, webhook_id: str) -> JSONResponse:
    """Unregister a target."""
    check_bearer(request)
    if not _dispatcher(request).remove(webhook_id):
        return JSONResponse({"message": "Webhook not found"}, status_code=404)
    return JSONResponse({"status": "removed"})


@router.get("/stats")
async def get_stats(request: Request) -> JSONResponse:
    """API requests so far: ``{"requests", "by_status": {"200": n, ...}, "by_operation": {...}}``."""
    check_bearer(request)
    return JSONResponse(sandbox_of(request).stats.snapshot())


@router.delete("/stats")
async def reset_stats(request: Request) -> JSONResponse:
    """Start counting from zero; answers the zeroed counters."""
    check_bearer(request)
    stats = sandbox_of(request).stats
    stats.reset()
    return JSONResponse(stats.snapshot())


@router.get("/config")
async def get_config(request: Request) -> JSONResponse:
    """The current settings."""
    check_bearer(request)
    return JSONResponse(sandbox_of(request).settings())


@router.post("/config")
async def set_config(request: Request) -> JSONResponse:
    """Change settings (see :meth:`Sandbox.configure`)."""
    body = await _body(request)
    try:
        return JSONResponse(sandbox_of(request).configure(**body))
    except ValueError as err:
        raise ApiError(400, {"message": str(err)}) from None
