"""The probe against the sandbox in each answer profile: exactly that profile's differences, within 30
requests, nothing left behind, nothing printed that a NextSign answer or request held."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import urlsplit

import pytest

from airflow_provider_nextsign.probe import ASSUMPTIONS, run_probe
from airflow_provider_nextsign.probe import runner as runner_module
from airflow_provider_nextsign.probe.document import MARKER
from airflow_provider_nextsign.probe.transport import MAX_REQUESTS, ProbeSession

#: What each sandbox profile answers differently from the documented shapes (docs/live-api.md).
EXPECTED_DIFFERENCES = {
    "docs": {},
    "production": {
        "create-envelope": "differs",  # {"data": {...}}, no status
        "visibility": "differs",  # Case Get misses the new case for 3 s
        "list-items": "differs",  # summaries with nextSignKey and referenceId
        "convert-path": "differs",  # only /api/v1 answers
    },
    "rich": {
        "list-items": "differs",  # full cases
        "multiple-items": "differs",  # full cases
    },
}
EXPECTED_PROFILE = {
    "docs": {"convert_api_version": "v2", "get_multiple_items": "summary"},
    "production": {"convert_api_version": "v1", "get_multiple_items": "summary"},
    "rich": {"convert_api_version": "v2", "get_multiple_items": "full"},
}
FAST = pytest.mark.nextsign_sandbox(requests_per_minute=6000)


def _marked(sandbox) -> list[dict]:
    return [case for case in sandbox.cases() if str(case.get("title", "")).startswith(MARKER)]


@pytest.fixture
def recorded(monkeypatch):
    """Every ProbeSession the probe makes, kept for the test to read what was sent and answered."""
    sessions: list[ProbeSession] = []

    class Recorded(ProbeSession):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            sessions.append(self)

    monkeypatch.setattr(runner_module, "ProbeSession", Recorded)
    return sessions


@FAST
@pytest.mark.parametrize("nextsign_sandbox_profile", ["docs", "production", "rich"])
def test_the_probe_names_exactly_the_profiles_differences(
    nextsign_sandbox, nextsign_sandbox_profile, tmp_path, recorded
):
    nextsign_sandbox.seed_cases(3)  # paging and order need a few cases
    table = io.StringIO()

    report = run_probe(
        "nextsign_default",
        form_id=nextsign_sandbox.form_id,
        json_file=tmp_path / "probe.json",
        state_dir=tmp_path / "state",
        out=table,
        progress=io.StringIO(),
    )

    assert report["differences"] == EXPECTED_DIFFERENCES[nextsign_sandbox_profile]
    verdicts = {a["id"]: a["verdict"] for a in report["assumptions"]}
    assert set(verdicts) == {a.id for a in ASSUMPTIONS}
    assert [k for k, v in verdicts.items() if v == "not checked"] == ["signed-copies"]  # needs a signer
    assert report["api_profile"] == EXPECTED_PROFILE[nextsign_sandbox_profile]
    assert json.loads((tmp_path / "probe.json").read_text()) == report
    # At most 30 requests, counted by the sandbox too (it does not count downloads or unserved paths).
    (session,) = recorded
    assert report["requests"]["sent"] == session.sent == len(session.exchanges) <= MAX_REQUESTS
    assert nextsign_sandbox.stats()["requests"] <= report["requests"]["sent"]
    # It created one case and deleted it; its ledger is gone.
    assert report["cleanup"] == {
        "created": 1,
        "deleted": 1,
        "left": [],
        "swept": 0,
        "ledger": "state file",
    }
    assert _marked(nextsign_sandbox) == []
    assert len(nextsign_sandbox.cases()) == 3
    assert list((tmp_path / "state").glob("probe-*.json")) == []
    assert "Differences from docs/live-api.md:" in table.getvalue()


def _sensitive(sandbox, sessions) -> set[str]:
    """Values no output may show: the key, the company, and every id, e-mail, URL and URL path seen."""
    found = {sandbox.api_key, sandbox.company_id, sandbox.form_id}

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            if "@" in value or "://" in value or re.fullmatch(r"[0-9a-f]{24}", value):
                found.add(value)
            if "://" in value:
                found.add(urlsplit(value).path)
            found.update(re.findall(r"[0-9a-f]{12,}", value))  # ids inside titles and references

    for session in sessions:
        for exchange in session.exchanges:
            parts = urlsplit(exchange.url)
            found.update({parts.path, exchange.url})
            found.update(re.findall(r"[0-9a-f]{12,}", parts.path))
            walk(exchange.body)
    found.add("probe@example.com")
    return {value for value in found if value and value != "/"}


@FAST
@pytest.mark.parametrize("nextsign_sandbox_profile", ["docs", "production"])
def test_the_output_holds_no_key_id_email_or_url_path(
    nextsign_sandbox, nextsign_sandbox_profile, tmp_path, recorded
):
    nextsign_sandbox.seed_cases(3)
    table, progress = io.StringIO(), io.StringIO()

    run_probe(
        "nextsign_default",
        form_id=nextsign_sandbox.form_id,
        json_file=tmp_path / "probe.json",
        state_dir=tmp_path / "state",
        out=table,
        progress=progress,
    )

    printed = table.getvalue() + progress.getvalue() + (tmp_path / "probe.json").read_text()
    secrets = _sensitive(nextsign_sandbox, recorded)
    assert len(secrets) > 20  # ids, URLs and paths were really seen
    assert sorted(value for value in secrets if value in printed) == []
    assert "/api/" not in printed and "/v3/" not in printed and "@" not in printed
    assert nextsign_sandbox.url in printed  # the host, scheme and port are shown


@FAST
def test_the_probes_api_profile_saves_get_multiple_in_get_full_cases(nextsign_sandbox, tmp_path, monkeypatch):
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    ids = nextsign_sandbox.seed_cases(3)
    report = run_probe("nextsign_default", state_dir=tmp_path / "state", quiet=True)
    connection = nextsign_sandbox.connection
    connection["extra"]["api_profile"] = json.dumps(report["api_profile"])
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_PROFILED", json.dumps(connection))
    nextsign_sandbox.reset_stats()

    cases = NextSignHook("nextsign_profiled").get_full_cases(ids)

    assert [case["_id"] for case in cases] == ids and all(case["recipients"] for case in cases)
    assert nextsign_sandbox.stats()["by_operation"] == {"case_get": 3}  # no Get Multiple first


@FAST
def test_leftovers_of_killed_runs_are_swept_within_the_cap(nextsign_sandbox, tmp_path, recorded):
    """Ten cases in the ledger of a run that is gone: each probe run deletes some, never passing 30."""
    import subprocess
    import sys
    import time

    from airflow_provider_nextsign.probe.ledger import Entry, Ledger

    ids = nextsign_sandbox.seed_cases(10, title=f"{MARKER} left {{n}}", reference_prefix=f"{MARKER} left ")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / "state"
    endpoints = nextsign_sandbox.url.rstrip("/")
    old = Ledger(state, endpoints, nextsign_sandbox.company_id, "dead")
    for case_id in ids:
        old.entries.append(Entry(f"{MARKER} left", time.time() - 60, case_id, seen=True))
    old.save()
    payload = json.loads(old.path.read_text())
    payload["pid"] = dead.pid
    old.path.write_text(json.dumps(payload))

    left = len(ids)
    runs = 0
    while left:
        runs += 1
        report = run_probe("nextsign_default", state_dir=state, quiet=True)
        assert report["requests"]["sent"] <= MAX_REQUESTS
        assert report["cleanup"]["deleted"] == report["cleanup"]["created"] == 1
        assert report["cleanup"]["swept"] >= 1  # progress at every run
        left -= report["cleanup"]["swept"]
        assert len(_marked(nextsign_sandbox)) == left
        assert runs <= 4
    assert not list(state.glob("probe-*.json"))
    assert all(session.sent <= MAX_REQUESTS for session in recorded)


@FAST
def test_the_list_sweep_deletes_only_old_marked_cases(nextsign_sandbox, tmp_path):
    marked, aged = f"{MARKER} elsewhere {{n}}", {"age_days": 1}
    (old_marked,) = nextsign_sandbox.seed_cases(1, title=marked, reference_prefix=f"{MARKER} ", **aged)
    (young_marked,) = nextsign_sandbox.seed_cases(1, title=marked, reference_prefix=f"{MARKER} ")
    (foreign,) = nextsign_sandbox.seed_cases(1, title=f"{MARKER} lookalike", referenceId="ORDER-1", **aged)
    (plain,) = nextsign_sandbox.seed_cases(1, **aged)

    report = run_probe("nextsign_default", state_dir=tmp_path / "state", quiet=True)

    assert report["cleanup"]["swept"] == 1
    left = {case["_id"] for case in nextsign_sandbox.cases()}
    assert old_marked not in left
    assert left == {young_marked, foreign, plain}  # a young one may be a probe running elsewhere


@FAST
def test_an_account_that_refuses_the_key_stops_the_probe_at_once(nextsign_sandbox, tmp_path, monkeypatch):
    connection = nextsign_sandbox.connection
    connection["password"] = "not-the-key"
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(connection))

    report = run_probe("nextsign_default", state_dir=tmp_path / "state", quiet=True)

    assert report["aborted"] and "API key" in report["aborted"]
    assert report["requests"]["sent"] == 1
    assert report["cleanup"]["created"] == 0
    assert {a["verdict"] for a in report["assumptions"]} == {"not checked"}


@pytest.mark.nextsign_sandbox(requests_per_minute=6000, strict_http_errors=True)
def test_a_known_variant_is_reported_as_differs(nextsign_sandbox, tmp_path):
    """Case Get's not-found with HTTP 404 instead of 200: known, and handled (confirms_absence)."""
    nextsign_sandbox.seed_cases(3)

    report = run_probe("nextsign_default", state_dir=tmp_path / "state", out=io.StringIO(), quiet=True)

    assert report["differences"] == {"case-not-found": "differs", "case-after-delete": "differs"}


