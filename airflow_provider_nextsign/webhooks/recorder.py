"""Record a webhook delivery as an asset event, once: the dedupe check and the write share one lock.

The event goes on every active asset with the URI ``nextsign://<company>/<trigger>``, with the case id
as partition key (unless ``[nextsign] webhook_partition_by_case`` is off, or Airflow is older than 3.2,
which has no partitioned assets) and the delivery summary as extra. A delivery whose dedupe key is
already on the asset is a duplicate and records nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_nextsign.assets import case_event_uri
from airflow_provider_nextsign.compat import PARTITIONED_ASSETS
from airflow_provider_nextsign.webhooks.payload import WebhookDelivery

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# SQLite ignores FOR UPDATE; this lock keeps check-then-write atomic within one API-server process.
# On PostgreSQL and MySQL the row lock on the asset does it across processes too.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class RecordResult:
    """What happened to one delivery."""

    status: Literal["recorded", "duplicate", "no_asset"]
    asset_uri: str
    event_ids: tuple[int, ...] = ()


def record_delivery(delivery: WebhookDelivery, *, company_id: str, partition_by_case: bool) -> RecordResult:
    """Write one asset event per matching asset unless this delivery was recorded before."""
    from airflow.utils.session import create_session

    uri = case_event_uri(company_id, delivery.trigger)
    with _LOCK, create_session() as session:
        return _record(delivery, uri=uri, partition_by_case=partition_by_case, session=session)


def _record(
    delivery: WebhookDelivery, *, uri: str, partition_by_case: bool, session: Session
) -> RecordResult:
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetActive, AssetEvent, AssetModel
    from airflow.utils.sqlalchemy import with_row_locks
    from sqlalchemy import JSON, select, type_coerce

    assets = session.scalars(
        with_row_locks(
            select(AssetModel)
            .join(AssetActive, (AssetActive.name == AssetModel.name) & (AssetActive.uri == AssetModel.uri))
            .where(AssetModel.uri == uri)
            .order_by(AssetModel.id),
            session=session,
        )
    ).all()
    if not assets:
        return RecordResult("no_asset", uri)

    asset_ids = [asset.id for asset in assets]
    seen = session.scalar(
        select(AssetEvent.id)
        .where(
            AssetEvent.asset_id.in_(asset_ids),
            # Airflow 3.1 types the column as sqlalchemy_jsonfield's JSONField, which has no JSON paths;
            # read it as JSON without a SQL cast (a CAST to JSON would turn text into 0 on SQLite).
            type_coerce(AssetEvent.extra, JSON)["dedupe_key"].as_string() == delivery.dedupe_key,
        )
        .limit(1)
    )
    if seen is not None:
        return RecordResult("duplicate", uri, (seen,))

    partition: dict[str, Any] = {}
    if partition_by_case and PARTITIONED_ASSETS.available:  # below 3.2 the plugin logged that there is none
        partition["partition_key"] = delivery.entity_id
    event_ids: list[int] = []
    for asset in assets:
        event = asset_manager.register_asset_change(
            asset=asset,
            extra=delivery.event_extra(),
            source_is_api=True,
            session=session,
            **partition,
        )
        if event is not None:
            event_ids.append(event.id)
    return RecordResult("recorded", uri, tuple(event_ids))
