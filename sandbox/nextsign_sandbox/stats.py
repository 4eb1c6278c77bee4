"""Request counters of the sandbox: ``GET /_sandbox/stats`` answers them, ``DELETE`` resets them.

Every request to a NextSign API endpoint is counted once its answer is known, whatever it is (401 and
429 too): by HTTP status, and by operation (``case_create``, ``forms_get``, ...). A connection dropped by
a ``drop`` or ``lost_response`` fault counts as status ``"dropped"``. The control routes under
``/_sandbox`` and pre-signed downloads (no API key, no rate limit) are not API requests and not counted.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

#: Where :func:`~nextsign_sandbox.guard.open_call` leaves the operation of a request.
OPERATION_KEY = "nextsign_operation"
_COUNTED_KEY = "nextsign_counted"


class RequestStats:
    """Thread-safe counters of API requests by status and by operation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_status: Counter[str] = Counter()
        self._by_operation: Counter[str] = Counter()

    def record(self, operation: str, status: str) -> None:
        """Count one answered (or dropped) request."""
        with self._lock:
            self._by_status[status] += 1
            self._by_operation[operation] += 1

    def snapshot(self) -> dict[str, Any]:
        """``{"requests": n, "by_status": {"200": n, "429": n, ...}, "by_operation": {...}}``."""
        with self._lock:
            return {
                "requests": sum(self._by_status.values()),
                "by_status": dict(sorted(self._by_status.items())),
                "by_operation": dict(sorted(self._by_operation.items())),
            }

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._by_status.clear()
            self._by_operation.clear()


def count(stats: RequestStats, scope: Any, status: str) -> None:
    """Record the request of ``scope`` once (if it reached an API endpoint), before the client can see
    its answer or its dropped connection: a client reading the stats next finds its request counted."""
    state = scope.setdefault("state", {})
    operation = state.get(OPERATION_KEY)
    if operation is not None and not state.get(_COUNTED_KEY):
        state[_COUNTED_KEY] = True
        stats.record(operation, status)


class CountRequests:
    """ASGI middleware: count each API request when its answer starts (or when it ends unanswered)."""

    def __init__(self, app: Any, stats: RequestStats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_counted(message: Any) -> None:
            if message["type"] == "http.response.start":
                count(self.stats, scope, str(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            count(self.stats, scope, "dropped")  # no answer was started (a no-op when one was)
