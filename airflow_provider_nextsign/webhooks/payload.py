"""Parse and check one NextSign webhook delivery (no Airflow, no I/O).

NextSign POSTs ``{"trigger": "<trigger>", "case": {"_id", "updatedAt", ...}}`` (``"flow"`` instead of
``"case"`` for ``webflow.completed``). Deliveries are at least once, so each carries a dedupe key: the
non-empty parts of ``trigger``, ``_id`` and ``updatedAt`` joined with ``:`` (NextSign's own advice).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_nextsign.assets import CASE_EVENT_TRIGGERS

#: Case fields copied into the asset event's extra (the full case stays with NextSign: fetch it).
EXTRA_CASE_FIELDS = ("title", "referenceId", "nextSignKey", "folder")


class WebhookPayloadError(ValueError):
    """The body is not a NextSign webhook delivery; the message says what is wrong."""


@dataclass(frozen=True)
class WebhookDelivery:
    """One delivery: its trigger, the case (or flow) it is about, and the dedupe key."""

    trigger: str
    entity: str  # "case" or "flow"
    entity_id: str
    updated_at: str
    summary: dict[str, Any]

    @property
    def dedupe_key(self) -> str:
        """``trigger:_id:updatedAt``, empty parts left out (``case_signed:657b...:2024-02-19T10:52:25Z``)."""
        return ":".join(part for part in (self.trigger, self.entity_id, self.updated_at) if part)

    def event_extra(self) -> dict[str, Any]:
        """The JSON-safe extra of the asset event recorded for this delivery."""
        return {
            "trigger": self.trigger,
            f"{self.entity}_id": self.entity_id,
            "updatedAt": self.updated_at,
            **self.summary,
            "dedupe_key": self.dedupe_key,
        }


def parse_delivery(body: bytes) -> WebhookDelivery:
    """Parse a raw request body; raise :class:`WebhookPayloadError` naming the faulty field."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise WebhookPayloadError(f"the body is not JSON ({err})") from None
    except RecursionError:  # e.g. 1 MB of "[": Python's parser recurses once per level
        raise WebhookPayloadError("the body is JSON nested too deeply to be a NextSign delivery") from None
    if not isinstance(data, dict):
        raise WebhookPayloadError(f"the body must be a JSON object, got {type(data).__name__}")
    trigger = data.get("trigger")
    if trigger not in CASE_EVENT_TRIGGERS:
        raise WebhookPayloadError(
            f"'trigger' must be one of {', '.join(CASE_EVENT_TRIGGERS)}; got {trigger!r}"
        )
    entity = "flow" if trigger == "webflow.completed" else "case"
    obj = data.get(entity)
    if not isinstance(obj, dict):
        raise WebhookPayloadError(f"a {trigger!r} delivery needs a {entity!r} object")
    entity_id = obj.get("_id")
    if isinstance(entity_id, bool) or not isinstance(entity_id, (str, int)) or not str(entity_id).strip():
        raise WebhookPayloadError(f"'{entity}._id' must be a non-empty string, got {entity_id!r}")
    updated_at = obj.get("updatedAt", "")
    if updated_at is None:
        updated_at = ""
    if not isinstance(updated_at, str):
        raise WebhookPayloadError(f"'{entity}.updatedAt' must be a string timestamp, got {updated_at!r}")
    summary = {name: obj[name] for name in EXTRA_CASE_FIELDS if isinstance(obj.get(name), (str, int, float))}
    return WebhookDelivery(
        trigger=trigger,
        entity=entity,
        entity_id=str(entity_id).strip(),
        updated_at=updated_at,
        summary=summary,
    )
