"""Helpers for the sandbox tests: a thin HTTP client speaking only the documented paths."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

RECIPIENT = {"name": "Jane Doe", "email": "jane@example.com", "signing": True}
SETTINGS = {"reminders": {"send": False}, "availability": {"unlimited": True, "days": 10}}


@dataclass
class Api:
    """Raw HTTP calls against a sandbox (no client library, no api/ import)."""

    url: str
    company: str
    key: str
    session: requests.Session

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def v2(self, path: str) -> str:
        return f"{self.url}/api/v2/{self.company}/{path.lstrip('/')}"

    def v3(self, path: str) -> str:
        return f"{self.url}/v3/company/{self.company}/file/{path.lstrip('/')}"

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", self.auth)
        return self.session.get(url, timeout=10, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", self.auth)
        return self.session.post(url, timeout=10, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        """Case Create with a valid body (overridable); returns the contract."""
        body = {
            "title": "Lease",
            "settings": SETTINGS,
            "recipients": [RECIPIENT],
            "documents": [{"name": "lease.pdf", "file": pdf_b64(), "fileIsBlob": True}],
            **fields,
        }
        response = self.post(self.v2("case/create"), json=body)
        assert response.status_code == 200, response.text
        return response.json()["contract"]  # type: ignore[no-any-return]

    def case(self, case_id: str) -> dict[str, Any]:
        return self.get(self.v2(f"case/{case_id}/get")).json()  # type: ignore[no-any-return]

    def control(self, path: str, **body: Any) -> requests.Response:
        return self.post(f"{self.url}/_sandbox/{path.lstrip('/')}", json=body)


def tiny_pdf() -> bytes:
    from nextsign_sandbox.documents import make_pdf

    return make_pdf("Lease", ["A lease."])


def pdf_b64() -> str:
    return base64.b64encode(tiny_pdf()).decode()


@pytest.fixture
def api(nextsign_sandbox: Any) -> Any:
    """An :class:`Api` for the test's sandbox."""
    with requests.Session() as session:
        yield Api(nextsign_sandbox.url, nextsign_sandbox.company_id, nextsign_sandbox.api_key, session)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict]]]:
    """A local endpoint recording every POST (headers and JSON body)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"headers": dict(self.headers), "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
