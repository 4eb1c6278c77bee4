"""Deferrable wait for NextSign cases: async polling shared by every trigger of a connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_nextsign.triggers._poller import get_poller


async def async_client_for(conn_id: str) -> Any:
    """Build an ``AsyncNextSignClient`` for ``conn_id`` without blocking the event loop."""
    from airflow.providers.common.compat.connection import get_async_connection
    from asgiref.sync import sync_to_async

    from airflow_provider_nextsign.api.aio import AsyncNextSignClient
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    conn = await get_async_connection(conn_id, hook=NextSignHook)
    # client_kwargs reads extra_dejson, which may mask secrets with a blocking call: keep it off the loop.
    kwargs = await sync_to_async(NextSignHook.client_kwargs)(conn)
    return AsyncNextSignClient(**kwargs)


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
    """

    def __init__(
        self,
        case_ids: Sequence[str],
        nextsign_conn_id: str = "nextsign_default",
        poll_interval: float = 60.0,
        end_time: float | None = None,
        grace_until: float | None = None,
    ) -> None:
        super().__init__()
        self.case_ids = [str(c) for c in case_ids]
        self.nextsign_conn_id = nextsign_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time) if end_time is not None else None
        self.grace_until = float(grace_until) if grace_until is not None else 0.0

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
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Subscribe to the connection's shared poller and yield one final event."""
        poller = get_poller(self.nextsign_conn_id, async_client_for)
        key, sub = poller.subscribe(self.case_ids, self.poll_interval, self.grace_until)
        known: dict[str, dict[str, Any]] = {}
        try:
            while True:
                remaining = None if self.end_time is None else self.end_time - time.time()
                if remaining is not None and remaining <= 0:
                    pending = sorted(c for c in self.case_ids if known.get(c, {}).get("state") != "signed")
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "cases": known,
                            "message": f"Timed out waiting for NextSign case(s) {', '.join(pending)} to sign",
                        }
                    )
                    return
                try:
                    snapshot = await asyncio.wait_for(sub.inbox.get(), remaining)
                except TimeoutError:
                    continue
                if snapshot.fatal:
                    yield TriggerEvent({"status": "error", "cases": known, "message": snapshot.error})
                    return
                fatal = [
                    o.error
                    for o in snapshot.cases.values()
                    if o.error is not None and not _transient(o.error)
                ]
                if fatal:
                    yield TriggerEvent({"status": "error", "cases": known, "message": str(fatal[0])})
                    return
                for case_id, seen in snapshot.cases.items():
                    if seen.error is None:
                        known[case_id] = seen.summary()
                failed = [
                    (c, known[c]["state"])
                    for c in self.case_ids
                    if c in known and known[c]["state"] in ("denied", "expired", "deleted")
                ]
                if failed:
                    case_id, state = failed[0]
                    yield TriggerEvent(
                        {
                            "status": "failed",
                            "case_id": case_id,
                            "state": state,
                            "cases": known,
                            "message": f"NextSign case {case_id} is {state}",
                        }
                    )
                    return
                if all(known.get(c, {}).get("state") == "signed" for c in self.case_ids):
                    yield TriggerEvent(
                        {
                            "status": "success",
                            "cases": known,
                            "message": f"{len(self.case_ids)} case(s) signed",
                        }
                    )
                    return
                self.log.info(
                    "%d of %d NextSign case(s) signed",
                    sum(1 for c in self.case_ids if known.get(c, {}).get("state") == "signed"),
                    len(self.case_ids),
                )
        finally:
            poller.unsubscribe(key)


def _transient(err: BaseException) -> bool:
    from airflow_provider_nextsign.api.retry import TRANSIENT_ERRORS

    return isinstance(err, TRANSIENT_ERRORS)
