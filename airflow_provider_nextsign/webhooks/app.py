"""The FastAPI app the plugin mounts under ``/nextsign`` on the Airflow 3 API server.

``POST /nextsign/webhooks`` serves the connection named by ``[nextsign] webhook_conn_id`` and
``POST /nextsign/webhooks/{conn_id}`` any other NextSign connection (one per company).
"""

from __future__ import annotations

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
except ImportError as err:  # Airflow 2.11 without the sandbox extra
    raise ImportError(
        "The NextSign webhook receiver runs on the Airflow 3 API server (FastAPI); on Airflow 2 "
        "use NextSignCaseSensor"
    ) from err

from airflow_provider_nextsign.webhooks import config
from airflow_provider_nextsign.webhooks.receiver import Recorder, SettingsLookup, WebhookReceiver
from airflow_provider_nextsign.webhooks.recorder import record_delivery

#: Bodies above this are refused before parsing; a case payload is a few kB.
MAX_BODY_BYTES = 1_000_000


def create_app(
    settings_for: SettingsLookup = config.settings_for,
    record: Recorder = record_delivery,
) -> FastAPI:
    """Build the receiver app; the arguments exist so tests can swap the lookup or the recorder."""
    receiver = WebhookReceiver(settings_for, record)
    app = FastAPI(
        title="NextSign webhook receiver",
        description="Receives NextSign webhooks and records them as Airflow asset events.",
        docs_url=None,
        redoc_url=None,
    )

    async def receive(request: Request, conn_id: str) -> JSONResponse:
        too_large = JSONResponse({"message": f"body larger than {MAX_BODY_BYTES} bytes"}, status_code=413)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return too_large
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:  # chunked bodies carry no Content-Length
            return too_large
        headers = {name.lower(): value for name, value in request.headers.items()}
        # Connection lookup and the database write block: keep them off the event loop.
        answer = await run_in_threadpool(receiver.handle, conn_id, headers, body)
        return JSONResponse(answer.body, status_code=answer.status_code)

    @app.post("/webhooks")
    async def receive_default(request: Request) -> JSONResponse:
        """A NextSign delivery for the connection named by ``[nextsign] webhook_conn_id``."""
        return await receive(request, config.default_conn_id())

    @app.post("/webhooks/{conn_id}")
    async def receive_for_connection(request: Request, conn_id: str) -> JSONResponse:
        """A NextSign delivery for the connection ``conn_id``."""
        return await receive(request, conn_id)

    return app
