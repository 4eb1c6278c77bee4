"""The nightly case report example DAG runs end to end with dag.test() against the sandbox."""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

import pytest
import sqlalchemy as sa

REPORT_DAG = "example_nextsign_case_report.py"


def states(db) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select state, count(*) from nextsign_cases where not is_deleted group by state")
        )
        return {str(state): int(n) for state, n in rows}


@pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=600)
def test_report_dag_loads_sqlite_warehouse_and_reruns_incrementally(
    nextsign_sandbox_profile, nextsign_sandbox, load_dag, run_state, monkeypatch, tmp_path
):
    """Once per answer profile: Get Multiple sends summaries as documented, full cases as production."""
    assert nextsign_sandbox.configure()["profile"] == nextsign_sandbox_profile
    db = tmp_path / "warehouse.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEXTSIGN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(db)})
    )
    pending = nextsign_sandbox.seed_cases(40)
    signed = nextsign_sandbox.seed_cases(5, status="signed")
    dag = load_dag(REPORT_DAG)

    first = dag.test()
    assert run_state(first) == "success"
    assert states(db) == {"pending": 40, "signed": 5}

    nextsign_sandbox.sign(pending[0])
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    NextSignHook().delete_case(signed[0])
    second = dag.test()
    assert run_state(second) == "success"
    assert states(db) == {"pending": 39, "signed": 5}
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("select state, is_deleted from nextsign_cases where case_id = :i"), {"i": signed[0]}
        ).one()
    assert tuple(row) == ("signed", 1)  # deleted in NextSign: flagged, its last state kept


def test_parsing_the_report_dag_changes_no_environment_variable(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NEXTSIGN_WAREHOUSE", raising=False)
    before = dict(os.environ)
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "example_dags" / REPORT_DAG), run_name="parse")
    assert dict(os.environ) == before
