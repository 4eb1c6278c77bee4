"""Store a case's signed PDFs the moment NextSign reports it signed (Airflow 3.1+, webhook receiver).

NextSign posts ``case_signed`` to the provider's webhook receiver on the API server, which records one
asset event per case on ``nextsign://<company id>/case_signed`` with the case id as partition key. The
``PartitionedAssetTimetable`` then starts one run per signed case. Airflow 3.1 has no partitioned assets:
there the DAG is scheduled on the asset itself, and a run stores every case in the events that started
it. Set ``NEXTSIGN_COMPANY_ID`` to your Company ID (the connection's login) and turn the receiver on;
see the event-driven guide.

A manual run stores the cases listed in its ``case_ids`` param instead.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_nextsign.assets import case_event_asset, case_ids_from_events
from airflow_provider_nextsign.compat import PARTITIONED_ASSETS
from airflow_provider_nextsign.operators.documents import NextSignSignedDocumentsToStorageOperator

COMPANY_ID = os.environ.get("NEXTSIGN_COMPANY_ID", "6576e19662ec13c4faa7de7b")
OUTPUT_DIR = os.environ.get("NEXTSIGN_OUTPUT_DIR", "/tmp/nextsign-signed")

# [START howto_webhook_asset_dag]
case_signed = case_event_asset(COMPANY_ID, "case_signed")

if PARTITIONED_ASSETS.available:  # Airflow 3.2+: one run per signed case
    from airflow.sdk import PartitionedAssetTimetable

    schedule: Any = PartitionedAssetTimetable(assets=case_signed)
else:  # Airflow 3.1: one run per batch of events, storing every case in them
    schedule = [case_signed]

with DAG(
    dag_id="example_nextsign_case_signed_webhook",
    schedule=schedule,
    catchup=False,
    tags=["example", "nextsign"],
    params={
        "case_ids": Param([], type="array", description="Cases to store on a manual run"),
        "destination": Param(f"file://{OUTPUT_DIR}/webhook/", type="string", description="Signed PDF folder"),
    },
) as dag:

    @task
    def signed_case_ids(triggering_asset_events: Any = None, params: Any = None) -> list[str]:
        """The case ids in the asset events that started this run, or the ``case_ids`` param."""
        return sorted(set(case_ids_from_events(triggering_asset_events)) | set(map(str, params["case_ids"])))

    NextSignSignedDocumentsToStorageOperator.partial(
        task_id="store_signed_pdfs",
        destination="{{ params.destination }}",
    ).expand(case_id=signed_case_ids())
# [END howto_webhook_asset_dag]
