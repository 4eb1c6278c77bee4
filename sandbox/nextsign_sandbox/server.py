"""``SandboxServer``: the sandbox app served by uvicorn in a daemon thread, with Python control methods."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from typing import Any

from nextsign_sandbox.core import Sandbox

# Requests still running at stop() get this long to finish before they are cancelled.
_GRACE_SECONDS = 2.0


class SandboxServer:
    """A local NextSign-compatible server (v2 and v3 paths on one port).

    ``sign_after``: wall seconds until each signing step of the simulator (None/0 = on demand).
    ``requests_per_minute`` per API key in API time; ``time_scale`` = API seconds per real second
    (scales the rate-limit window, webhook retry delays and pre-signed URL expiry).
    ``state_file``: persist cases, forms and files across restarts.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        sign_after: float | None = None,
        requests_per_minute: int = 100,
        time_scale: float = 1.0,
        state_file: str | None = None,
        host: str = "127.0.0.1",
        **settings: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.sandbox = Sandbox(
            sign_after=sign_after,
            requests_per_minute=requests_per_minute,
            time_scale=time_scale,
            state_file=str(state_file) if state_file else None,
        )
        if settings:
            self.sandbox.configure(**settings)
        self.form_id = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url!r}, company_id={self.company_id!r})"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SandboxServer:
        """Bind, seed the demo form, start uvicorn in a daemon thread and wait until it listens."""
        import uvicorn

        from nextsign_sandbox.app import create_app
        from nextsign_sandbox.seed import seed_demo_form
        from nextsign_sandbox.transport import DroppableH11Protocol

        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then; without it
        # keep-alive requests stall ~40 ms on Nagle + delayed ACK.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.sandbox.start(self.url)
        self.form_id = seed_demo_form(self.sandbox)
        config = uvicorn.Config(
            create_app(self.sandbox),
            http=DroppableH11Protocol,
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, args=(sock,), name="nextsign-sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._loop is None:
            self.sandbox.stop()
            raise RuntimeError("the NextSign sandbox did not start listening")
        return self

    def _run(self, sock: socket.socket) -> None:
        asyncio.run(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        """uvicorn's startup, then wait for :meth:`stop` and shut down at once.

        ``uvicorn.Server.run`` polls for exit every 0.1 s and sleeps again on shutdown; a fixture
        started per test would spend more time stopping than testing.
        """
        server = self._server
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        await server.startup(sockets=[sock])
        self._stop_event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        ticker = asyncio.create_task(self._tick(server))
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            ticker.cancel()
            for listener in server.servers:
                listener.close()
            for sleeper in list(self.sandbox.sleeping):
                sleeper.cancel()
            for connection in list(server.server_state.connections):
                connection.shutdown()
            deadline = time.monotonic() + _GRACE_SECONDS
            while server.server_state.tasks and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            for task in list(server.server_state.tasks):
                task.cancel()
            for connection in list(server.server_state.connections):
                if connection.transport is not None:
                    connection.transport.abort()
            sock.close()

    @staticmethod
    async def _tick(server: Any) -> None:
        counter = 0
        while True:  # keeps the Date header current, as uvicorn's own main loop does
            await server.on_tick(counter)
            counter += 1
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        """Stop uvicorn and the background threads (idempotent)."""
        if self._server is None:
            return
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)
        if self._thread is not None:
            self._thread.join(timeout=_GRACE_SECONDS + 3)
        self._server = None
        self._loop = self._stop_event = None
        self.sandbox.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ connection

    @property
    def url(self) -> str:
        """Base URL of both the v2 and v3 paths (``host`` == ``files_host``)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else "[::1]" if self.host == "::" else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def company_id(self) -> str:
        """The seeded company (24-hex id)."""
        return self.sandbox.store.company_id

    @property
    def api_key(self) -> str:
        """The API key of the company (Bearer token)."""
        return self.sandbox.store.api_key

    @property
    def connection(self) -> dict[str, Any]:
        """The Airflow connection for this sandbox; ``requests_per_minute`` in real time."""
        rpm: float = self.sandbox.limiter.limit * self.sandbox.time_scale
        if rpm == int(rpm):
            rpm = int(rpm)
        return {
            "conn_type": "nextsign",
            "login": self.company_id,
            "password": self.api_key,
            "host": self.url,
            "extra": {"files_host": self.url, "requests_per_minute": rpm, "timeout": 30},
        }

    @property
    def connection_json(self) -> str:
        """:attr:`connection` as JSON (for ``AIRFLOW_CONN_NEXTSIGN_DEFAULT``)."""
        return json.dumps(self.connection)

    # ------------------------------------------------------------------ control (in-process)

    def sign(self, case_id: str, recipient: str | int | None = None) -> dict[str, Any]:
        """Sign every pending signer of the case (or one recipient by ``_id``, email or index)."""
        return self.sandbox.lifecycle.sign(case_id, recipient)

    def deny(self, case_id: str, recipient: str | int | None = None) -> dict[str, Any]:
        """A recipient (default: the first pending signer) denies the case."""
        return self.sandbox.lifecycle.deny(case_id, recipient)

    def expire(self, case_id: str) -> dict[str, Any]:
        """Expire the case (``settings.availability.isExpired``)."""
        return self.sandbox.lifecycle.expire(case_id)

    def inject_fault(self, operation: str, kind: str, count: int = 1, **options: Any) -> dict[str, Any]:
        """Make the next ``count`` requests of ``operation`` fail with ``kind`` (see faults.KINDS)."""
        return self.sandbox.faults.add(operation, kind, count, **options).as_dict()

    def add_webhook(
        self, url: str, triggers: list[str], headers: dict[str, str] | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """Deliver the ``triggers`` to ``url`` with custom ``headers``."""
        if self.sandbox.webhooks is None:
            raise RuntimeError("webhooks are not available (nextsign_sandbox.webhooks missing)")
        return self.sandbox.webhooks.add(url, triggers, headers=headers, name=name)

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """The delivery log (one dict per attempt)."""
        return list(self.sandbox.webhooks.deliveries) if self.sandbox.webhooks is not None else []

    def seed_cases(self, count: int, **options: Any) -> list[str]:
        """Create ``count`` cases without HTTP or rate budget (see :func:`seed.seed_cases`)."""
        from nextsign_sandbox.seed import seed_cases

        return seed_cases(self.sandbox, count, **options)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings (see :meth:`Sandbox.configure`); returns them all."""
        return self.sandbox.configure(**settings)

    def stats(self) -> dict[str, Any]:
        """API requests so far: ``{"requests", "by_status": {"200": n, "429": n}, "by_operation": {...}}``."""
        return self.sandbox.stats.snapshot()

    def reset_stats(self) -> None:
        """Start counting API requests from zero."""
        self.sandbox.stats.reset()

    def cases(self) -> list[dict[str, Any]]:
        """Every case that is not deleted (full objects, creation order)."""
        return self.sandbox.store.list_cases()
