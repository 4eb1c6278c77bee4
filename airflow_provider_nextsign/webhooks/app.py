"""The FastAPI app the plugin mounts under ``/nextsign`` on the Airflow 3 API server.

``POST /nextsign/webhooks`` serves the connection named by ``[nextsign] webhook_conn_id`` and
``POST /nextsign/webhooks/{conn_id}`` any other NextSign connection (one per company).

Each request costs nothing before its secret header is checked: no connection lookup without the
header, and no byte of the body before the secret matches. The body is then read as a stream, refused
past 1 MB, and cut off when it takes longer than ``[nextsign] webhook_body_timeout``.
"""

from __future__ import annotations

import asyncio
import logging

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
except ImportError as err:  # Airflow 2.11 (FastAPI comes with Airflow 3)
    raise ImportError(
        "The NextSign webhook receiver runs on the Airflow 3 API server (FastAPI); on Airflow 2 "
        "use NextSignCaseSensor"
    ) from err

from airflow_provider_nextsign.webhooks import config
from airflow_provider_nextsign.webhooks.receiver import Answer, Recorder, SettingsLookup, WebhookReceiver
from airflow_provider_nextsign.webhooks.recorder import record_delivery

log = logging.getLogger(__name__)

#: Bodies above this are refused before parsing; a case payload is a few kB.
MAX_BODY_BYTES = 1_000_000


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, read chunk by chunk; :class:`_BodyTooLarge` as soon as it passes ``limit``."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # chunked bodies carry no Content-Length: count what arrives
            raise _BodyTooLarge
    return bytes(body)


def create_app(
    settings_for: SettingsLookup = config.settings_for,
    record: Recorder = record_delivery,
    *,
    header: str | None = None,
    allowed_conn_ids: frozenset[str] | None = None,
    body_timeout: float | None = None,
) -> FastAPI:
    """Build the receiver app.

    The options default to the ``[nextsign]`` section (``webhook_secret_header``,
    ``webhook_allowed_conn_ids``, ``webhook_body_timeout``); tests pass them, and swap the connection
    lookup or the recorder.
    """
    receiver = WebhookReceiver(
        settings_for,
        record,
        header=header or config.secret_header(),
        allowed_conn_ids=allowed_conn_ids if allowed_conn_ids is not None else config.allowed_conn_ids(),
    )
    timeout = body_timeout if body_timeout is not None else config.body_timeout()
    app = FastAPI(
        title="NextSign webhook receiver",
        description="Receives NextSign webhooks and records them as Airflow asset events.",
        docs_url=None,
        redoc_url=None,
    )

    def reply(answer: Answer) -> JSONResponse:
        return JSONResponse(answer.body, status_code=answer.status_code)

    async def receive(request: Request, conn_id: str) -> JSONResponse:
        headers = {name.lower(): value for name, value in request.headers.items()}
        refused = receiver.precheck(conn_id, headers)  # no header: no lookup, no body
        if refused is not None:
            return reply(refused)
        # The connection lookup and the database write block: keep them off the event loop.
        settings = await run_in_threadpool(receiver.authenticate, conn_id, headers)
        if isinstance(settings, Answer):
            return reply(settings)
        too_large = JSONResponse({"message": f"body larger than {MAX_BODY_BYTES} bytes"}, status_code=413)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return too_large
        try:
            body = await asyncio.wait_for(_read_body(request, MAX_BODY_BYTES), timeout)
        except _BodyTooLarge:
            return too_large
        except TimeoutError:
            log.warning("NextSign webhook for %s refused: the body took longer than %g s", conn_id, timeout)
            return JSONResponse({"message": f"the body did not arrive within {timeout:g} s"}, status_code=408)
        return reply(await run_in_threadpool(receiver.accept, settings, body))

    @app.post("/webhooks")
    async def receive_default(request: Request) -> JSONResponse:
        """A NextSign delivery for the connection named by ``[nextsign] webhook_conn_id``."""
        return await receive(request, config.default_conn_id())

    @app.post("/webhooks/{conn_id}")
    async def receive_for_connection(request: Request, conn_id: str) -> JSONResponse:
        """A NextSign delivery for the connection ``conn_id``."""
        return await receive(request, conn_id)

    return app
