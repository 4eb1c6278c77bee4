"""The FastAPI application of the sandbox: the 11 NextSign endpoints, the storage and the control API."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nextsign_sandbox import routes_cases, routes_control, routes_files, routes_forms
from nextsign_sandbox.core import Sandbox
from nextsign_sandbox.guard import ApiError, Dropped, error_response
from nextsign_sandbox.stats import CountRequests


def create_app(sandbox: Sandbox) -> FastAPI:
    """The app serving ``sandbox``: v2 under ``/api/v2``, v3 under ``/v3``, control under ``/_sandbox``."""
    app = FastAPI(
        title="NextSign sandbox",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )
    app.state.sandbox = sandbox
    app.add_middleware(CountRequests, stats=sandbox.stats)
    for module in (routes_forms, routes_cases, routes_files, routes_control):
        app.include_router(module.router)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> Response:
        return await error_response(request, err)

    @app.exception_handler(Dropped)
    async def dropped(request: Request, err: Dropped) -> Response:
        # Normally never sent: the connection is already gone.
        return Response(status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"message": str(err.detail)}, status_code=err.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        details: Any = [e.get("msg") for e in err.errors()]
        return JSONResponse(
            {"errors": [{"code": 400, "message": "Bad Request", "description": str(d)} for d in details]},
            status_code=400,
        )

    return app
