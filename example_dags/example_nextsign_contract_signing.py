"""Contract signing: one NextSign form submission per customer, wait for every signature, store the PDFs.

Run it against the bundled sandbox with ``make demo``, or against NextSign with a ``nextsign_default``
connection. Settings (all read without touching the network):

- ``form_id`` param, default from the ``NEXTSIGN_FORM_ID`` environment variable;
- ``destination`` param: folder for the signed PDFs, any ObjectStoragePath URL (``s3://...`` too),
  default ``file://$NEXTSIGN_OUTPUT_DIR`` or ``file:///tmp/nextsign-signed``;
- ``NEXTSIGN_POKE_INTERVAL`` (seconds between status checks, default 60) and ``NEXTSIGN_DEFERRABLE``
  (``true``/``false``, default true: the wait runs in the triggerer and holds no worker slot).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_nextsign.operators.documents import NextSignSignedDocumentsToStorageOperator
from airflow_provider_nextsign.operators.forms import NextSignSubmitFormOperator
from airflow_provider_nextsign.sensors.case import NextSignCaseSensor

CUSTOMERS = [
    {"name": "Astrid Holm", "email": "astrid@example.com", "company": "Holm Bryghus ApS", "zip": "8000"},
    {"name": "Bjørn Lund", "email": "bjorn@example.com", "company": "Lund Cykler A/S", "zip": "5000"},
    {"name": "Clara Møller", "email": "clara@example.com", "company": "Møller Design IVS", "zip": "2100"},
]

# One mapped submission per customer: its tag values and its signer.
SUBMISSIONS = [
    {
        "tags": {"customer_name": c["company"], "customer_zip": c["zip"]},
        "recipients": [{"name": c["name"], "email": c["email"], "signing": True}],
    }
    for c in CUSTOMERS
]

OUTPUT_DIR = os.environ.get("NEXTSIGN_OUTPUT_DIR", "/tmp/nextsign-signed")

with DAG(
    dag_id="example_nextsign_contract_signing",
    start_date=datetime(2025, 1, 1),
    schedule=None,
    catchup=False,
    tags=["example", "nextsign"],
    params={
        "form_id": Param(
            os.environ.get("NEXTSIGN_FORM_ID", ""), type="string", description="NextSign form id"
        ),
        "destination": Param(f"file://{OUTPUT_DIR}", type="string", description="Folder for signed PDFs"),
    },
) as dag:
    # [START howto_submit_form_mapped]
    submit = NextSignSubmitFormOperator.partial(
        task_id="submit_contract",
        form_id="{{ params.form_id }}",
        title="Service agreement",
    ).expand_kwargs(SUBMISSIONS)
    # [END howto_submit_form_mapped]

    # [START howto_sensor_deferrable]
    wait = NextSignCaseSensor(
        task_id="wait_for_signatures",
        case_ids=submit.output,
        poke_interval=float(os.environ.get("NEXTSIGN_POKE_INTERVAL", "60")),
        timeout=7 * 24 * 3600,
        deferrable=os.environ.get("NEXTSIGN_DEFERRABLE", "true").lower() == "true",
    )
    # [END howto_sensor_deferrable]

    # [START howto_store_signed_documents]
    store = NextSignSignedDocumentsToStorageOperator.partial(
        task_id="store_signed_pdfs",
        destination="{{ params.destination }}",
    ).expand(case_id=submit.output)
    # [END howto_store_signed_documents]

    wait >> store
