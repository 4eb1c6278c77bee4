"""An asset updated by newly signed NextSign cases, for event-driven DAGs (Airflow 3; tested docs snippet)."""

from __future__ import annotations

from typing import Any


def case_signed_asset(company_id: str) -> Any:
    """The asset a DAG can be scheduled on: updated once for every newly signed case."""
    # [START howto_asset_watcher]
    from airflow.sdk import Asset, AssetWatcher

    from airflow_provider_nextsign.triggers.events import NextSignCaseEventTrigger

    case_signed = Asset(
        f"nextsign://{company_id}/case_signed",
        watchers=[
            AssetWatcher(
                name="nextsign_case_signed",
                trigger=NextSignCaseEventTrigger(trigger="case_signed", poll_interval=60, pages_per_poll=1),
            )
        ],
    )
    # [END howto_asset_watcher]
    return case_signed
