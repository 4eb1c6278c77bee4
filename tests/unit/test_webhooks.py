"""The webhook receiver's pieces without HTTP or a database: payload, decisions, assets, plugin."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import pytest

from airflow_provider_nextsign.assets import (
    case_event_uri,
    parse_case_event_uri,
    sanitize_uri,
)
from airflow_provider_nextsign.compat import API_SERVER_PLUGINS, ASSETS, PARTITIONED_ASSETS
from airflow_provider_nextsign.webhooks.config import ReceiverSettings, UnknownConnectionError
from airflow_provider_nextsign.webhooks.payload import WebhookPayloadError, parse_delivery
from airflow_provider_nextsign.webhooks.receiver import WebhookReceiver, secret_matches
from airflow_provider_nextsign.webhooks.recorder import RecordResult

CASE = {
    "_id": "657b2ffb0965b111023fb0d1",
    "updatedAt": "2024-02-19T10:52:25.836Z",
    "title": "Lease",
    "referenceId": "dag:run:task:-1",
    "recipients": [{"name": "A"}],
}


def body(**fields) -> bytes:
    return json.dumps({"trigger": "case_signed", "case": CASE, **fields}).encode()


# ---------------------------------------------------------------- payload


def test_delivery_key_and_extra_follow_nextsign_advice():
    delivery = parse_delivery(body())
    assert delivery.dedupe_key == "case_signed:657b2ffb0965b111023fb0d1:2024-02-19T10:52:25.836Z"
    assert delivery.event_extra() == {
        "trigger": "case_signed",
        "case_id": "657b2ffb0965b111023fb0d1",
        "updatedAt": "2024-02-19T10:52:25.836Z",
        "title": "Lease",
        "referenceId": "dag:run:task:-1",
        "dedupe_key": delivery.dedupe_key,
    }


def test_empty_parts_are_left_out_of_the_key_and_flows_use_flow():
    assert parse_delivery(body(case={"_id": 42})).dedupe_key == "case_signed:42"
    flow = parse_delivery(
        json.dumps({"trigger": "webflow.completed", "flow": {"_id": "f1", "updatedAt": "t"}}).encode()
    )
    assert (flow.entity, flow.dedupe_key) == ("flow", "webflow.completed:f1:t")
    assert flow.event_extra()["flow_id"] == "f1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[]", "JSON object"),
        (body(trigger="signed"), "'trigger' must be one of"),
        (body(case="657b"), "needs a 'case' object"),
        (json.dumps({"trigger": "webflow.completed", "case": CASE}).encode(), "needs a 'flow' object"),
        (body(case={"_id": " "}), "'case._id'"),
        (body(case={"_id": True}), "'case._id'"),
        (body(case={"_id": "a", "updatedAt": 1}), "'case.updatedAt'"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_bad_bodies_name_the_field(raw, message):
    with pytest.raises(WebhookPayloadError, match=message):
        parse_delivery(raw)


# ---------------------------------------------------------------- receiver decisions


class Recorder:
    def __init__(self) -> None:
        self.calls: list = []

    def __call__(self, delivery, *, company_id, partition_by_case):
        self.calls.append((delivery.dedupe_key, company_id, partition_by_case))
        return RecordResult("recorded", case_event_uri(company_id, delivery.trigger), (7,))


def settings(secret: str | None = "s3cret", **kw) -> ReceiverSettings:
    return ReceiverSettings(conn_id="nextsign_default", company_id="acme1", secret=secret, **kw)


class Lookup:
    """``settings_for`` over a dict of connections; remembers every lookup (a secrets-backend call)."""

    def __init__(self, **connections: ReceiverSettings | None) -> None:
        self.connections = connections
        self.calls: list[str] = []

    def __call__(self, conn_id: str) -> ReceiverSettings:
        self.calls.append(conn_id)
        found = self.connections.get(conn_id)
        if found is None:
            raise UnknownConnectionError(f"no NextSign connection {conn_id!r}")
        return found


def test_secret_is_checked_before_the_body_is_read():
    recorder = Recorder()
    receiver = WebhookReceiver(lambda conn_id: settings(), recorder)
    for headers in ({}, {"x-webhook-token": "s3cre"}, {"x-webhook-token": "s3cret "}):
        answer = receiver.handle("nextsign_default", headers, b"{not json")
        assert answer.status_code == 401
        assert "s3cret" not in json.dumps(answer.body)
    assert recorder.calls == []


def test_valid_delivery_is_recorded_for_the_connections_company():
    recorder = Recorder()
    receiver = WebhookReceiver(lambda conn_id: settings(partition_by_case=False), recorder)
    answer = receiver.handle("nextsign_default", {"x-webhook-token": "s3cret"}, body())
    assert answer.status_code == 200
    assert answer.body["status"] == "recorded" and answer.body["asset"] == "nextsign://acme1/case_signed"
    assert recorder.calls == [(parse_delivery(body()).dedupe_key, "acme1", False)]


def test_every_refusal_is_the_same_401_and_only_a_request_with_the_header_costs_a_lookup(caplog):
    lookup = Lookup(nextsign_default=settings(), no_secret=settings(secret=None))
    recorder = Recorder()
    receiver = WebhookReceiver(lookup, recorder)
    token = {"x-webhook-token": "s3cret"}
    with caplog.at_level(logging.INFO):
        answers = {
            "no header": receiver.handle("nextsign_default", {}, body()),
            "empty header": receiver.handle("nextsign_default", {"x-webhook-token": ""}, body()),
            "unknown or not NextSign": receiver.handle("nope", token, body()),
            "no secret configured": receiver.handle("no_secret", token, body()),
            "wrong secret": receiver.handle("nextsign_default", {"x-webhook-token": "guess"}, body()),
        }
    assert {(a.status_code, str(a.body)) for a in answers.values()} == {
        (401, "{'message': 'missing or wrong X-Webhook-Token header'}")
    }
    assert lookup.calls == ["nope", "no_secret", "nextsign_default"]  # none without the header
    assert recorder.calls == []
    # The log says why, for the operator of this Airflow; the answer does not, for a prober.
    assert "no NextSign connection 'nope'" in caplog.text and "webhook_secret" in caplog.text
    assert "s3cret" not in caplog.text


def test_the_allow_list_refuses_other_connections_before_any_lookup():
    lookup = Lookup(nextsign_default=settings(), other=settings())
    receiver = WebhookReceiver(lookup, Recorder(), allowed_conn_ids=frozenset({"nextsign_default"}))
    token = {"x-webhook-token": "s3cret"}
    refused = receiver.handle("other", token, body())
    assert (refused.status_code, refused.body) == (
        401,
        {"message": "missing or wrong X-Webhook-Token header"},
    )
    assert receiver.handle("nextsign_default", token, body()).status_code == 200
    assert lookup.calls == ["nextsign_default"]


def test_a_custom_header_name_is_used():
    receiver = WebhookReceiver(Lookup(nextsign_default=settings()), Recorder(), header="X-NextSign-Secret")
    assert receiver.handle("nextsign_default", {"x-webhook-token": "s3cret"}, body()).status_code == 401
    assert receiver.handle("nextsign_default", {"x-nextsign-secret": "s3cret"}, body()).status_code == 200


def test_a_deeply_nested_body_is_a_400_not_a_crash():
    recorder = Recorder()
    nested = b'{"trigger": "case_signed", "case": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    answer = WebhookReceiver(lambda c: settings(), recorder).handle(
        "x", {"x-webhook-token": "s3cret"}, nested
    )
    assert answer.status_code == 400 and "nested" in answer.body["message"]
    assert recorder.calls == []


def test_bad_body_with_the_right_secret_is_400():
    recorder = Recorder()
    answer = WebhookReceiver(lambda c: settings(), recorder).handle("x", {"x-webhook-token": "s3cret"}, b"{}")
    assert answer.status_code == 400 and "'trigger'" in answer.body["message"]
    assert recorder.calls == []


def test_secret_matches():
    assert secret_matches("abc", "abc")
    assert not secret_matches("abd", "abc")
    assert not secret_matches(None, "abc")
    assert secret_matches("æøå", "æøå")


# ---------------------------------------------------------------- assets


def test_asset_uri_round_trip_and_errors():
    uri = case_event_uri("6576e19662ec13c4faa7de7b", "case.expiry.expired")
    assert uri == "nextsign://6576e19662ec13c4faa7de7b/case.expiry.expired"
    assert parse_case_event_uri(uri) == ("6576e19662ec13c4faa7de7b", "case.expiry.expired")
    with pytest.raises(ValueError, match="company_id must be the NextSign company ID"):
        case_event_uri("acme/1")
    with pytest.raises(ValueError, match="trigger must be one of"):
        case_event_uri("acme", "signed")
    with pytest.raises(ValueError, match="nothing else"):
        parse_case_event_uri("nextsign://acme/case_signed?x=1")
    assert sanitize_uri(urlsplit("nextsign://acme/case_signed/")).geturl() == "nextsign://acme/case_signed"


@pytest.mark.skipif(not ASSETS.available, reason=ASSETS.message())
def test_airflow_checks_nextsign_uris_through_the_provider():
    from airflow.sdk import Asset

    from airflow_provider_nextsign.assets import case_event_asset

    assert case_event_asset("acme", name="signed").uri == "nextsign://acme/case_signed"
    with pytest.raises(ValueError, match="trigger must be one of"):
        Asset("nextsign://acme/case_exploded")


@pytest.mark.skipif(ASSETS.available, reason="checks the gate below Airflow 3.1")
def test_assets_say_which_airflow_they_need():
    from airflow_provider_nextsign.assets import case_event_asset

    with pytest.raises(ImportError, match=r"needs Airflow 3\.1 or newer .*NextSignCaseSensor"):
        case_event_asset("acme")


# ---------------------------------------------------------------- plugin


@pytest.fixture
def plugin_apps():
    from airflow_provider_nextsign.webhooks.plugin import NextSignWebhookPlugin, _apps

    _apps.cache_clear()
    yield lambda: NextSignWebhookPlugin().fastapi_apps
    _apps.cache_clear()


def test_plugin_mounts_nothing_unless_enabled(plugin_apps, monkeypatch):
    monkeypatch.delenv("AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER", raising=False)
    assert plugin_apps() == []


@pytest.mark.skipif(not API_SERVER_PLUGINS.available, reason=API_SERVER_PLUGINS.message())
def test_enabled_plugin_mounts_the_receiver_under_nextsign(plugin_apps, monkeypatch):
    monkeypatch.setenv("AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER", "True")
    (app,) = plugin_apps()
    assert app["url_prefix"] == "/nextsign"
    paths = {route.path for route in app["app"].routes}
    assert {"/webhooks", "/webhooks/{conn_id}"} <= paths


@pytest.mark.skipif(API_SERVER_PLUGINS.available, reason="checks the gate below Airflow 3.1")
def test_enabled_plugin_without_api_server_plugins_says_which_airflow_it_needs(
    plugin_apps, monkeypatch, caplog
):
    monkeypatch.setenv("AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER", "True")
    with caplog.at_level(logging.WARNING):
        assert plugin_apps() == []
    assert API_SERVER_PLUGINS.message() in caplog.text
    assert "needs Airflow 3.1 or newer" in caplog.text


@pytest.mark.skipif(
    PARTITIONED_ASSETS.available or not API_SERVER_PLUGINS.available,
    reason="checks the receiver on Airflow 3 without partitioned assets (3.1)",
)
def test_receiver_without_partitions_loads_and_says_so_once(plugin_apps, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER", "True")
    with caplog.at_level(logging.WARNING):
        (app,) = plugin_apps()
        assert plugin_apps() == [app]  # asked again: same app, no second log line
    assert app["url_prefix"] == "/nextsign"
    lines = [r.getMessage() for r in caplog.records if "Partitioned assets" in r.getMessage()]
    assert len(lines) == 1
    assert "needs Airflow 3.2 or newer" in lines[0]
    assert "records events without a partition key" in lines[0]


@pytest.mark.skipif(not PARTITIONED_ASSETS.available, reason=PARTITIONED_ASSETS.message())
def test_receiver_with_partitions_loads_without_a_warning(plugin_apps, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER", "True")
    with caplog.at_level(logging.WARNING):
        assert len(plugin_apps()) == 1
    assert "Partitioned assets" not in caplog.text


def test_case_ids_from_events_reads_receiver_and_watcher_events():
    from types import SimpleNamespace

    from airflow_provider_nextsign.assets import case_ids_from_events

    receiver = [SimpleNamespace(extra={"case_id": "b", "trigger": "case_signed"})]
    watcher = [SimpleNamespace(extra={"from_trigger": True, "payload": {"case_ids": ["a", "b"]}})]
    other = [SimpleNamespace(extra={}), SimpleNamespace(extra={"payload": "text"})]
    assert case_ids_from_events({"x": receiver, "y": watcher, "z": other}) == ["a", "b"]
    assert case_ids_from_events(None) == []
