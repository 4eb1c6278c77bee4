"""The sandbox's webhook dispatcher against a real local HTTP receiver."""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from nextsign_sandbox.webhooks import TRIGGERS, WebhookDispatcher

# 120 API seconds (the first retry delay) pass in 50 ms of real time.
FAST = 120 / 0.05
CASE = {"_id": "657b2ffb0965b111023fb0d1", "title": "Lease", "updatedAt": "2024-02-19T10:52:25.836Z"}


@dataclass
class Receiver:
    """A local webhook endpoint answering with scripted status codes (200 once the script ends)."""

    url: str
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def times(self) -> list[float]:
        return [request["at"] for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.requests.append(
                    {"at": time.monotonic(), "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status = state.statuses.pop(0) if state.statuses else 200
            if state.delay:
                time.sleep(state.delay)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dispatcher() -> Iterator[WebhookDispatcher]:
    with WebhookDispatcher(time_scale=FAST, timeout=2.0) as instance:
        yield instance


def test_delivers_body_and_headers(receiver: Receiver, dispatcher: WebhookDispatcher) -> None:
    webhook = dispatcher.add(
        receiver.url, ["case_signed"], headers={"X-Webhook-Token": "s3cret", "X-Other": "A b"}, name="crm"
    )
    assert webhook["triggers"] == ["case_signed"]
    assert webhook["name"] == "crm"
    case = json.loads(json.dumps(CASE))
    case["recipients"] = [{"name": "Anne", "signed": "signed"}]

    dispatcher.emit("case_signed", case)
    case["title"] = "changed after emit"
    case["recipients"][0]["name"] = "changed after emit"

    assert dispatcher.flush(5)
    assert dispatcher.pending() == 0
    [request] = receiver.requests
    assert request["path"] == "/hook"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Webhook-Token"] == "s3cret"
    assert request["headers"]["X-Other"] == "A b"
    payload = json.loads(request["body"])
    assert payload == {
        "trigger": "case_signed",
        "case": {**CASE, "recipients": [{"name": "Anne", "signed": "signed"}]},
    }
    [entry] = dispatcher.deliveries
    assert entry["webhook_id"] == webhook["id"]
    assert (entry["trigger"], entry["case_id"], entry["attempt"]) == ("case_signed", CASE["_id"], 1)
    assert (entry["status_code"], entry["error"]) == (200, None)
    assert abs(entry["at"] - time.time()) < 60


def test_retries_with_doubling_gaps_until_success(receiver: Receiver, dispatcher: WebhookDispatcher) -> None:
    receiver.statuses = [500, 500, 503]
    dispatcher.configure(time_scale=120 / 0.1)
    dispatcher.add(receiver.url, ["case_created"])

    dispatcher.emit("case_created", CASE)

    assert dispatcher.flush(5)
    assert len(receiver.requests) == 4
    assert [(d["attempt"], d["status_code"]) for d in dispatcher.deliveries] == [
        (1, 500),
        (2, 500),
        (3, 503),
        (4, 200),
    ]
    assert dispatcher.deliveries[0]["error"] == "HTTP 500"
    times = receiver.times()
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # 2, 4 and 8 API minutes at 1200x: 100, 200 and 400 ms after each failure, never sooner.
    for gap, expected in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert gap >= expected * 0.98
    assert gaps[0] < gaps[1] < gaps[2]


def test_gives_up_after_max_attempts(receiver: Receiver, dispatcher: WebhookDispatcher) -> None:
    receiver.statuses = [500] * 10
    dispatcher.configure(max_attempts=3, base_delay=1.0)
    dispatcher.add(receiver.url, ["case_denied"])

    dispatcher.emit("case_denied", CASE)

    assert dispatcher.flush(5)
    assert len(receiver.requests) == 3
    assert [d["attempt"] for d in dispatcher.deliveries] == [1, 2, 3]
    assert all(d["status_code"] == 500 for d in dispatcher.deliveries)
    assert dispatcher.pending() == 0


def test_unreachable_and_timeout_count_as_failures(receiver: Receiver, dispatcher: WebhookDispatcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    dispatcher.configure(max_attempts=2, base_delay=1.0, timeout=0.2)
    dispatcher.add(f"http://127.0.0.1:{closed_port}/hook", ["case_signed"])
    receiver.delay = 0.5
    dispatcher.add(receiver.url, ["case_signed"])

    dispatcher.emit("case_signed", CASE)

    assert dispatcher.flush(5)
    assert len(dispatcher.deliveries) == 4
    errors = sorted(d["error"] for d in dispatcher.deliveries)
    assert all(d["status_code"] is None for d in dispatcher.deliveries)
    assert errors[:2] == ["ConnectionError: connection failed"] * 2
    assert errors[2:] == ["timeout after 0.2 s"] * 2


def test_duplicates_resend_successful_deliveries(receiver: Receiver, dispatcher: WebhookDispatcher) -> None:
    dispatcher.configure(duplicates=2)
    receiver.statuses = [500]
    dispatcher.add(receiver.url, ["recipient_signed"])

    dispatcher.emit("recipient_signed", CASE)

    assert dispatcher.flush(5)
    assert len(receiver.requests) == 4  # one failure, the success, two duplicates
    assert len({request["body"] for request in receiver.requests}) == 1
    assert [(d["attempt"], d["duplicate"]) for d in dispatcher.deliveries] == [
        (1, False),
        (2, False),
        (2, True),
        (2, True),
    ]


def test_only_subscribed_webhooks_receive(receiver: Receiver, dispatcher: WebhookDispatcher) -> None:
    signed = dispatcher.add(receiver.url + "?for=signed", ["case_signed", "case.expiry.expired"])
    dispatcher.add(receiver.url + "?for=created", ["case_created"])

    dispatcher.emit("case.expiry.expired", CASE)
    dispatcher.emit("case_denied", CASE)  # nobody subscribed
    assert dispatcher.flush(5)

    assert [request["path"] for request in receiver.requests] == ["/hook?for=signed"]
    assert json.loads(receiver.requests[0]["body"])["trigger"] == "case.expiry.expired"

    assert dispatcher.remove(signed["id"]) is True
    assert dispatcher.remove(signed["id"]) is False
    dispatcher.emit("case_signed", CASE)
    assert dispatcher.flush(5)
    assert len(receiver.requests) == 1
    assert [webhook["url"] for webhook in dispatcher.list()] == [receiver.url + "?for=created"]


def test_remove_drops_queued_retries(receiver: Receiver) -> None:
    # Real-time schedule: the retry would come 2 minutes later.
    with WebhookDispatcher(time_scale=1.0) as dispatcher:
        receiver.statuses = [500]
        webhook = dispatcher.add(receiver.url, ["case_signed"])
        dispatcher.emit("case_signed", CASE)
        deadline = time.monotonic() + 5
        while not dispatcher.deliveries and time.monotonic() < deadline:
            time.sleep(0.01)
        assert dispatcher.pending() == 1
        assert dispatcher.flush(0.05) is False

        dispatcher.remove(webhook["id"])

        assert dispatcher.flush(1)
        assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("triggers", "bad"),
    [(["case_signed", "case.signed"], "'case.signed'"), (["recipient-signed"], "'recipient-signed'")],
)
def test_add_rejects_unknown_triggers(dispatcher: WebhookDispatcher, triggers: list[str], bad: str) -> None:
    with pytest.raises(ValueError, match="unknown webhook trigger") as excinfo:
        dispatcher.add("http://127.0.0.1:9/hook", triggers)
    message = str(excinfo.value)
    assert bad in message
    assert all(trigger in message for trigger in TRIGGERS)
    assert dispatcher.list() == []


def test_invalid_input_is_rejected(dispatcher: WebhookDispatcher) -> None:
    with pytest.raises(ValueError, match="at least one"):
        dispatcher.add("http://127.0.0.1:9/hook", [])
    with pytest.raises(ValueError, match="webhook url"):
        dispatcher.add("127.0.0.1:9/hook", ["case_signed"])
    with pytest.raises(ValueError, match="unknown webhook trigger 'case_sent'"):
        dispatcher.emit("case_sent", CASE)
    with pytest.raises(ValueError, match="max_attempts must be an integer >= 1"):
        dispatcher.configure(max_attempts=0)
    with pytest.raises(ValueError, match="unknown webhook setting"):
        dispatcher.configure(retries=3)
    with pytest.raises(ValueError, match="'X-Token' needs") as excinfo:
        dispatcher.add("http://127.0.0.1:9/hook", ["case_signed"], headers={"X-Token": "secret\r\nX-Evil: 1"})
    assert "secret" not in str(excinfo.value)
    # A single trigger given as a plain string is one trigger, not its letters.
    assert dispatcher.add("http://127.0.0.1:9/hook", "case_signed")["triggers"] == ["case_signed"]  # type: ignore[arg-type]


def test_header_values_never_logged(
    receiver: Receiver, dispatcher: WebhookDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nextsign_sandbox.webhooks")
    receiver.statuses = [500]
    dispatcher.configure(max_attempts=2)
    dispatcher.add(receiver.url, ["case_signed"], headers={"X-Webhook-Token": "top-secret-value"})
    dispatcher.emit("case_signed", CASE)
    assert dispatcher.flush(5)
    assert "attempt 1 failed" in caplog.text
    assert "top-secret-value" not in caplog.text


def test_close_drops_queue_and_emit_restarts(receiver: Receiver) -> None:
    dispatcher = WebhookDispatcher(time_scale=1.0)
    receiver.statuses = [500]
    dispatcher.add(receiver.url, ["case_signed"])
    dispatcher.emit("case_signed", CASE)
    deadline = time.monotonic() + 5
    while not dispatcher.deliveries and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dispatcher.pending() == 1  # the retry, 2 real minutes away

    dispatcher.close()
    assert dispatcher.pending() == 0

    dispatcher.emit("case_created", CASE)  # nobody subscribed: no thread needed
    dispatcher.emit("case_signed", CASE)
    assert dispatcher.flush(5)
    dispatcher.close()
    assert [json.loads(r["body"])["trigger"] for r in receiver.requests] == ["case_signed"] * 2
    assert [d["status_code"] for d in dispatcher.deliveries] == [500, 200]
