"""The receiver's decision for one request, free of HTTP plumbing: authenticate, parse, record.

Order matters: nothing of the body is read before the shared secret matches, and nothing is
recorded unless the body is a valid delivery.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nextsign.webhooks.config import ReceiverSettings, UnknownConnectionError
from airflow_provider_nextsign.webhooks.payload import WebhookDelivery, WebhookPayloadError, parse_delivery
from airflow_provider_nextsign.webhooks.recorder import RecordResult

log = logging.getLogger(__name__)

SettingsLookup = Callable[[str], ReceiverSettings]
Recorder = Callable[..., RecordResult]


@dataclass(frozen=True)
class Answer:
    """The HTTP status and JSON body to send back to NextSign."""

    status_code: int
    body: dict[str, Any] = field(default_factory=dict)


def secret_matches(provided: str | None, expected: str) -> bool:
    """Constant-time comparison of the header value with the configured secret."""
    if provided is None:
        return False
    return hmac.compare_digest(provided.encode("utf-8"), expected.encode("utf-8"))


class WebhookReceiver:
    """Handle deliveries for any NextSign connection; ``handle`` never raises on bad input."""

    def __init__(self, settings_for: SettingsLookup, record: Recorder) -> None:
        self._settings_for = settings_for
        self._record = record

    def handle(self, conn_id: str, headers: dict[str, str], body: bytes) -> Answer:
        """Answer one ``POST``; ``headers`` keys are lower-case."""
        try:
            settings = self._settings_for(conn_id)
        except UnknownConnectionError as err:
            log.warning("NextSign webhook for %s refused: %s", conn_id, err)
            return Answer(404, {"message": f"{err}; create it or fix the webhook URL"})
        if not settings.secret:
            log.error(
                "NextSign webhook for %s refused: no shared secret is set. Put one in the connection's "
                "'webhook_secret' extra or in [nextsign] webhook_secret; NextSign will retry.",
                conn_id,
            )
            return Answer(503, {"message": "the webhook secret is not configured on this Airflow"})
        if not secret_matches(headers.get(settings.header.lower()), settings.secret):
            log.warning("NextSign webhook for %s refused: missing or wrong %s", conn_id, settings.header)
            return Answer(401, {"message": f"missing or wrong {settings.header} header"})
        try:
            delivery = parse_delivery(body)
        except WebhookPayloadError as err:
            log.warning("NextSign webhook for %s refused: %s", conn_id, err)
            return Answer(400, {"message": str(err)})
        return self._store(settings, delivery)

    def _store(self, settings: ReceiverSettings, delivery: WebhookDelivery) -> Answer:
        result = self._record(
            delivery, company_id=settings.company_id, partition_by_case=settings.partition_by_case
        )
        key = delivery.dedupe_key
        body: dict[str, Any] = {"status": result.status, "asset": result.asset_uri, "key": key}
        if result.status == "recorded":
            log.info("NextSign %s: asset event(s) %s on %s", key, result.event_ids, result.asset_uri)
            body["asset_event_ids"] = list(result.event_ids)
        elif result.status == "duplicate":
            log.info("NextSign %s: duplicate delivery, already recorded", delivery.dedupe_key)
        else:
            # Still 2xx: no DAG is scheduled on the asset, so a retry would find nothing either.
            log.warning(
                "NextSign %s: no active asset %s (no DAG is scheduled on it); nothing recorded",
                delivery.dedupe_key,
                result.asset_uri,
            )
        return Answer(200, body)
