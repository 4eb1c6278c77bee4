"""Dropping a connection without an answer, for the ``drop`` and ``lost_response`` faults.

ASGI gives an app no way to close the socket before responding (uvicorn would answer 500), so
the sandbox runs uvicorn with an h11 protocol that puts the connection's transport into the
request scope; :func:`drop_connection` aborts it, and the client sees a reset connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

SCOPE_KEY = "nextsign.transport"


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing the transport as ``scope["extensions"]["nextsign.transport"]``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})[SCOPE_KEY] = self.transport
            await inner(scope, receive, send)

        self.app = app

    def connection_made(self, transport: Any) -> None:
        # Without TCP_NODELAY every keep-alive answer waits ~40 ms for the client's delayed ACK
        # (Nagle); asyncio's default loop does not set it on sockets served from a passed-in listener.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


async def drop_connection(scope: Any) -> bool:
    """Abort the request's connection without a response; False when the server cannot do it."""
    transport = (scope.get("extensions") or {}).get(SCOPE_KEY)
    if transport is None:
        return False
    transport.abort()
    # Let connection_lost run so uvicorn marks the cycle disconnected and sends nothing more.
    for _ in range(3):
        await asyncio.sleep(0)
    return True
