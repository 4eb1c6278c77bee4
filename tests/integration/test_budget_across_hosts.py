"""Issue 16's check: 2 simulated hosts x 3 processes, with only a connection whose extra names a Redis
connection, send 240 reads through the hook to a sandbox allowing 100/min (time-scaled): the sandbox
counts 0 x 429. Without the extra, each host spends the whole budget and the sandbox answers 429s.

Each process has its own host's ``NEXTSIGN_RATE_LIMIT_DIR`` and ``TMPDIR``, as separate machines would.
The run's duration against the evenly paced minimum is a benchmark figure (benchmarks/budget_hosts.py),
not asserted here.
"""

from __future__ import annotations

import json
import multiprocessing

import pytest

from tests.integration._host_process import read_forms

HOSTS, PER_HOST, READS = 2, 3, 240
TIME_SCALE = 20  # the sandbox's 100/min window lasts 3 real seconds


def run_hosts(nextsign_sandbox, tmp_path, extra: dict, redis_conn: dict | None) -> list[dict]:
    # Forked from a process that has imported the hook already: six Airflow imports would take longer
    # than the reads. Each child sets its host's environment before it builds a hook or a budget.
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook  # noqa: F401

    conn = nextsign_sandbox.connection
    conn["extra"] = {**conn["extra"], **extra}
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(HOSTS * PER_HOST), ctx.Queue()
    processes = []
    for host in range(HOSTS):
        host_dir = tmp_path / f"host-{host}"
        (host_dir / "tmp").mkdir(parents=True)
        env = {
            "AIRFLOW_CONN_NEXTSIGN_DEFAULT": json.dumps(conn),
            "NEXTSIGN_RATE_LIMIT_DIR": str(host_dir / "budget"),
            "TMPDIR": str(host_dir / "tmp"),
        }
        if redis_conn is not None:
            env["AIRFLOW_CONN_BUDGET_REDIS"] = json.dumps(redis_conn)
        for _ in range(PER_HOST):
            args = (env, nextsign_sandbox.form_id, READS // (HOSTS * PER_HOST), barrier, results)
            processes.append(ctx.Process(target=read_forms, args=args))
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=300) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)
    return outcomes


@pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=TIME_SCALE)
def test_two_hosts_share_one_budget_through_redis(nextsign_sandbox, tmp_path, redis_url):
    from airflow_provider_nextsign.api.ratelimit_redis import RedisSettings

    redis = RedisSettings.from_url(redis_url)
    redis_conn = {"conn_type": "redis", "host": redis.host, "port": redis.port, "extra": {"db": redis.db}}
    outcomes = run_hosts(nextsign_sandbox, tmp_path, {"redis_conn_id": "budget_redis"}, redis_conn)

    assert {o["budget"] for o in outcomes} == {"RedisBudget"}
    assert [o["failures"] for o in outcomes] == [[]] * len(outcomes)
    assert sum(o["stats"]["fallback"] for o in outcomes) == 0  # Redis served every token
    stats = nextsign_sandbox.stats()
    assert stats["by_status"] == {"200": READS}  # 0 x 429
    assert stats["by_operation"] == {"forms_get": READS}


@pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=TIME_SCALE)
def test_without_redis_each_host_spends_the_whole_budget(nextsign_sandbox, tmp_path):
    outcomes = run_hosts(nextsign_sandbox, tmp_path, {}, None)

    assert {o["budget"] for o in outcomes} == {"RequestBudget"}
    stats = nextsign_sandbox.stats()
    assert stats["by_status"].get("429", 0) > 0  # the load is real: two hosts ask for twice the budget
    assert stats["by_status"]["200"] + sum(len(o["failures"]) for o in outcomes) == READS
