"""The code in the docs that is not in an example DAG lives in docs/examples/ and runs here."""

from __future__ import annotations

import pytest

from docs.examples import pandas_report

FAST = pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=600)
RECIPIENTS = [
    {"name": "Jane Doe", "email": "jane@example.com", "signing": True},
    {"name": "Copy Only", "email": "copy@example.com", "signing": False},
]


@FAST
def test_pending_signers_frame(nextsign_sandbox):
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    hook = NextSignHook()
    tags = {"customer_name": "Holm", "customer_zip": "8000"}
    ids = [
        hook.submit_form(nextsign_sandbox.form_id, tags=tags, recipients=RECIPIENTS)["_id"] for _ in range(3)
    ]
    nextsign_sandbox.sign(ids[0])
    signers = pandas_report.pending_signers()
    assert sorted(signers["case_id"]) == sorted(ids[1:])
    assert set(signers["email"]) == {"jane@example.com"}


@FAST
def test_read_report_reads_what_the_operator_wrote(nextsign_sandbox, tmp_path):
    from airflow_provider_nextsign.operators.reporting import NextSignCaseReportOperator

    ids = nextsign_sandbox.seed_cases(7)
    NextSignCaseReportOperator(task_id="report", destination=f"file://{tmp_path}/lake").execute(
        {"run_id": "manual__docs"}
    )
    tables = pandas_report.read_report(f"file://{tmp_path}/lake")
    assert sorted(tables["cases"]["case_id"]) == sorted(ids)
