"""Deferred sensors with mixed intervals and outcomes, for the triggerer-level end-to-end test."""

from __future__ import annotations

import json
import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_nextsign.sensors.case import NextSignCaseSensor

CASES = json.loads(os.environ.get("NEXTSIGN_WAIT_CASES", "{}"))

with DAG(
    dag_id="nextsign_wait_mix",
    start_date=datetime(2025, 1, 1),
    schedule=None,
    default_args={"retries": 2},
) as dag:
    for name, interval, grace in (
        ("fast", 1, 300),  # signed late in the test, after a restart of the whole Airflow
        ("slow", 3600, 300),  # signed early: read along with the fast one, long before its hour
        ("denied", 1, 300),  # fails at once, without using its two retries
        ("missing", 1, 15),  # never existed: deleted once its 15 s grace passed and Case Get confirms
    ):
        NextSignCaseSensor(
            task_id=f"wait_{name}",
            case_ids=CASES.get(name, "000000000000000000000000"),
            poke_interval=interval,
            not_found_grace=grace,
            deferrable=True,
            timeout=900,
        )
