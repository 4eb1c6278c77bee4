"""The DAG of the CeleryExecutor end-to-end test: mapped form submissions, a deferrable sensor, the
storage operator. The NextSign connection is a param, so one deployment runs it with and without the
Redis budget. Read at parse time: ``NEXTSIGN_FORM_ID``, ``NEXTSIGN_E2E_SUBMISSIONS`` and
``NEXTSIGN_E2E_OUTPUT`` (no network).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_nextsign.operators.documents import NextSignSignedDocumentsToStorageOperator
from airflow_provider_nextsign.operators.forms import NextSignSubmitFormOperator
from airflow_provider_nextsign.sensors.case import NextSignCaseSensor

SUBMISSIONS = [
    {
        "tags": {"customer_name": f"Customer {n}", "customer_zip": str(8000 + n)},
        "recipients": [{"name": f"Signer {n}", "email": f"signer{n}@example.com", "signing": True}],
    }
    for n in range(int(os.environ.get("NEXTSIGN_E2E_SUBMISSIONS", "8")))
]

with DAG(
    dag_id="nextsign_celery_contracts",
    start_date=datetime(2025, 1, 1),
    schedule=None,
    catchup=False,
    max_active_runs=1,
    params={
        "conn_id": Param("nextsign_redis", type="string"),
        "form_id": Param(os.environ.get("NEXTSIGN_FORM_ID", ""), type="string"),
        "destination": Param(
            f"file://{os.environ.get('NEXTSIGN_E2E_OUTPUT', '/tmp/nextsign-e2e')}", type="string"
        ),
    },
) as dag:
    submit = NextSignSubmitFormOperator.partial(
        task_id="submit",
        form_id="{{ params.form_id }}",
        title="Celery e2e {{ params.conn_id }}",
        nextsign_conn_id="{{ params.conn_id }}",
    ).expand_kwargs(SUBMISSIONS)
    wait = NextSignCaseSensor(
        task_id="wait",
        case_ids=submit.output,
        nextsign_conn_id="{{ params.conn_id }}",
        poke_interval=2,
        timeout=600,
        deferrable=True,
    )
    store = NextSignSignedDocumentsToStorageOperator.partial(
        task_id="store",
        destination="{{ params.destination }}/{{ params.conn_id }}",
        nextsign_conn_id="{{ params.conn_id }}",
    ).expand(case_id=submit.output)
    wait >> store
