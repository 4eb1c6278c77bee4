"""The receiver's decision for one request, free of HTTP plumbing: authenticate, parse, record.

Order matters. A request without the secret header is refused before anything else happens (no
connection lookup, no body read); a connection outside the allow-list is refused before its lookup;
nothing of the body is read before the secret matches; and nothing is recorded unless the body is a
valid delivery. Every refusal before the body is the same 401, so the answers tell a prober nothing
about which connection ids exist; the API server's log says why.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nextsign.webhooks.config import DEFAULT_HEADER, ReceiverSettings, UnknownConnectionError
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
    """Handle deliveries for any NextSign connection; no method raises on bad input.

    :param settings_for: the connection lookup (a secrets-backend call per use).
    :param record: records a valid delivery as an asset event.
    :param header: the header that carries the shared secret.
    :param allowed_conn_ids: the only connection ids served (``None``: any NextSign connection).
    """

    def __init__(
        self,
        settings_for: SettingsLookup,
        record: Recorder,
        *,
        header: str = DEFAULT_HEADER,
        allowed_conn_ids: Collection[str] | None = None,
    ) -> None:
        self._settings_for = settings_for
        self._record = record
        self.header = header
        self._header_key = header.lower()
        self._allowed = None if allowed_conn_ids is None else frozenset(allowed_conn_ids)
        self.unauthorized = Answer(401, {"message": f"missing or wrong {header} header"})

    def precheck(self, conn_id: str, headers: dict[str, str]) -> Answer | None:
        """The refusal that needs no lookup (no secret header, connection not allowed), else ``None``.

        Cheap and free of I/O: safe to call on the event loop for every request.
        """
        if not headers.get(self._header_key):
            log.warning("NextSign webhook for %s refused: no %s header", conn_id, self.header)
            return self.unauthorized
        if self._allowed is not None and conn_id not in self._allowed:
            log.warning(
                "NextSign webhook for %s refused: not in [nextsign] webhook_allowed_conn_ids", conn_id
            )
            return self.unauthorized
        return None

    def authenticate(self, conn_id: str, headers: dict[str, str]) -> ReceiverSettings | Answer:
        """The connection's settings when the secret header matches, else the 401 answer.

        ``headers`` keys are lower-case. Looks the connection up (blocking) only after :meth:`precheck`.
        """
        refused = self.precheck(conn_id, headers)
        if refused is not None:
            return refused
        try:
            settings = self._settings_for(conn_id)
        except UnknownConnectionError as err:
            log.warning("NextSign webhook for %s refused: %s", conn_id, err)
            return self.unauthorized
        if not settings.secret:
            log.error(
                "NextSign webhook for %s refused: no shared secret is set. Put one in the connection's "
                "'webhook_secret' extra or in [nextsign] webhook_secret; NextSign will retry.",
                conn_id,
            )
            return self.unauthorized
        if not secret_matches(headers.get(self._header_key), settings.secret):
            log.warning("NextSign webhook for %s refused: wrong %s", conn_id, self.header)
            return self.unauthorized
        return settings

    def accept(self, settings: ReceiverSettings, body: bytes) -> Answer:
        """Parse an authenticated body and record it (400 when it is not a NextSign delivery)."""
        try:
            delivery = parse_delivery(body)
        except WebhookPayloadError as err:
            log.warning("NextSign webhook for %s refused: %s", settings.conn_id, err)
            return Answer(400, {"message": str(err)})
        return self._store(settings, delivery)

    def handle(self, conn_id: str, headers: dict[str, str], body: bytes) -> Answer:
        """Answer one ``POST`` whose body is already read; ``headers`` keys are lower-case."""
        settings = self.authenticate(conn_id, headers)
        if isinstance(settings, Answer):
            return settings
        return self.accept(settings, body)

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
