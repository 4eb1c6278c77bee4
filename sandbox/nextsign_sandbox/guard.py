"""What every API request goes through: Bearer auth, the rate limit, company scoping, injected faults.

Handlers call :func:`open_call` first and pass their answer through :meth:`Call.finish`. Errors are
raised as :class:`ApiError` (rendered by the app's exception handler) with NextSign's error bodies.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from nextsign_sandbox.core import Sandbox
from nextsign_sandbox.faults import Fault
from nextsign_sandbox.profiles import created_answer
from nextsign_sandbox.stats import OPERATION_KEY, count
from nextsign_sandbox.transport import drop_connection


class ApiError(Exception):
    """An error answer: HTTP ``status`` with JSON ``body`` (and optional headers)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers

    def response(self) -> JSONResponse:
        """The JSON response for this error."""
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


class Dropped(Exception):
    """The connection was aborted on purpose; nothing is sent."""


def errors_body(code: int, message: str, *descriptions: str) -> dict[str, Any]:
    """NextSign's ``{"errors":[{"code","message","description"}]}`` body, one entry per description."""
    return {"errors": [{"code": code, "message": message, "description": d} for d in descriptions]}


def bad_request(*descriptions: str) -> ApiError:
    """400 with an ``errors[]`` body."""
    return ApiError(400, errors_body(400, "Bad Request", *descriptions))


def sandbox_of(request: Request) -> Sandbox:
    """The :class:`Sandbox` behind the app."""
    return request.app.state.sandbox


def check_bearer(request: Request) -> str:
    """The API key of the request; 401 with the documented body when missing or wrong."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, errors_body(401, "Unauthorized", "Bearer token not found"))
    if not hmac.compare_digest(token.encode(), sandbox_of(request).store.api_key.encode()):
        raise ApiError(401, errors_body(401, "Unauthorized", "Invalid API key"))
    return token


@dataclass
class Call:
    """One API request that passed the guard; carries the fault to apply after the handler, if any."""

    request: Request
    fault: Fault | None

    async def finish(self, body: Any, status: int = 200) -> Response:
        """The JSON answer, or a dropped connection when a ``lost_response`` fault is armed."""
        if self.fault is not None and self.fault.kind == "lost_response":
            await _drop(self.request)
        return JSONResponse(body, status_code=status)

    async def create(self, case: dict[str, Any]) -> Response:
        """Store a new case and answer in the profile's envelope.

        With a ``late_write`` fault the case is stored only after the fault's ``seconds`` and the
        request is never answered: the client times out while NextSign is still working. With a
        ``server_error`` fault armed with ``after_write`` the case is stored, then the answer is a 5xx.
        """
        sandbox = sandbox_of(self.request)

        def apply() -> dict[str, Any]:
            return sandbox.lifecycle.create(case, hidden_for=sandbox.shape["visibility_delay"])

        if self.fault is not None and self.fault.kind == "late_write":
            asyncio.get_running_loop().call_later(self.fault.options.get("seconds", 2.0), apply)
            await _hold(sandbox, self.fault.options.get("hold", 3600.0))
            await _drop(self.request)
        created = apply()
        if self.fault is not None and self.fault.kind == "server_error":  # after_write: stored, then 5xx
            raise _server_error(self.fault)
        return await self.finish(created_answer(created, sandbox.shape["create_answer"]))


async def open_call(
    request: Request, operation: str, company: str | None = None, *, company_errors: bool = False
) -> Call:
    """Auth, rate limit, company scope, then the armed fault of ``operation`` (if any).

    ``company_errors`` answers a foreign company with the ``errors[]`` body (as Forms Tags documents)
    instead of the flat ``{"code":400,...}`` body of the Authorization page.
    """
    sandbox = sandbox_of(request)
    setattr(request.state, OPERATION_KEY, operation)  # counted in GET /_sandbox/stats
    key = check_bearer(request)
    wait = sandbox.limiter.acquire(key)
    if wait is not None:
        raise ApiError(
            429,
            {"message": "Too many requests", "retry_after": round(wait, 3)},
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    if company is not None and company != sandbox.store.company_id:
        if company_errors:
            raise bad_request("Company not found")
        raise ApiError(400, {"code": 400, "message": "Bad Request", "description": "Company not found"})
    fault = sandbox.faults.take(operation)
    if fault is None:
        return Call(request, None)
    if fault.kind == "server_error" and not fault.options.get("after_write"):
        raise _server_error(fault)
    if fault.kind == "error_body":
        body = fault.options.get("body") or errors_body(500, "Internal Server Error", "Injected fault")
        raise ApiError(200, body)
    if fault.kind == "drop":
        await _drop(request)
    if fault.kind == "slow":
        # The body was received before the server got slow: a write goes on after the client gave up.
        await request.body()
        await _hold(sandbox, fault.options.get("seconds", 2.0))
    request.state.fault = fault
    return Call(request, fault)


def _server_error(fault: Fault) -> ApiError:
    return ApiError(fault.options.get("status", 500), {"message": "Internal server error", "errors": []})


async def _hold(sandbox: Sandbox, seconds: float) -> None:
    """Sleep ``seconds``; the server cancels the sleep at once when it stops (then nothing is answered)."""
    task = asyncio.current_task()
    sandbox.sleeping.add(task)
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:  # the server is stopping: answer nothing, log nothing
        raise Dropped() from None
    finally:
        sandbox.sleeping.discard(task)


async def error_response(request: Request, err: ApiError) -> Response:
    """The response of an :class:`ApiError`; lost as well when a ``lost_response`` fault is armed."""
    fault = getattr(request.state, "fault", None)
    if fault is not None and fault.kind == "lost_response":
        count(sandbox_of(request).stats, request.scope, "dropped")
        await drop_connection(request.scope)
        return Response(status_code=500)
    return err.response()


async def _drop(request: Request) -> None:
    count(sandbox_of(request).stats, request.scope, "dropped")
    await drop_connection(request.scope)
    raise Dropped()


async def json_body(request: Request) -> Any:
    """The parsed JSON body; 400 ``errors[]`` when it is not JSON."""
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Body must be valid JSON") from None
