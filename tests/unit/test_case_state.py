"""Case state derived from a case body: the one rule the sensor, trigger and reports share."""

from __future__ import annotations

import pytest

from airflow_provider_nextsign.api.cases import CaseState, case_state, signed_documents


def _case(*signed, expired=False, case_status=None, signing=None):
    recipients = [
        {"name": f"r{i}", "signed": value, "signing": True if signing is None else signing[i]}
        for i, value in enumerate(signed)
    ]
    case = {"_id": "c1", "recipients": recipients, "settings": {"availability": {"isExpired": expired}}}
    if case_status:
        case["case_status"] = case_status
    return case


@pytest.mark.parametrize(
    ("case", "state"),
    [
        (None, CaseState.DELETED),
        ({"message": "Case not found"}, CaseState.DELETED),
        (_case("pending", "pending"), CaseState.PENDING),
        (_case("signed", "pending"), CaseState.IN_PROGRESS),
        (_case("signed", "signed"), CaseState.SIGNED),
        (_case("signed", "pending", signing=[True, False]), CaseState.SIGNED),  # receive-only recipient
        (_case("signed", "denied"), CaseState.DENIED),
        (_case("rejected"), CaseState.DENIED),
        (_case("pending", expired=True), CaseState.EXPIRED),
        (_case("pending", case_status="expired"), CaseState.EXPIRED),
        (_case("signed", expired=True), CaseState.SIGNED),  # completion wins over expiry
        ({"_id": "c1"}, CaseState.PENDING),
    ],
)
def test_case_state(case, state):
    assert case_state(case) is state


def test_terminal_and_failure_flags():
    assert [s.value for s in CaseState if s.is_terminal] == ["signed", "denied", "expired", "deleted"]
    assert [s.value for s in CaseState if s.is_failure] == ["denied", "expired", "deleted"]


def test_signed_documents():
    case = {
        "_id": "c",
        "signedDocuments": [{"name": "a.pdf", "file": "https://s/a.pdf"}, {"name": "no file"}],
    }
    assert signed_documents(case) == [{"name": "a.pdf", "file": "https://s/a.pdf"}]
    assert signed_documents(None) == []
