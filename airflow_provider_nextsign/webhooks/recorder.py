"""Record a webhook delivery as an asset event, once.

The event goes on every active asset with the URI ``nextsign://<company>/<trigger>``, with the case id
as partition key (unless ``[nextsign] webhook_partition_by_case`` is off, or Airflow is older than 3.2,
which has no partitioned assets) and the delivery summary as extra. A delivery whose dedupe key is
already on the asset is a duplicate and records nothing. The database write itself is
:func:`~airflow_provider_nextsign.webhooks.asset_events.record_asset_event`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from airflow_provider_nextsign.assets import case_event_uri
from airflow_provider_nextsign.compat import PARTITIONED_ASSETS
from airflow_provider_nextsign.webhooks.payload import WebhookDelivery


@dataclass(frozen=True)
class RecordResult:
    """What happened to one delivery."""

    status: Literal["recorded", "duplicate", "no_asset"]
    asset_uri: str
    event_ids: tuple[int, ...] = ()


def record_delivery(delivery: WebhookDelivery, *, company_id: str, partition_by_case: bool) -> RecordResult:
    """Write one asset event per matching asset unless this delivery was recorded before."""
    from airflow_provider_nextsign.webhooks.asset_events import record_asset_event

    uri = case_event_uri(company_id, delivery.trigger)
    # Below 3.2 there are no partitions; the plugin logged that at start.
    partitioned = partition_by_case and PARTITIONED_ASSETS.available
    outcome = record_asset_event(
        uri,
        delivery.event_extra(),
        dedupe_key=delivery.dedupe_key,
        partition_key=delivery.entity_id if partitioned else None,
    )
    return RecordResult(outcome.status, uri, outcome.event_ids)
