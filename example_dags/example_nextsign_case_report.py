"""Nightly case report: every NextSign case, its recipients and documents, upserted into a warehouse.

The report task pages through Case List, reads the cases in full and upserts the tables
``nextsign_cases``, ``nextsign_recipients`` and ``nextsign_documents`` (keyed on the case id, so a re-run
changes nothing). It runs incrementally: a signed, denied or expired case whose ``updatedAt`` has not
moved since its last read (state in ``nextsign_report_state``) is not read again, and once a week
(``full_refresh_every``) the run reads every case. Then a summary of the cases per state is logged.

Warehouse: the Airflow SQL connection ``nextsign_warehouse`` (param ``warehouse_conn_id``). Create it
once, for example a SQLite file::

    airflow connections add nextsign_warehouse --conn-uri 'sqlite:////path/to/nextsign_warehouse.db'

or PostgreSQL (needs ``airflow-provider-nextsign[postgres]``)::

    airflow connections add nextsign_warehouse --conn-uri 'postgresql://user:pass@host:5432/analytics'

(``AIRFLOW_CONN_NEXTSIGN_WAREHOUSE`` in the environment works too). This file never sets a connection
itself: a DAG file that changed the environment at parse time would hide the connection made in the UI.

NextSign: the ``nextsign_default`` connection (``make demo`` / the sandbox CLI print one).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_nextsign.operators.reporting import NextSignCaseReportOperator

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
        full_refresh_every=timedelta(days=7),  # a full report weekly, whatever the schedule did
        budget_share=0.5,  # the signing DAGs keep half of NextSign's 100 requests per minute
    )
    # [END howto_case_report]

    @task
    def summarize(summary: dict[str, Any], warehouse_conn_id: str, run_id: str) -> dict[str, Any]:
        """Log the cases per state after this run (plain SQL through the connection's DbApiHook)."""
        from airflow.providers.common.compat.sdk import BaseHook

        hook = BaseHook.get_connection(warehouse_conn_id).get_hook()
        rows = hook.get_records(
            "select state, count(*) from nextsign_cases where not is_deleted group by state order by state"
        )
        per_state = {str(state): int(n) for state, n in rows}
        print(
            f"NextSign report {run_id}: {summary['inserted']} new, {summary['updated']} updated, "
            f"{summary['deleted']} deleted; {per_state}"
        )
        return {"run_id": run_id, "cases_per_state": per_state}

    summarize(report.output, warehouse_conn_id="{{ params.warehouse_conn_id }}", run_id="{{ run_id }}")
