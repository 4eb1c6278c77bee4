"""Check your NextSign account: the conformance probe as an Airflow task (test environment only).

Trigger it with the connection to check (default ``nextsign_test``, pointing at
``https://test.nextsign.dk`` with a test API key) and, if you like, a form id of that account. The task
log shows the table of verdicts; the task's XCom holds the same report as JSON: key names, statuses and
times only, never values, ready to paste into an issue. The probe creates one case marked
``airflow-provider-nextsign probe`` and deletes it, spends at most 30 requests, and refuses any host but
the test environment and a local sandbox. See docs/check-your-account.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

with DAG(
    dag_id="example_nextsign_probe",
    start_date=datetime(2025, 1, 1),
    schedule=None,
    catchup=False,
    tags=["example", "nextsign"],
    params={
        "conn_id": Param("nextsign_test", type="string", description="NextSign connection to check"),
        "form_id": Param("", type="string", description="a form of the account (optional)"),
    },
) as dag:

    @task
    def probe_account(conn_id: str, form_id: str) -> dict[str, Any]:
        """Run the probe; fail when the connection does not work or a probe case could not be deleted."""
        from airflow_provider_nextsign.probe import run_probe

        report = run_probe(conn_id, form_id=form_id or None)
        if report["aborted"]:
            raise RuntimeError(f"The probe stopped early: {report['aborted']}")
        if report["cleanup"]["left"]:
            raise RuntimeError("A probe case could not be deleted; the next probe run deletes it")
        return report

    probe_account(conn_id="{{ params.conn_id }}", form_id="{{ params.form_id }}")
