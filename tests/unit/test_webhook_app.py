"""The receiver app over real HTTP (uvicorn on loopback), with a fake connection lookup and recorder.

What only the HTTP layer can show: the answer to a request without the secret comes before its body
is read, a sender that stalls is cut off, and every refusal looks the same on the wire.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

pytest.importorskip("fastapi")

from airflow_provider_nextsign.webhooks.app import create_app
from airflow_provider_nextsign.webhooks.config import ReceiverSettings
from tests.e2e.test_webhook_receiver import serve

from .test_webhooks import Lookup, Recorder, body

TOKEN = "s3cret-token"


def settings(secret: str | None = TOKEN) -> ReceiverSettings:
    return ReceiverSettings(conn_id="nextsign_default", company_id="acme1", secret=secret)


def receiver_app(lookup: Lookup, **kwargs):
    return create_app(lookup, Recorder(), header="X-Webhook-Token", **kwargs)


def open_chunked_post(base: str, path: str, headers: dict[str, str]) -> socket.socket:
    """Send a chunked POST's head and leave the body to the caller (so it can stall or never finish)."""
    where = urlsplit(base)
    sock = socket.create_connection((where.hostname, where.port), timeout=5)
    head = [f"POST {path} HTTP/1.1", f"Host: {where.hostname}", "Content-Type: application/json"]
    head += ["Transfer-Encoding: chunked", *(f"{name}: {value}" for name, value in headers.items())]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    return sock


def send_chunk(sock: socket.socket, data: bytes) -> None:
    sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))


def status_of(sock: socket.socket) -> int:
    """The status of the answer; socket.timeout (a failed test) if none comes within 5 s."""
    data = b""
    while b"\r\n" not in data:
        part = sock.recv(4096)
        assert part, f"connection closed without an answer: {data!r}"
        data += part
    return int(data.split(b" ", 2)[1])


def test_without_the_secret_the_answer_comes_before_the_body_and_no_lookup_is_made():
    lookup = Lookup(nextsign_default=settings())
    with serve(receiver_app(lookup)) as url:
        sock = open_chunked_post(url, "/webhooks", {})
        send_chunk(sock, b'{"trigger": "case_signed", "case": {"_id": "' + b"a" * 1000)
        # The body never ends: only a receiver that answers before reading it can answer at all.
        with sock:
            assert status_of(sock) == 401
    assert lookup.calls == []


def test_a_sender_that_stalls_is_cut_off_with_408():
    lookup = Lookup(nextsign_default=settings())
    with serve(receiver_app(lookup, body_timeout=0.3)) as url:
        sock = open_chunked_post(url, "/webhooks", {"X-Webhook-Token": TOKEN})
        send_chunk(sock, b'{"trigger": "case_signed", ')
        with sock:
            assert status_of(sock) == 408
    assert lookup.calls == ["nextsign_default"]


def test_every_refusal_looks_the_same_on_the_wire():
    lookup = Lookup(nextsign_default=settings(), no_secret=settings(secret=None))
    data = body()
    with serve(receiver_app(lookup)) as url:
        answers = [
            requests.post(f"{url}/webhooks", data=data, timeout=5),
            requests.post(f"{url}/webhooks", data=data, headers={"X-Webhook-Token": "guess"}, timeout=5),
            requests.post(f"{url}/webhooks/nope", data=data, headers={"X-Webhook-Token": TOKEN}, timeout=5),
            requests.post(
                f"{url}/webhooks/no_secret", data=data, headers={"X-Webhook-Token": TOKEN}, timeout=5
            ),
        ]
        accepted = requests.post(f"{url}/webhooks", data=data, headers={"X-Webhook-Token": TOKEN}, timeout=5)
    assert {(a.status_code, a.content, a.headers["content-length"]) for a in answers} == {
        (401, b'{"message":"missing or wrong X-Webhook-Token header"}', "53")
    }
    assert accepted.status_code == 200


def test_a_deeply_nested_body_is_answered_400():
    nested = b'{"trigger": "case_signed", "case": ' + b"[" * 300_000 + b"]" * 300_000 + b"}"
    with serve(receiver_app(Lookup(nextsign_default=settings()))) as url:
        answer = requests.post(f"{url}/webhooks", data=nested, headers={"X-Webhook-Token": TOKEN}, timeout=10)
    assert answer.status_code == 400 and "nested too deeply" in json.loads(answer.content)["message"]
