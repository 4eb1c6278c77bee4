"""Store the signed PDFs of newly signed cases found by polling: an asset watcher, no inbound HTTP.

Airflow 3 only. The triggerer runs ``NextSignCaseEventTrigger``, which walks Case List a fixed number
of pages per poll and records one asset event per newly signed case; the DAG runs on those events.
Airflow may start one run for several events that arrive close together, so the task stores every
case in its triggering events. Set ``NEXTSIGN_COMPANY_ID`` to your Company ID. Use this or the webhook
receiver for a given company, not both: they would record each signing twice.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import DAG, AssetWatcher, task

from airflow_provider_nextsign.assets import case_event_asset, case_ids_from_events
from airflow_provider_nextsign.operators.documents import NextSignSignedDocumentsToStorageOperator
from airflow_provider_nextsign.triggers.events import NextSignCaseEventTrigger

COMPANY_ID = os.environ.get("NEXTSIGN_COMPANY_ID", "6576e19662ec13c4faa7de7b")
OUTPUT_DIR = os.environ.get("NEXTSIGN_OUTPUT_DIR", "/tmp/nextsign-signed")
POLL_INTERVAL = float(os.environ.get("NEXTSIGN_POLL_INTERVAL", "60"))

# [START howto_asset_watcher_dag]
case_signed = case_event_asset(
    COMPANY_ID,
    "case_signed",
    watchers=[
        AssetWatcher(
            name="nextsign_case_signed",
            trigger=NextSignCaseEventTrigger(trigger="case_signed", poll_interval=POLL_INTERVAL),
        )
    ],
)

with DAG(
    dag_id="example_nextsign_case_signed_watcher",
    schedule=[case_signed],
    catchup=False,
    tags=["example", "nextsign"],
) as dag:

    @task
    def signed_case_ids(triggering_asset_events: Any = None) -> list[str]:
        """Every case in the events that started this run (one or several)."""
        return case_ids_from_events(triggering_asset_events)

    NextSignSignedDocumentsToStorageOperator.partial(
        task_id="store_signed_pdfs",
        destination=f"file://{OUTPUT_DIR}/watcher/",
    ).expand(case_id=signed_case_ids())
# [END howto_asset_watcher_dag]
