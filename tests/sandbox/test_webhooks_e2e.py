"""Webhooks end to end: lifecycle events of the running sandbox reach a local receiver, with duplicates."""

from __future__ import annotations

import time

TRIGGERS = ["case_created", "recipient_signed", "case_signed", "case_denied", "case.expiry.expired"]


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_lifecycle_events_are_delivered_with_headers_and_duplicates(api, nextsign_sandbox, receiver):
    url, received = receiver
    hook = api.control("webhooks", url=url, triggers=TRIGGERS, headers={"X-Webhook-Token": "s3cret"}).json()
    assert hook["webhook"]["triggers"] == TRIGGERS
    api.control("config", duplicates=1)

    signed = api.create(referenceId="hooked")["_id"]
    nextsign_sandbox.sign(signed)
    denied, expired = api.create()["_id"], api.create()["_id"]
    nextsign_sandbox.deny(denied)
    nextsign_sandbox.expire(expired)

    expected = [
        ("case_created", signed),
        ("recipient_signed", signed),
        ("case_signed", signed),
        ("case_created", denied),
        ("case_created", expired),
        ("case_denied", denied),
        ("case.expiry.expired", expired),
    ]
    _wait(lambda: len(received) >= 2 * len(expected))
    events = [(r["body"]["trigger"], r["body"]["case"]["_id"]) for r in received]
    assert sorted(events) == sorted(expected * 2)  # every event twice: at-least-once with a duplicate
    assert all(r["headers"]["X-Webhook-Token"] == "s3cret" for r in received)
    final = next(r["body"]["case"] for r in received if r["body"]["trigger"] == "case_signed")
    assert final == api.case(signed)["case"]  # the case as Case Get shows it
    deliveries = api.get(f"{api.url}/_sandbox/webhooks").json()["deliveries"]
    assert {d["status_code"] for d in deliveries} == {204}
    assert nextsign_sandbox.webhook_deliveries() == deliveries


def test_webhook_registration_errors_and_removal(api, nextsign_sandbox, receiver):
    url, received = receiver
    assert api.control("webhooks", url=url, triggers=["case_exploded"]).status_code == 400
    assert api.control("webhooks", url=url).status_code == 400
    hook = nextsign_sandbox.add_webhook(url, ["case_created"])
    assert api.get(f"{api.url}/_sandbox/webhooks").json()["webhooks"] == [hook]
    removed = api.session.delete(f"{api.url}/_sandbox/webhooks/{hook['id']}", headers=api.auth)
    assert removed.json() == {"status": "removed"}
    assert (
        api.session.delete(f"{api.url}/_sandbox/webhooks/{hook['id']}", headers=api.auth).status_code == 404
    )
    api.create()
    time.sleep(0.1)
    assert received == []


def test_the_control_api_never_shows_custom_header_values(api, receiver):
    url = receiver[0]
    added = api.control(
        "webhooks", url=url, triggers=["case_signed"], headers={"X-Webhook-Token": "s3cret-42"}
    )
    listed = api.get(f"{api.url}/_sandbox/webhooks")
    for answer in (added, listed):
        assert answer.status_code == 200 and "s3cret-42" not in answer.text
    (webhook,) = listed.json()["webhooks"]
    assert webhook["headers"] == {"X-Webhook-Token": "***"}  # the name stays, to check the set-up
