"""Nightly case report: every NextSign case, its recipients and documents, upserted into a warehouse.

The report task pages through Case List, fetches details in batches and upserts the tables
``nextsign_cases``, ``nextsign_recipients`` and ``nextsign_documents`` (keyed on the case id, so a re-run
changes nothing). It runs incrementally: a case whose ``updatedAt`` has not moved since the last run is
not fetched again (state in ``nextsign_report_state``). Then a summary of the cases per state is logged.

Warehouse: the Airflow connection ``nextsign_warehouse`` (param ``warehouse_conn_id``).

- Default, no server needed: when no ``AIRFLOW_CONN_NEXTSIGN_WAREHOUSE`` environment variable is set,
  this file sets it to a SQLite file, ``$NEXTSIGN_WAREHOUSE_DB`` or ``$AIRFLOW_HOME/nextsign_warehouse.db``
  (an environment connection wins over one stored in the Airflow database under the same id).
- PostgreSQL: ``export AIRFLOW_CONN_NEXTSIGN_WAREHOUSE='postgresql://user:pass@host:5432/analytics'``
  (needs ``airflow-provider-nextsign[postgres]``), or create a Postgres connection under another id
  and set the ``warehouse_conn_id`` param (e.g. in ``run_conf`` or by changing the default below).

NextSign: the ``nextsign_default`` connection (``make demo`` / the sandbox CLI print one).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_nextsign.operators.reporting import NextSignCaseReportOperator

WAREHOUSE_DB = os.environ.get(
    "NEXTSIGN_WAREHOUSE_DB",
    os.path.join(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "nextsign_warehouse.db"),
)
os.environ.setdefault(
    "AIRFLOW_CONN_NEXTSIGN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": WAREHOUSE_DB})
)

with DAG(
    dag_id="example_nextsign_case_report",
    start_date=datetime(2025, 1, 1),
    schedule="@daily",
    catchup=False,
    max_active_runs=1,  # two overlapping reports would only duplicate requests
    tags=["example", "nextsign", "reporting"],
    params={
        "warehouse_conn_id": Param("nextsign_warehouse", type="string", description="Airflow SQL connection"),
        "folder": Param("", type="string", description="only this NextSign folder (empty = all)"),
    },
) as dag:
    # [START howto_case_report]
    report = NextSignCaseReportOperator(
        task_id="load_cases",
        sql_conn_id="{{ params.warehouse_conn_id }}",
        folder="{{ params.folder }}",
        incremental=True,
    )
    # [END howto_case_report]

    @task
    def summarize(summary: dict[str, Any], warehouse_conn_id: str, run_id: str) -> dict[str, Any]:
        """Log the cases per state after this run (plain SQL through the connection's DbApiHook)."""
        from airflow.providers.common.compat.sdk import BaseHook

        hook = BaseHook.get_connection(warehouse_conn_id).get_hook()
        rows = hook.get_records("select state, count(*) from nextsign_cases group by state order by state")
        per_state = {str(state): int(n) for state, n in rows}
        print(
            f"NextSign report {run_id}: {summary['inserted']} new, {summary['updated']} updated; {per_state}"
        )
        return {"run_id": run_id, "cases_per_state": per_state}

    summarize(report.output, warehouse_conn_id="{{ params.warehouse_conn_id }}", run_id="{{ run_id }}")
