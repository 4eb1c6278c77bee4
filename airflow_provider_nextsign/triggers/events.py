"""Event-driven scheduling without inbound HTTP: an ``AssetWatcher`` trigger for new signed cases (Airflow 3).

``NextSignCaseEventTrigger`` walks Case List (``status=signed`` or ``denied``) a fixed number of pages
per poll interval, round robin, and yields one event per poll that found cases it had not seen before,
listing them all. (One event per poll, not per case: Airflow 3.3 can leave events that arrive within
milliseconds of each other out of the run they should start, apache/airflow#54659.) What it reported
is a bounded cursor (:class:`~airflow_provider_nextsign.api.event_cursor.EventCursor`: an ``updatedAt``
watermark plus the ids reported since), so a watcher reports cases signed from about 5 minutes before it
first started on, those signed during its first sweep included. The cursor lives in the watched assets'
state store when the triggerer provides one (Airflow 3.3) and is saved one poll after its event, so a
triggerer restart repeats events rather than losing them; otherwise it is kept in memory (and the
trigger logs that once when it starts). Needs Airflow 3.1 or newer: importing it on Airflow 2 raises an
``ImportError`` that says so.

Use it in an ``AssetWatcher``::

    Asset("nextsign://<company>/case_signed", watchers=[AssetWatcher(name="...", trigger=...)])
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow_provider_nextsign.api.event_cursor import EventCursor
from airflow_provider_nextsign.compat import ASSET_STATE_STORE, ASSET_WATCHERS, UnsupportedAirflowFeatureError

try:
    from airflow.triggers.base import BaseEventTrigger, TriggerEvent
except ImportError as err:  # Airflow 2.11 has no event triggers: a DAG file using this fails to parse
    raise UnsupportedAirflowFeatureError(ASSET_WATCHERS.message()) from err

from airflow_provider_nextsign.triggers.case import async_client_for

#: Webhook trigger names this watcher reproduces, and the Case List filter behind each.
STATUS_OF_TRIGGER = {"case_signed": "signed", "case_denied": "denied"}
#: The longest wait after failed polls.
MAX_BACKOFF = 900.0


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

    @property
    def state_key(self) -> str:
        """The key of this watcher's cursor: one per trigger kind and connection."""
        return f"nextsign_cursor:{self.trigger}:{self.nextsign_conn_id}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per poll that found new cases. Never dies of an error.

        A poll that fails is logged and retried with backoff (up to 15 minutes), keeping the page
        position; the client is rebuilt after an auth error. The cursor that covers an event is saved
        one poll later, once the triggerer has stored the event: a restart in between reports those
        cases again (at least once) instead of losing them.
        """
        from airflow_provider_nextsign.api.errors import NextSignAuthError

        cursor = await self._load_cursor()
        client_cm: Any = None
        failures = 0
        unsaved = False
        try:
            while True:
                if unsaved:
                    unsaved = not await self._save_cursor(cursor)
                before = cursor.dump()
                try:
                    if client_cm is None:
                        client_cm = await async_client_for(self.nextsign_conn_id)
                        client = await client_cm.__aenter__()
                    new_cases = await self._poll(client, cursor)
                    failures = 0
                except Exception as err:
                    # A page that failed voids the whole poll: cases taken from its earlier pages are
                    # found again, not lost.
                    cursor = EventCursor.load(before) or cursor
                    failures += 1
                    wait = min(self.poll_interval * 2 ** min(failures, 10), MAX_BACKOFF)
                    self.log.warning(
                        "Polling NextSign for %s failed (%s); trying again in %.0f s at page %d",
                        self.trigger,
                        err,
                        wait,
                        cursor.index,
                    )
                    if isinstance(err, NextSignAuthError) and client_cm is not None:
                        await client_cm.__aexit__(None, None, None)  # a rotated key is picked up
                        client_cm = None
                    await asyncio.sleep(wait)
                    continue
                if new_cases:
                    yield TriggerEvent(self._payload(new_cases))
                    unsaved = True  # saved after the next sleep, once the event is stored
                else:
                    unsaved = not await self._save_cursor(cursor)
                await asyncio.sleep(self.poll_interval)
        finally:
            if client_cm is not None:
                await client_cm.__aexit__(None, None, None)

    async def _poll(self, client: Any, cursor: EventCursor) -> list[dict[str, Any]]:
        """Read up to ``pages_per_poll`` pages from the cursor's position; the new cases found."""
        new_cases: list[dict[str, Any]] = []
        for _ in range(self.pages_per_poll):
            page = await client.list_cases_page(
                status=STATUS_OF_TRIGGER[self.trigger], page_size=self.page_size, index=cursor.index
            )
            new_cases.extend(case for case in page if cursor.take(case))
            if len(page) < self.page_size:  # the end of the list: the next poll starts a new sweep
                cursor.sweep_done(datetime.now(UTC))
                break
            cursor.index += 1
        return new_cases

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
                    # The webhook receiver's dedupe key: the same signature seen twice (two triggerers
                    # during a handover) carries the same key.
                    "dedupe_key": f"{self.trigger}:{case['_id']}:{case.get('updatedAt') or ''}",
                }
                for case in cases
            ],
        }

    def _accessors(self) -> list[Any]:
        """The state accessors of every asset this trigger watches (one trigger row may serve several)."""
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return []
        many = [*getattr(store, "_by_name", {}).values(), *getattr(store, "_by_uri", {}).values()]
        return many or [store]

    async def _load_cursor(self) -> EventCursor:
        """The stored cursor; a new one only when no state exists. A failing read is retried, never
        taken for "no state" (that would forget the cases already reported)."""
        accessors = self._accessors()
        if not accessors:
            if not ASSET_STATE_STORE.available:
                self.log.info(ASSET_STATE_STORE.message())
            return EventCursor.start(datetime.now(UTC))
        failures = 0
        while True:
            try:
                states = [await accessor.aget(self.state_key) for accessor in accessors]
                break
            except Exception as err:
                failures += 1
                wait = min(self.poll_interval * 2 ** min(failures, 10), MAX_BACKOFF)
                self.log.warning(
                    "Could not read the watcher's cursor (%s); trying again in %.0f s", err, wait
                )
                await asyncio.sleep(wait)
        cursors = [c for c in (EventCursor.load(state) for state in states) if c is not None]
        if cursors:
            return min(cursors, key=lambda c: c.watermark)  # the most cautious of them
        return EventCursor.start(datetime.now(UTC))

    async def _save_cursor(self, cursor: EventCursor) -> bool:
        """Store the cursor for every watched asset; False when that failed (kept in memory, retried)."""
        state = cursor.dump()
        try:
            for accessor in self._accessors():
                await accessor.aset(self.state_key, state)
        except Exception:
            self.log.warning(
                "Could not save the NextSign watcher's cursor; it is kept in memory", exc_info=True
            )
            return False
        return True
