"""The benchmark runner stays alive: its cheap parts run and report each figure beside a target.

Not a timed test: figures are counts and memory deltas, and only their shape and the counting
targets (which do not depend on machine speed) are asserted.
"""

from __future__ import annotations

from benchmarks import __main__ as runner
from benchmarks import download, waiting


def test_waiting_costs_one_request_per_batch_not_per_sensor():
    rows = waiting.run(quick=True)
    by_figure = {r["figure"]: r for r in rows}
    assert by_figure["waiting: 100 case(s), 100 sensor(s)"]["measured"] == 2.0
    assert all(r["met"] for r in rows), rows


def test_waiting_figure_counts_batches_when_the_cases_differ_in_age():
    """Cases created a second apart get different adaptive intervals (10% of age); the figure must still
    be requests per poll interval, not per round of whichever cases happen to be due."""
    import asyncio
    import os
    import time

    from nextsign_sandbox.server import SandboxServer

    with SandboxServer(0, requests_per_minute=100, time_scale=6000) as sandbox:
        os.environ["AIRFLOW_CONN_NEXTSIGN_DEFAULT"] = sandbox.connection_json
        older = sandbox.seed_cases(50)
        time.sleep(1.0)
        ids = older + sandbox.seed_cases(50)
        time.sleep(2.5)  # ages 2.5 s and 3.5 s: adaptive intervals of 0.25 s and 0.35 s
        measured = asyncio.run(waiting._requests_per_look(ids, len(ids), poll_interval=0.2))
    assert measured == 2.0


def test_download_reports_memory_growth_and_writes_the_whole_file():
    (row,) = download.run(quick=True)
    assert row["details"]["complete"] is True
    assert row["unit"] == "MB above baseline" and isinstance(row["measured"], float)


def test_table_lists_every_figure_with_its_target():
    rows = [
        {"figure": "a", "measured": 1, "unit": "x", "target": "<= 2", "met": True},
        {"figure": "bb", "measured": 3, "unit": "x", "target": "<= 2", "met": False},
    ]
    table = runner.format_table(rows).splitlines()
    assert table[2].endswith("yes") and table[3].endswith("NO")
    assert "<= 2" in table[3]


def test_budget_across_hosts_through_redis_spends_every_request_without_a_429(redis_url):
    from benchmarks import budget_hosts

    row = budget_hosts.run(2, 2, 60, 100, redis_url, time_scale=20)
    assert (row["succeeded"], row["failures"], row["fallback_requests"]) == (60, 0, 0)
    assert row["throttled_429"] == 0
    assert row["target"] == {"budget_ratio_min": 0.95, "throttled_429_max": 0}
