"""Assets for NextSign case events: ``nextsign://<company id>/<trigger>`` (Airflow 3.1 or newer).

One asset per company and webhook trigger. The webhook receiver (``airflow_provider_nextsign.webhooks``)
records an event on it for each delivery, and ``NextSignCaseEventTrigger`` can watch it; a DAG scheduled
on it runs when a case of that company reaches that state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from airflow_provider_nextsign.compat import ASSETS

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEME = "nextsign"

#: NextSign's webhook triggers, in the names NextSign uses (nextsign-api.md, "Webhooks").
CASE_EVENT_TRIGGERS: tuple[str, ...] = (
    "case_created",
    "recipient_signed",
    "case_signed",
    "case_denied",
    "webflow.completed",
    "case.reminder.sent",
    "case.expiry.expired",
    "case.expiry.7days",
)

_COMPANY_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _check(company_id: str, trigger: str) -> None:
    if not isinstance(company_id, str) or not _COMPANY_ID.match(company_id):
        raise ValueError(
            f"company_id must be the NextSign company ID (letters, digits, '-' or '_'), got {company_id!r}; "
            "it is the Company ID (login) of your NextSign connection"
        )
    if trigger not in CASE_EVENT_TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(CASE_EVENT_TRIGGERS)}; got {trigger!r}")


def case_event_uri(company_id: str, trigger: str = "case_signed") -> str:
    """The asset URI for one company's ``trigger`` events, for example ``nextsign://6576e1.../case_signed``."""
    _check(company_id, trigger)
    return f"{SCHEME}://{company_id}/{trigger}"


def case_event_asset(company_id: str, trigger: str = "case_signed", **asset_kwargs: Any) -> Asset:
    """An Airflow 3 ``Asset`` for one company's ``trigger`` events (extra keywords go to ``Asset``).

    Schedule a DAG on it (``PartitionedAssetTimetable(assets=...)`` for one run per case on Airflow 3.2
    or newer, see the event-driven guide), or pass ``watchers=[AssetWatcher(...)]`` to poll instead of
    receiving webhooks. On Airflow 2 it raises
    :class:`~airflow_provider_nextsign.compat.UnsupportedAirflowFeatureError` (an ``ImportError``, so the
    DAG file fails to parse) naming the version it needs and the fallback.
    """
    ASSETS.require()
    from airflow.sdk import Asset

    return Asset(uri=case_event_uri(company_id, trigger), **asset_kwargs)


def create_asset(*, company_id: str, trigger: str = "case_signed", **asset_kwargs: Any) -> Asset:
    """Asset factory Airflow registers for the ``nextsign`` scheme (provider info ``asset-uris``)."""
    return case_event_asset(company_id, trigger, **asset_kwargs)


def parse_case_event_uri(uri: str) -> tuple[str, str]:
    """Split a ``nextsign://`` asset URI into ``(company_id, trigger)``; ``ValueError`` names the fault."""
    return _split(urlsplit(uri))


def _split(parts: SplitResult) -> tuple[str, str]:
    if parts.scheme != SCHEME:
        raise ValueError(f"a NextSign asset URI starts with {SCHEME}://, got {parts.geturl()!r}")
    trigger = parts.path.strip("/")
    if parts.query or parts.fragment or parts.port is not None or parts.username:
        raise ValueError(
            f"a NextSign asset URI is {SCHEME}://<company id>/<trigger> with nothing else, "
            f"got {parts.geturl()!r}"
        )
    _check(parts.netloc, trigger)
    return parts.netloc, trigger


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Check a ``nextsign://<company id>/<trigger>`` URI when a DAG declares the asset (URI handler)."""
    company_id, trigger = _split(uri)
    return uri._replace(netloc=company_id, path=f"/{trigger}")


def case_ids_from_events(triggering_asset_events: Mapping[Any, Iterable[Any]] | None) -> list[str]:
    """The case ids in a run's ``triggering_asset_events``, sorted, each once.

    Reads both event shapes: the webhook receiver's (``extra["case_id"]``) and the asset watcher's
    (``extra["payload"]["case_ids"]``). Events without case ids (other producers) are skipped.
    """
    ids: set[str] = set()
    for events in (triggering_asset_events or {}).values():
        for event in events:
            extra = getattr(event, "extra", None) or {}
            payload = extra.get("payload") if isinstance(extra.get("payload"), dict) else {}
            found = [extra.get("case_id"), *(payload.get("case_ids") or [])]  # type: ignore[union-attr]
            ids.update(str(case_id) for case_id in found if case_id)
    return sorted(ids)