@FAST
def test_an_unknown_answer_shape_is_reported_as_new(nextsign_sandbox, tmp_path):
    """Case List answering in a shape nobody documented: 'new', and the probe goes on and cleans up."""
    nextsign_sandbox.seed_cases(3)
    nextsign_sandbox.inject_fault("cases_list", "error_body", count=5, body={"items": [], "total": 3})

    report = run_probe("nextsign_default", state_dir=tmp_path / "state", out=io.StringIO(), quiet=True)

    assert report["differences"] == {"list-envelope": "new"}
    verdicts = {a["id"]: (a["verdict"], a["detail"]) for a in report["assumptions"]}
    assert verdicts["list-envelope"] == (
        "new",
        "Case List: an answer of unknown shape (HTTP 200 (NextSignUnexpectedResponseError))",
    )
    assert verdicts["list-paging"][0] == "not checked"
    assert verdicts["multiple-items"][0] == "matches"
    assert report["cleanup"]["deleted"] == 1 and _marked(nextsign_sandbox) == []


@FAST
def test_the_command_line_writes_the_json(nextsign_sandbox, tmp_path, capsys):
    from airflow_provider_nextsign.probe.cli import main

    nextsign_sandbox.seed_cases(3)
    code = main(
        [
            "--conn-id",
            "nextsign_default",
            "--form-id",
            nextsign_sandbox.form_id,
            "--json",
            str(tmp_path / "probe.json"),
            "--state-dir",
            str(tmp_path / "state"),
        ]
    )

    assert code == 0
    report = json.loads((tmp_path / "probe.json").read_text())
    assert report["differences"] == {} and report["requests"]["sent"] <= MAX_REQUESTS
    captured = capsys.readouterr()
    assert "Differences from docs/live-api.md: none" in captured.out
    assert "probe: case_create" in captured.err  # a progress line per request


