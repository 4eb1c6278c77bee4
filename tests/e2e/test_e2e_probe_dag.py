"""The example DAG example_nextsign_probe runs the probe end to end with dag.test() against the sandbox."""

from __future__ import annotations

import pytest

from airflow_provider_nextsign.probe.document import MARKER


@pytest.mark.nextsign_sandbox(requests_per_minute=6000)
def test_probe_dag_checks_the_account_and_leaves_nothing(
    nextsign_sandbox, load_dag, run_state, monkeypatch, tmp_path
):
    monkeypatch.setenv("NEXTSIGN_PROBE_STATE_DIR", str(tmp_path / "state"))
    nextsign_sandbox.seed_cases(3)
    dag = load_dag("example_nextsign_probe.py")

    run = dag.test(run_conf={"conn_id": "nextsign_default", "form_id": nextsign_sandbox.form_id})

    assert run_state(run) == "success"
    operations = nextsign_sandbox.stats()["by_operation"]
    assert operations["case_create"] == operations["case_delete"] == 1
    assert operations["forms_get"] == operations["forms_tags"] == 1
    assert [c for c in nextsign_sandbox.cases() if str(c.get("title")).startswith(MARKER)] == []
    assert not list((tmp_path / "state").glob("probe-*.json"))


@pytest.mark.nextsign_sandbox(requests_per_minute=6000)
def test_probe_dag_fails_when_the_key_is_refused(
    nextsign_sandbox, load_dag, run_state, monkeypatch, tmp_path
):
    import json

    monkeypatch.setenv("NEXTSIGN_PROBE_STATE_DIR", str(tmp_path / "state"))
    connection = {**nextsign_sandbox.connection, "password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_WRONG", json.dumps(connection))
    dag = load_dag("example_nextsign_probe.py")

    run = dag.test(run_conf={"conn_id": "nextsign_wrong"})

    assert run_state(run) == "failed"
    assert nextsign_sandbox.stats()["by_operation"] == {"cases_list": 1}
