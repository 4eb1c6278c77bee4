"""The probe's parts on their own: the host guard, the request cap, redaction, the table, the command line."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_provider_nextsign.probe.guard import ProbeRefused, check_hosts
from airflow_provider_nextsign.probe.redaction import Redactor, host_of
from airflow_provider_nextsign.probe.transport import MAX_REQUESTS, ProbeBudgetSpent, ProbeSession

from .conftest import API_KEY, COMPANY

TEST = "https://test.nextsign.dk"


@pytest.mark.parametrize(
    "host",
    [TEST, "http://127.0.0.1:8080", "http://localhost:5000", "http://[::1]:9000"],
)
def test_the_test_environment_and_loopback_may_be_probed(host):
    assert check_hosts(host, host, allow_production=False) == (True, "")


@pytest.mark.parametrize(
    "host",
    [
        "https://www.nextsign.dk",
        "http://test.nextsign.dk",
        "https://test.nextsign.dk.evil.example",
        "https://10.0.0.5",
    ],
)
def test_any_other_host_is_refused_unless_the_caller_says_production(host):
    with pytest.raises(ProbeRefused, match=r"https://test\.nextsign\.dk.*--i-know-this-is-production"):
        check_hosts(host, TEST, allow_production=False)
    assert check_hosts(host, host, allow_production=True) == (True, "")


def test_file_checks_need_a_files_host_known_to_be_the_test_environment():
    assert check_hosts(TEST, "https://files.test.nextsign.dk", allow_production=False) == (True, "")
    allowed, reason = check_hosts(TEST, "https://api.nextsign.dk", allow_production=False)
    assert not allowed and "https://api.nextsign.dk" in reason and "files_host" in reason


def test_a_production_host_is_refused_before_any_request(requests_mock, tmp_path):
    from airflow_provider_nextsign.probe import probe

    kwargs = {"company_id": COMPANY, "api_key": API_KEY, "host": "https://www.nextsign.dk"}
    with pytest.raises(ProbeRefused):
        probe(kwargs, state_dir=tmp_path, progress=None)
    assert requests_mock.call_count == 0
    assert list(tmp_path.iterdir()) == []


def test_the_session_never_sends_past_its_cap(requests_mock):
    requests_mock.get("https://x.test/a", json={"ok": True})
    session = ProbeSession(limit=2)
    session.get("https://x.test/a")
    session.get("https://x.test/a")
    with pytest.raises(ProbeBudgetSpent):
        session.get("https://x.test/a")
    session.limit = 10 * MAX_REQUESTS  # never above the hard cap
    for _ in range(MAX_REQUESTS - 2):
        session.get("https://x.test/a")
    with pytest.raises(ProbeBudgetSpent):
        session.get("https://x.test/a")
    assert requests_mock.call_count == session.sent == MAX_REQUESTS
    assert [e.status for e in session.exchanges] == [200] * MAX_REQUESTS
    assert session.exchanges[0].body == {"ok": True}


def test_ids_become_length_and_a_hash_keyed_per_run():
    first, second = Redactor(), Redactor()
    token = first.id_token(COMPANY)
    assert token.startswith("<id len:24 #") and COMPANY not in token
    assert first.id_token(COMPANY) == token != second.id_token(COMPANY)


@pytest.mark.parametrize(
    ("key", "kept"),
    [("signedUrl", True), ("_id", True), (COMPANY, False), ("jane@example.com", False), ("a/b", False)],
)
def test_keys_that_look_like_data_are_hidden(key, kept):
    assert (Redactor().key_name(key) == key) is kept


def test_the_shape_of_an_answer_has_keys_and_types_only():
    body = {"case": {"_id": COMPANY, "recipients": [{"email": "jane@example.com", "signed": "pending"}] * 2}}
    shape = Redactor().shape(body)
    assert shape == "{case: {_id: str, recipients: [{email: str, signed: str}, …] (2)}}"
    assert Redactor().shape({"a": {"b": {"c": {"d": {"e": 1}}}}}) == "{a: {b: {c: {d: {…}}}}}"  # depth 4


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://user:pw@test.nextsign.dk/api/v2/{COMPANY}/cases/get?x=1", "https://test.nextsign.dk"),
        ("http://127.0.0.1:8080/storage/a.pdf?sig=1", "http://127.0.0.1:8080"),
        ("test.nextsign.dk/api", "https://test.nextsign.dk"),
    ],
)
def test_urls_become_scheme_and_host(url, shown):
    assert host_of(url) == shown


def test_the_table_names_every_assumption_and_the_differences():
    from airflow_provider_nextsign.probe import ASSUMPTIONS, ProbeReport, Verdict, render_table
    from airflow_provider_nextsign.probe.report import Finding, Row

    report = ProbeReport(hosts={"api": TEST, "files": TEST}, requests=3)
    report.rows.append(Row("case_create", "Case Create", 200, ["data"], None, 0.25, "ok", "{data: {…}}"))
    report.rows[0].verdicts["create-envelope"] = "differs"
    report.findings["create-envelope"] = Finding("create-envelope", Verdict.DIFFERS, "the new case in data")

    table = render_table(report)

    assert all(a.id in table for a in ASSUMPTIONS)
    assert "create-envelope: differs" in table
    assert "Differences from docs/live-api.md: create-envelope (differs)" in table
    assert report.to_dict()["differences"] == {"create-envelope": "differs"}


def _conn(monkeypatch, host):
    conn = {"conn_type": "nextsign", "login": COMPANY, "password": API_KEY, "host": host}
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_TEST", json.dumps(conn))


def test_the_command_refuses_production_with_exit_code_2(monkeypatch, requests_mock, capsys, tmp_path):
    from airflow_provider_nextsign.probe.cli import main

    _conn(monkeypatch, "https://www.nextsign.dk")

    assert main(["--conn-id", "nextsign_test", "--state-dir", str(tmp_path)]) == 2
    assert "https://test.nextsign.dk" in capsys.readouterr().err
    assert requests_mock.call_count == 0


def test_the_command_names_a_missing_connection(capsys):
    from airflow_provider_nextsign.probe.cli import main

    assert main(["--conn-id", "no_such_connection"]) == 2
    assert "no_such_connection" in capsys.readouterr().err


def test_the_command_reports_an_unreachable_host(monkeypatch, capsys, tmp_path):
    from airflow_provider_nextsign.probe.cli import main

    _conn(monkeypatch, "http://127.0.0.1:9")  # nothing listens on the discard port

    assert main(["--conn-id", "nextsign_test", "--state-dir", str(tmp_path), "--quiet"]) == 2
    assert "could not be reached" in capsys.readouterr().out


def test_requests_stay_a_plain_session():
    assert isinstance(ProbeSession(), requests.Session)