@FAST
def test_a_create_whose_answer_was_lost_is_found_by_reference_and_deleted(nextsign_sandbox, tmp_path):
    nextsign_sandbox.inject_fault("case_create", "lost_response")

    report = run_probe("nextsign_default", state_dir=tmp_path / "state", out=io.StringIO(), quiet=True)

    verdicts = {a["id"]: a["verdict"] for a in report["assumptions"]}
    assert verdicts["create-envelope"] == "not checked"
    assert report["cleanup"]["created"] == report["cleanup"]["deleted"] == 1
    assert _marked(nextsign_sandbox) == []
    assert not list((tmp_path / "state").glob("probe-*.json"))


@FAST
def test_a_lost_create_whose_lookup_fails_stays_in_the_ledger_for_the_next_run(nextsign_sandbox, tmp_path):
    """Doubt is not 'absent': the entry is kept (even when old); a later run finds and deletes the case."""
    nextsign_sandbox.inject_fault("case_create", "lost_response")
    nextsign_sandbox.inject_fault("cases_list", "server_error", count=6)  # sweep, 4 list checks, lookup
    state = tmp_path / "state"

    first = run_probe("nextsign_default", state_dir=state, out=io.StringIO(), quiet=True)

    assert first["cleanup"]["left"] == ["an unanswered create"]
    assert len(_marked(nextsign_sandbox)) == 1
    (ledger,) = state.glob("probe-*.json")
    payload = json.loads(ledger.read_text())
    payload["cases"][0]["sent_at"] -= 3600  # long settled: a case not found now would never come
    payload["pid"] = 0
    ledger.write_text(json.dumps(payload))
    nextsign_sandbox.inject_fault("cases_list", "server_error", count=2)  # the sweep's page and lookup

    second = run_probe("nextsign_default", state_dir=state, out=io.StringIO(), quiet=True)

    assert second["cleanup"]["swept"] == 0
    assert len(_marked(nextsign_sandbox)) == 1 and ledger.exists()

    third = run_probe("nextsign_default", state_dir=state, out=io.StringIO(), quiet=True)

    assert third["cleanup"]["swept"] == 1
    assert _marked(nextsign_sandbox) == []
    assert not list(state.glob("probe-*.json"))
