"""The nightly case report example DAG runs end to end with dag.test() against the sandbox."""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa

REPORT_DAG = "example_nextsign_case_report.py"


def states(db) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select state, count(*) from nextsign_cases group by state"))
        return {str(state): int(n) for state, n in rows}


@pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=600)
def test_report_dag_loads_sqlite_warehouse_and_reruns_incrementally(
    nextsign_sandbox, load_dag, run_state, monkeypatch, tmp_path
):
    db = tmp_path / "warehouse.db"
    monkeypatch.setenv("NEXTSIGN_WAREHOUSE_DB", str(db))
    # The DAG file sets this default itself; setenv first so that monkeypatch removes it afterwards.
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_WAREHOUSE", "")
    monkeypatch.delenv("AIRFLOW_CONN_NEXTSIGN_WAREHOUSE")
    pending = nextsign_sandbox.seed_cases(40)
    nextsign_sandbox.seed_cases(5, status="signed")
    dag = load_dag(REPORT_DAG)
    assert json.loads(os.environ["AIRFLOW_CONN_NEXTSIGN_WAREHOUSE"])["host"] == str(db)

    first = dag.test()
    assert run_state(first) == "success"
    assert states(db) == {"pending": 40, "signed": 5}

    nextsign_sandbox.sign(pending[0])
    second = dag.test()
    assert run_state(second) == "success"
    assert states(db) == {"pending": 39, "signed": 6}
