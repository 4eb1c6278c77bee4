"""Waiting cost: NextSign requests per poll interval to wait on N cases, with one sensor and with N sensors.

Real ``NextSignCaseTrigger`` instances run in one event loop (as in one triggerer) against the
sandbox; the cases stay pending, so each interval looks at all of them. Requests are counted on the
async client, and divided by the looks at every case the shared poller made. The naive way (each sensor
asking for its own cases every interval) costs one request per case; the target is ceil(N / batch)
either way.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from typing import Any

LOOKS = 3


async def _requests_per_look(case_ids: list[str], sensors: int, poll_interval: float) -> float:
    """Requests per look at every case (each case is looked at once per interval), over ``LOOKS`` looks.

    Counted as requests x N / ids read, so it stays the cost per interval when the cases fall due in
    different rounds (sensors that subscribed a moment apart): two rounds of one 50-id request each are
    one look at 100 cases for 2 requests, as one round of two requests is.
    """
    from airflow_provider_nextsign.api import aio
    from airflow_provider_nextsign.triggers import _poller
    from airflow_provider_nextsign.triggers.case import NextSignCaseTrigger

    counts = {"requests": 0, "ids": 0, "rounds": 0}
    start: dict[str, int] = {}  # the counts when the first round ended
    send, round_ = aio.AsyncNextSignClient._send, _poller.CasePoller._round

    async def counting_send(self: Any, *args: Any) -> Any:
        counts["requests"] += 1
        return await send(self, *args)

    async def counting_round(self: Any, client: Any) -> bool:
        watched = self._schedule.watched()
        due = self._schedule.due_batches(self._clock())
        refused = await round_(self, client)
        counts["ids"] += sum(1 for batch in due for case_id in batch if case_id in watched)
        counts["rounds"] += 1
        if counts["rounds"] == 1:  # it may run while sensors still subscribe: skip it
            start.update(counts)
        return refused

    aio.AsyncNextSignClient._send = counting_send  # type: ignore[method-assign,assignment]
    _poller.CasePoller._round = counting_round  # type: ignore[method-assign]
    try:
        per_sensor = math.ceil(len(case_ids) / sensors)
        # max_interval = poll_interval: the figure is the cost of batching alone, not of the age-based
        # slowing (which would make it smaller still).
        triggers = [
            NextSignCaseTrigger(
                case_ids[i : i + per_sensor], poll_interval=poll_interval, max_interval=poll_interval
            )
            for i in range(0, len(case_ids), per_sensor)
        ]
        tasks = [asyncio.create_task(_first_event(t)) for t in triggers]
        while not start or counts["ids"] - start["ids"] < LOOKS * len(case_ids):
            await asyncio.sleep(poll_interval / 5)
        measured = (counts["requests"] - start["requests"]) * len(case_ids) / (counts["ids"] - start["ids"])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return measured
    finally:
        aio.AsyncNextSignClient._send = send  # type: ignore[method-assign]
        _poller.CasePoller._round = round_  # type: ignore[method-assign]


async def _first_event(trigger: Any) -> Any:
    return await anext(trigger.run())


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Requests per interval for N = 1, 100, 1,000 (quick: 1, 100) cases, one sensor and N sensors."""
    from airflow_provider_nextsign.triggers import _poller
    from nextsign_sandbox.server import SandboxServer

    logging.getLogger("airflow").setLevel(logging.WARNING)
    logging.getLogger("airflow_provider_nextsign").setLevel(logging.WARNING)
    sizes = [1, 100] if quick else [1, 100, 1000]
    rows = []
    with SandboxServer(0, requests_per_minute=100, time_scale=6000) as sandbox:
        os.environ["AIRFLOW_CONN_NEXTSIGN_DEFAULT"] = sandbox.connection_json
        case_ids = sandbox.seed_cases(max(sizes))
        for n in sizes:
            target = math.ceil(n / _poller.BATCH_SIZE)
            for sensors in sorted({1, n}):
                measured = asyncio.run(_requests_per_look(case_ids[:n], sensors, poll_interval=0.2))
                rows.append(
                    {
                        "figure": f"waiting: {n} case(s), {sensors} sensor(s)",
                        "measured": round(measured, 2),
                        "unit": "requests/interval",
                        "target": f"{target} (naive: {n})",
                        "met": measured <= target,
                        "details": {"cases": n, "sensors": sensors, "batch": _poller.BATCH_SIZE, "naive": n},
                    }
                )
    return rows + shape_rows()


def shape_rows(cases: int = 100, changed: int = 10) -> list[dict[str, Any]]:
    """The cost of one look at ``cases`` pending cases, and of the look after ``changed`` were signed,
    for summary items (the docs profile) and full items (rich): Get Multiple per 50 ids, plus one Case
    Get per case whose ``updatedAt`` moved when the items are summaries."""
    from airflow_provider_nextsign.api.client import NextSignClient
    from airflow_provider_nextsign.api.watch import CaseWatch
    from nextsign_sandbox.server import SandboxServer

    rows = []
    for profile in ("docs", "rich"):
        with SandboxServer(0, profile=profile, rate_limit=False) as sandbox:
            ids = sandbox.seed_cases(cases)
            client = NextSignClient(
                sandbox.company_id, sandbox.api_key, host=sandbox.url, requests_per_minute=1e9
            )
            watch = CaseWatch()
            first, steady = _look(sandbox, watch, ids, client), _look(sandbox, watch, ids, client)
            for case_id in ids[:changed]:
                sandbox.sign(case_id)
            after = _look(sandbox, watch, ids, client)
            client.close()
        batches = math.ceil(cases / 50)
        expected = batches + (changed if profile == "docs" else 0)
        items = "summaries" if profile == "docs" else "full items"
        rows.append(
            {
                "figure": f"waiting on {cases} cases, {items}: a look after {changed} signed (first {first}, "
                f"then {steady})",
                "measured": after,
                "unit": "requests",
                "target": f"{expected} = ceil(N/50)" + (f" + {changed} changed" if profile == "docs" else ""),
                "met": after == expected and steady == batches,
                "details": {"profile": profile, "first": first, "steady": steady, "after_changes": after},
            }
        )
    return rows


def _look(sandbox: Any, watch: Any, ids: list[str], client: Any) -> int:
    """One look at every case through the waiting core; the requests it cost."""
    from airflow_provider_nextsign.api.watch import drive

    sandbox.reset_stats()
    drive(watch.poll(ids, in_grace=lambda _: False), client)
    return int(sandbox.stats()["requests"])
