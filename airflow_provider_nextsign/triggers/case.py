"""Deferrable wait for NextSign cases: async polling shared by every trigger of a connection."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_nextsign.api.schedule import DEFAULT_MAX_INTERVAL
from airflow_provider_nextsign.triggers._poller import get_poller

#: Seconds a trigger whose deadline passed waits for its one last look before it times out.
FINAL_LOOK_SECONDS = 60.0
#: Attempts per request from a trigger: the poller looks again soon anyway, so a round never stalls.
TRIGGER_ATTEMPTS = 2


async def async_client_for(conn_id: str) -> Any:
    """Build an ``AsyncNextSignClient`` for ``conn_id`` without blocking the event loop.

    The first use imports aiohttp and the client (about 0.4 s), so the imports run in a thread; the
    client tries each request at most twice (its caller polls again soon).
    """
    from airflow.providers.common.compat.connection import get_async_connection
    from asgiref.sync import sync_to_async

    aio = await asyncio.to_thread(importlib.import_module, "airflow_provider_nextsign.api.aio")
    from airflow_provider_nextsign.api.retry import RetryPolicy
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    conn = await get_async_connection(conn_id, hook=NextSignHook)
    # client_kwargs reads extra_dejson, which may mask secrets with a blocking call: keep it off the loop.
    kwargs = await sync_to_async(NextSignHook.client_kwargs)(conn)
    return aio.AsyncNextSignClient(**kwargs, retry_policy=RetryPolicy(max_attempts=TRIGGER_ATTEMPTS))


class NextSignCaseTrigger(BaseTrigger):
    """Wait until every case is signed, one fails, or ``end_time`` passes; yield one event.

    The event payload is ``{"status": "success" | "failed" | "timeout" | "error", "cases":
    {case_id: {"state", "signed_documents"}}, "message": str}``; for "failed" also ``case_id`` and
    ``state`` of the first failed case. Transient errors and 429s are logged and retried next interval.

    :param case_ids: the cases to wait for.
    :param nextsign_conn_id: the NextSign connection.
    :param poll_interval: seconds between polls.
    :param end_time: absolute deadline (epoch seconds).
    :param grace_until: until then (epoch seconds) a case NextSign does not show counts as pending.
    :param max_interval: the longest wait between two looks at a case (the interval grows with the
        case's age, from ``poll_interval`` up to this).
    """

    def __init__(
        self,
        case_ids: Sequence[str],
        nextsign_conn_id: str = "nextsign_default",
        poll_interval: float = 60.0,
        end_time: float | None = None,
        grace_until: float | None = None,
        max_interval: float = DEFAULT_MAX_INTERVAL,
    ) -> None:
        super().__init__()
        self.case_ids = [str(c) for c in case_ids]
        self.nextsign_conn_id = nextsign_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time) if end_time is not None else None
        self.grace_until = float(grace_until) if grace_until is not None else 0.0
        self.max_interval = float(max_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and JSON-safe kwargs the triggerer rebuilds this trigger from."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "case_ids": list(self.case_ids),
                "nextsign_conn_id": self.nextsign_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "grace_until": self.grace_until,
                "max_interval": self.max_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Subscribe to the connection's shared poller and yield one final event."""
        from airflow_provider_nextsign.api.errors import NextSignInputError
        from airflow_provider_nextsign.api.payloads import check_ids

        try:
            check_ids(self.case_ids, "case_ids")
        except NextSignInputError as err:  # only this waiter's own ids can fail it
            yield TriggerEvent({"status": "error", "cases": {}, "message": err.message})
            return
        poller = get_poller(self.nextsign_conn_id, async_client_for)
        key, sub = poller.subscribe(self.case_ids, self.poll_interval, self.grace_until, self.max_interval)
        known: dict[str, dict[str, Any]] = {}
        last_look = False
        try:
            while True:
                remaining = None if self.end_time is None else self.end_time - time.time()
                if remaining is not None and remaining <= 0:
                    if last_look:
                        yield TriggerEvent(self._timeout(known))
                        return
                    # The deadline passed (maybe while the triggerer was down): one last look first.
                    last_look = True
                    poller.expedite(key)
                    remaining = FINAL_LOOK_SECONDS
                try:
                    snapshot = await asyncio.wait_for(sub.inbox.get(), remaining)
                except TimeoutError:
                    continue
                event = self._event(snapshot, known)
                if event is not None:
                    yield TriggerEvent(event)
                    return
                if last_look:
                    yield TriggerEvent(self._timeout(known))
                    return
        finally:
            poller.unsubscribe(key)

    def _event(self, snapshot: Any, known: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        """Take one snapshot of some of this trigger's cases; the final event's payload, if any."""
        from airflow_provider_nextsign.api.cases import CaseState
        from airflow_provider_nextsign.api.retry import TRANSIENT_ERRORS

        if snapshot.fatal:
            return {"status": "error", "cases": known, "message": snapshot.error}
        errors = {c: o.error for c, o in snapshot.cases.items() if o.error is not None}
        lasting = [err for err in errors.values() if not isinstance(err, TRANSIENT_ERRORS)]
        if lasting:
            return {"status": "error", "cases": known, "message": str(lasting[0])}
        if errors:
            self.log.warning(
                "Could not read %d of this task's %d NextSign case(s) (%s); trying again",
                len(errors),
                len(self.case_ids),
                next(iter(errors.values())),
            )
        for case_id, seen in snapshot.cases.items():
            if seen.error is None:
                known[case_id] = seen.summary()
        for case_id in self.case_ids:
            state = known.get(case_id, {}).get("state")
            if state is not None and CaseState(state).is_failure:
                return {
                    "status": "failed",
                    "case_id": case_id,
                    "state": state,
                    "cases": known,
                    "message": f"NextSign case {case_id} is {state}",
                }
        signed = sum(1 for c in self.case_ids if known.get(c, {}).get("state") == "signed")
        if signed == len(self.case_ids):
            return {"status": "success", "cases": known, "message": f"{signed} case(s) signed"}
        if len(errors) < len(snapshot.cases):
            self.log.info("%d of %d NextSign case(s) signed", signed, len(self.case_ids))
        return None

    def _timeout(self, known: dict[str, dict[str, Any]]) -> dict[str, Any]:
        pending = sorted(c for c in self.case_ids if known.get(c, {}).get("state") != "signed")
        return {
            "status": "timeout",
            "cases": known,
            "message": f"Timed out waiting for NextSign case(s) {', '.join(pending)} to sign",
        }
