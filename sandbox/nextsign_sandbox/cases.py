"""Building case objects in the shape of Case Get (nextsign-api.md §3.5) from create/submit bodies."""

from __future__ import annotations

import copy
from typing import Any

from nextsign_sandbox._util import iso, nextsign_key, object_id

DEFAULT_SETTINGS: dict[str, Any] = {
    "deletion": {"autoDelete": True, "days": 30},
    "availability": {"unlimited": False, "days": 10, "isExpired": False},
    "reminders": {"send": True, "amount": 2, "daysBetween": 3},
    "allowAPI": True,
    "allowedRoles": [],
}
# Recipient fields echoed back as given; cpr is deliberately never echoed.
_RECIPIENT_FIELDS = (
    "name",
    "email",
    "phone",
    "position",
    "type",
    "needsCpr",
    "signingSchema",
    "redirectUrl",
    "message",
    "template",
    "addPhone",
    "eboks",
)
_CASE_FIELDS = ("user_name", "user_email", "message", "customMessage", "emailtemplate", "autoSend", "state")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of two settings objects (override wins), returning a new dict."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def build_recipient(given: dict[str, Any], index: int) -> dict[str, Any]:
    """One recipient of a new case: pending, with ``group`` (``order`` is its legacy alias)."""
    group = given.get("group", given.get("order", 0))
    recipient: dict[str, Any] = {"_id": object_id()}
    for name in _RECIPIENT_FIELDS:
        if name in given:
            recipient[name] = copy.deepcopy(given[name])
    recipient.setdefault("type", "email")
    recipient.setdefault("needsCpr", False)
    recipient.update(
        {
            "signing": given.get("signing", True) is not False,
            "group": group,
            "order": given.get("order", group),
            "signed": "pending",
            "signedDateAndTime": None,
            "log": [],
        }
    )
    return recipient


def build_case(
    body: dict[str, Any],
    documents: list[dict[str, Any]],
    *,
    settings: dict[str, Any] | None = None,
    title: str | None = None,
    folder: str | None = None,
) -> dict[str, Any]:
    """A new pending case from a validated create/submit ``body`` and its stored ``documents``."""
    now = iso()
    merged = merge(merge(DEFAULT_SETTINGS, settings or {}), body.get("settings") or {})
    merged.setdefault("availability", {})["isExpired"] = False
    case: dict[str, Any] = {
        "_id": object_id(),
        "nextSignKey": nextsign_key(),
        "referenceId": body.get("referenceId"),
        "title": body.get("title") or title or "Untitled",
        "folder": body.get("folder") or folder or "Default",
        "type": "Simple sign",
        "settings": merged,
        "signingSchemas": list(body.get("signingSchemas") or []),
        "recipients": [build_recipient(r, i) for i, r in enumerate(body["recipients"])],
        "documents": documents,
        "signedDocuments": [],
        "createdAt": now,
        "updatedAt": now,
    }
    for name in _CASE_FIELDS:
        if name in body:
            case[name] = copy.deepcopy(body[name])
    return case


def list_item(case: dict[str, Any]) -> dict[str, Any]:
    """The Case List item of a case."""
    return {
        key: case.get(key)
        for key in ("_id", "nextSignKey", "referenceId", "title", "folder", "createdAt", "updatedAt")
    }


def next_group(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The signing recipients of the lowest group that still has unsigned signers (empty when none)."""
    waiting = [r for r in case["recipients"] if r.get("signing") and r.get("signed") != "signed"]
    if not waiting:
        return []
    lowest = min(r.get("group", 0) for r in waiting)
    return [r for r in waiting if r.get("group", 0) == lowest]
