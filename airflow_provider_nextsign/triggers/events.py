"""Event-driven scheduling without inbound HTTP: an ``AssetWatcher`` trigger for new signed cases (Airflow 3).

``NextSignCaseEventTrigger`` walks Case List (``status=signed`` or ``denied``) a fixed number of pages
per poll interval, round robin, and yields one event per poll that found cases it had not seen before,
listing them all. (One event per poll, not per case: Airflow 3.3 can leave events that arrive within
milliseconds of each other out of the run they should start, apache/airflow#54659.) The first full
sweep only learns the cases that were already there, so a watcher reports cases signed after it
started. The seen ids live in the watched asset's state store when the triggerer provides one (Airflow
3.3), so a triggerer restart does not repeat events; otherwise they are kept in memory (and the trigger
logs that once when it starts). Needs Airflow 3.1 or newer: importing it on Airflow 2 raises an
``ImportError`` that says so.

Use it in an ``AssetWatcher``::

    Asset("nextsign://<company>/case_signed", watchers=[AssetWatcher(name="...", trigger=...)])
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow_provider_nextsign.compat import ASSET_STATE_STORE, ASSET_WATCHERS, UnsupportedAirflowFeatureError

try:
    from airflow.triggers.base import BaseEventTrigger, TriggerEvent
except ImportError as err:  # Airflow 2.11 has no event triggers: a DAG file using this fails to parse
    raise UnsupportedAirflowFeatureError(ASSET_WATCHERS.message()) from err

from airflow_provider_nextsign.triggers.case import async_client_for

#: Webhook trigger names this watcher reproduces, and the Case List filter behind each.
STATUS_OF_TRIGGER = {"case_signed": "signed", "case_denied": "denied"}
STATE_KEY = "nextsign_seen_case_ids"


class NextSignCaseEventTrigger(BaseEventTrigger):
    """Yield ``{"trigger", "case_ids", "cases"}`` for each poll that finds newly signed (or denied) cases.

    ``cases`` holds ``case_id``, ``updatedAt``, ``title`` and ``referenceId`` of each; a DAG reads the
    ids with :func:`airflow_provider_nextsign.assets.case_ids_from_events`.

    :param trigger: ``case_signed`` or ``case_denied`` (NextSign's webhook trigger names).
    :param nextsign_conn_id: the NextSign connection.
    :param poll_interval: seconds between polls.
    :param pages_per_poll: Case List pages fetched per poll: the fixed request cost of an interval.
    :param page_size: cases per page.
    """

    def __init__(
        self,
        *,
        trigger: str = "case_signed",
        nextsign_conn_id: str = "nextsign_default",
        poll_interval: float = 60.0,
        pages_per_poll: int = 1,
        page_size: int = 100,
    ) -> None:
        super().__init__()
        if trigger not in STATUS_OF_TRIGGER:
            raise ValueError(f"trigger must be one of {sorted(STATUS_OF_TRIGGER)}, got {trigger!r}")
        if pages_per_poll < 1 or page_size < 1:
            raise ValueError("pages_per_poll and page_size must be positive integers")
        self.trigger = trigger
        self.nextsign_conn_id = nextsign_conn_id
        self.poll_interval = float(poll_interval)
        self.pages_per_poll = int(pages_per_poll)
        self.page_size = int(page_size)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and JSON-safe kwargs the triggerer rebuilds this trigger from."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "trigger": self.trigger,
                "nextsign_conn_id": self.nextsign_conn_id,
                "poll_interval": self.poll_interval,
                "pages_per_poll": self.pages_per_poll,
                "page_size": self.page_size,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; every case seen for the first time after the first full sweep is one event."""
        seen, primed = await self._load_seen()
        index = 0
        async with await async_client_for(self.nextsign_conn_id) as client:
            while True:
                new_cases: list[dict[str, Any]] = []
                changed = False
                for _ in range(self.pages_per_poll):
                    page = await client.list_cases_page(
                        status=STATUS_OF_TRIGGER[self.trigger], page_size=self.page_size, index=index
                    )
                    for case in page:
                        if str(case.get("_id")) not in seen:
                            seen.add(str(case["_id"]))
                            changed = True
                            if primed:
                                new_cases.append(case)
                    if len(page) < self.page_size:  # end of the list: wrap around
                        index = 0
                        changed = changed or not primed
                        primed = True
                    else:
                        index += 1
                # Saved before the event is yielded: a restart then never reports a case twice.
                # Saved when the first sweep ends too, so a restart does not re-prime and miss the
                # cases signed while the triggerer was down.
                if changed:
                    await self._save_seen(seen, primed)
                if new_cases:
                    yield TriggerEvent(self._payload(new_cases))
                await asyncio.sleep(self.poll_interval)

    def _payload(self, cases: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "case_ids": [str(case["_id"]) for case in cases],
            "cases": [
                {
                    "case_id": str(case["_id"]),
                    "updatedAt": case.get("updatedAt"),
                    "title": case.get("title"),
                    "referenceId": case.get("referenceId"),
                }
                for case in cases
            ],
        }

    async def _load_seen(self) -> tuple[set[str], bool]:
        store = getattr(self, "asset_state_store", None)
        if store is None and not ASSET_STATE_STORE.available:
            self.log.info(ASSET_STATE_STORE.message())
        if store is not None:
            try:
                state = await store.aget(STATE_KEY)
            except Exception:  # no state yet, or no single watched asset: start fresh
                state = None
            if isinstance(state, dict):
                return set(state.get("seen") or []), bool(state.get("primed"))
        return set(), False

    async def _save_seen(self, seen: set[str], primed: bool) -> None:
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return
        try:
            await store.aset(STATE_KEY, {"seen": sorted(seen), "primed": primed})
        except Exception:
            self.log.warning(
                "Could not save the NextSign watcher's cursor; it is kept in memory", exc_info=True
            )
