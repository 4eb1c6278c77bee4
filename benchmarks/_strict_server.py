"""A tiny HTTP server that enforces a request budget over a strict rolling window, like NextSign may.

Every GET is answered ``200 {"status": "ok"}`` unless the requests accepted in the last
``60 / time_scale`` real seconds already number ``requests_per_minute``; then it answers ``429`` with
``Retry-After`` (whole seconds of API time, rounded up, until the oldest of them leaves the window)
and ``{"message": "Too many requests"}``. Rejected requests do not count against the window.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StrictRateLimitServer:
    """Strict rolling-window rate limiter on ``http://127.0.0.1:<port>``, served from a background thread.

    :param requests_per_minute: requests accepted per rolling API minute.
    :param time_scale: seconds of API time per real second (60 = one API minute per real second).
    """

    def __init__(self, requests_per_minute: float = 100, *, time_scale: float = 1.0, port: int = 0) -> None:
        if requests_per_minute <= 0 or time_scale <= 0:
            raise ValueError("requests_per_minute and time_scale must be positive")
        self.limit = int(requests_per_minute)
        self.time_scale = float(time_scale)
        self.window = 60.0 / self.time_scale
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()
        self.accepted: list[float] = []
        self.rejected = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> StrictRateLimitServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="strict-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StrictRateLimitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def admit(self, now: float | None = None) -> float | None:
        """Count one request: ``None`` if accepted, else the real seconds until one would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._recent and self._recent[0] <= now - self.window:
                self._recent.popleft()
            if len(self._recent) >= self.limit:
                self.rejected += 1
                return self._recent[0] + self.window - now
            self._recent.append(now)
            self.accepted.append(now)
            return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a real API client's session
            disable_nagle_algorithm = True  # else headers and body in two writes meet delayed ACKs (40 ms)

            def do_GET(self) -> None:
                wait = server.admit()
                if wait is None:
                    self._reply(200, {"status": "ok"})
                else:
                    retry_after = max(1, math.ceil(wait * server.time_scale))
                    self._reply(429, {"message": "Too many requests"}, {"Retry-After": str(retry_after)})

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
