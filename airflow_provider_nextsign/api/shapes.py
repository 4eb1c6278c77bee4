"""Every answer shape NextSign was documented or seen to use, read in one place.

The docs and a production integration disagree (nextsign-api.md §0): a created case comes in
``contract`` or in ``data``; a case list in ``cases`` or in ``data.cases``; list and Get Multiple items
may be summaries (``_id, title, createdAt, updatedAt``) or full cases with recipients. Every read of
the provider goes through the functions here, so each accepted shape is written down exactly once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from airflow_provider_nextsign.api.errors import NextSignUnexpectedResponseError

__all__ = [
    "LOG_SHAPES_ENV",
    "case_in",
    "cases_in",
    "created_case_in",
    "describe",
    "is_full_case",
    "payload_of",
    "stored_url_in",
    "summary_keys",
]

log = logging.getLogger(__name__)

#: Set to 1 to log the key structure (never the values) of every NextSign answer at INFO.
LOG_SHAPES_ENV = "NEXTSIGN_LOG_RESPONSE_SHAPES"


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def cases_in(body: Any) -> list[dict[str, Any]] | None:
    """The case items of a Case List / Get Multiple answer (``cases`` or ``data.cases``), else None."""
    outer = _mapping(body)
    if outer is None:
        return None
    for candidate in (
        outer.get("cases"),
        (_mapping(outer.get("data")) or {}).get("cases"),
        outer.get("data"),
    ):
        if isinstance(candidate, list):
            return [dict(item) for item in candidate if isinstance(item, Mapping)]
    return None


def case_in(body: Any) -> dict[str, Any] | None:
    """The case of a Case Get answer (``case``, ``data.case`` or a ``data`` object with an ``_id``)."""
    outer = _mapping(body)
    if outer is None:
        return None
    data = _mapping(outer.get("data")) or {}
    for candidate in (outer.get("case"), data.get("case"), data):
        found = _mapping(candidate)
        if found is not None and found.get("_id"):
            return dict(found)
    return None


def created_case_in(body: Any) -> dict[str, Any] | None:
    """The new case of a Case Create / Forms Submit answer (``contract`` or ``data``), else None."""
    outer = _mapping(body)
    if outer is None:
        return None
    for candidate in (
        outer.get("contract"),
        outer.get("data"),
        (_mapping(outer.get("data")) or {}).get("case"),
    ):
        found = _mapping(candidate)
        if found is not None and (found.get("_id") or found.get("id")):
            return dict(found)
    return None


def stored_url_in(body: Mapping[str, Any]) -> str:
    """The stored-file URL of a Document Upload answer (``url``, ``file`` or ``location``)."""
    for key in ("url", "file", "location"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    raise NextSignUnexpectedResponseError(
        f"the upload answer carries no file URL: {describe(body)}", operation="file_upload"
    )


def _list_payload(body: Any) -> Any:
    return body if isinstance(body, list) else None


def _has_key(*keys: str) -> Any:
    def find(body: Any) -> Any:
        outer = _mapping(body)
        return outer if outer is not None and any(key in outer for key in keys) else None

    return find


def _convert_payload(body: Any) -> Any:
    outer = _mapping(body)
    return outer if outer is not None and isinstance(outer.get("documents"), list) else None


#: For each operation, how to find its payload in a 2xx answer (None = not a success shape).
_PAYLOADS: dict[str, Any] = {
    "forms_get": _has_key("_id"),
    "forms_tags": _list_payload,
    "forms_submit": created_case_in,
    "case_create": created_case_in,
    "cases_list": cases_in,
    "case_get": case_in,
    "cases_get_multiple": cases_in,
    "case_delete": _has_key("return", "status"),
    "file_upload": _has_key("url", "file", "location"),
    "file_presigned_url": _has_key("signedUrl"),
    "document_convert": _convert_payload,
}


def payload_of(operation: str, body: Any) -> Any:
    """The payload of a success answer of ``operation``, or None when ``body`` is no success shape."""
    find = _PAYLOADS.get(operation)
    if find is None:
        return body if isinstance(body, Mapping) else None
    return find(body)


def is_full_case(item: Mapping[str, Any]) -> bool:
    """True when a case item carries what its state is derived from (``recipients``), not a summary."""
    return isinstance(item.get("recipients"), list)


def summary_keys(item: Mapping[str, Any]) -> list[str]:
    """The keys of a summary item, for a message that names what was seen (never the values)."""
    return sorted(str(key) for key in item)


def describe(body: Any, depth: int = 3) -> str:
    """The key structure of ``body`` without any value: ``{case: {_id: str, recipients: [{...}]}}``."""
    if isinstance(body, Mapping):
        if depth <= 0:
            return "{…}"
        inner = ", ".join(
            f"{key}: {describe(value, depth - 1)}"
            for key, value in sorted(body.items(), key=lambda kv: str(kv[0]))
        )
        return "{" + inner + "}"
    if isinstance(body, list):
        if not body:
            return "[]"
        return f"[{describe(body[0], depth - 1)}{', …' if len(body) > 1 else ''}] ({len(body)})"
    if body is None:
        return "null"
    return type(body).__name__


def log_shape(operation: str, status_code: int, body: Any) -> None:
    """Log the key structure of an answer when ``NEXTSIGN_LOG_RESPONSE_SHAPES`` is set (debug switch)."""
    if os.environ.get(LOG_SHAPES_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        log.info("NextSign %s HTTP %s shape: %s", operation, status_code, describe(body))
