"""The probe's HTTP session: every request is counted, capped and recorded with its raw answer.

The probe talks to NextSign through the provider's own :class:`NextSignClient` (so it exercises the
provider's URLs, classification and shape readers); the client sends through this session, which lets
the probe see what the client does not return: the HTTP status, the raw body and the time taken. The
cap is hard: a request past it is never sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

__all__ = ["Exchange", "ProbeBudgetSpent", "ProbeSession"]

#: No run of the probe sends more HTTP requests than this (API calls and the pre-signed download).
MAX_REQUESTS = 30


class ProbeBudgetSpent(Exception):
    """The probe's request cap was reached; the request was not sent."""


@dataclass
class Exchange:
    """One request the probe sent and what came back (``status`` None: no answer)."""

    method: str
    url: str
    status: int | None = None
    body: Any = None
    seconds: float = 0.0
    authorized: bool = False


class ProbeSession(requests.Session):
    """A ``requests.Session`` that counts and records every request and refuses those past ``limit``.

    :param limit: requests allowed so far (the runner raises it for the clean-up phase, never above
        :data:`MAX_REQUESTS`).
    """

    def __init__(self, limit: int = MAX_REQUESTS) -> None:
        super().__init__()
        self.limit = limit
        self.sent = 0
        self.exchanges: list[Exchange] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send ``request`` unless the cap is reached; record its status, JSON body and duration."""
        if self.sent >= min(self.limit, MAX_REQUESTS):
            raise ProbeBudgetSpent(f"the probe's cap of {min(self.limit, MAX_REQUESTS)} requests is reached")
        self.sent += 1
        exchange = Exchange(
            str(request.method), str(request.url), authorized="Authorization" in request.headers
        )
        self.exchanges.append(exchange)
        started = time.monotonic()
        try:
            response = super().send(request, **kwargs)
        finally:
            exchange.seconds = time.monotonic() - started
        exchange.status = response.status_code
        if kwargs.get("stream"):
            return response  # a download: its bytes are read by the caller
        try:
            exchange.body = response.json()
        except ValueError:
            exchange.body = response.text or None
        return response
