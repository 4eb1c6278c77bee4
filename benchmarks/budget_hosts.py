"""Budget across hosts: processes on several simulated hosts spending one NextSign request budget.

Each simulated host has its own file-budget directory, as separate machines (or pods) would. Before every
request to a strict rolling-window server (:mod:`benchmarks._strict_server`) a worker takes a token:
with Redis from :func:`~airflow_provider_nextsign.api.ratelimit_redis.get_redis_budget` (one budget for
every host), without it from its host's file budget, so each host believes it owns the whole budget and
only the 429s and Retry-After keep the hosts in line. Reported as in :mod:`benchmarks.budget`: the share
of the budget used in the run's whole windows (``budget_ratio``), 429s, failures, and the wall time over
the evenly paced minimum.

:func:`run_hook_check` is issue 16's check: 2 hosts x 3 processes send 240 reads through
``NextSignHook`` with a connection whose extra names a Redis connection, against the sandbox at 100/min.

Run: ``python -m benchmarks.budget_hosts`` (about a minute) or ``--quick``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks._redis_server import local_redis
from benchmarks._strict_server import StrictRateLimitServer
from benchmarks.budget import _window_use

COMPANY = "bench-company"
API_KEY = "bench-api-key"
#: Issue 16: with Redis, at least this share of the budget and no 429.
TARGET_REDIS = 0.95
#: Issue 16's check: no longer than 1/0.95 of the evenly paced minimum.
TARGET_TIME_RATIO = 1 / 0.95


def run(
    hosts: int,
    per_host: int,
    total_requests: int,
    rpm: float,
    redis_url: str | None,
    *,
    time_scale: float = 20.0,
    max_attempts: int = 30,
) -> dict[str, Any]:
    """Spend ``total_requests`` reads from ``hosts`` x ``per_host`` workers against a strict ``rpm`` server.

    :param redis_url: share the budget through this Redis; ``None``: each host keeps its own file budget.
    """
    processes = hosts * per_host
    shares = [total_requests // processes + (i < total_requests % processes) for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes + 1), ctx.Queue()
    prefix = f"nextsign-bench:{uuid.uuid4().hex}:"
    with StrictRateLimitServer(rpm, time_scale=time_scale) as server, tempfile.TemporaryDirectory() as root:
        workers = []
        for n, count in enumerate(shares):
            host_dir = str(Path(root) / f"host-{n % hosts}")
            args = (
                server.url,
                count,
                rpm * time_scale,
                time_scale,
                host_dir,
                redis_url,
                prefix,
                max_attempts,
            )
            workers.append(ctx.Process(target=_worker, args=(*args, barrier, results), daemon=True))
        for worker in workers:
            worker.start()
        barrier.wait(timeout=120)
        started = time.monotonic()
        expected = total_requests / rpm * 60.0 / time_scale
        outcomes = [results.get(timeout=120 + 10 * expected) for _ in workers]
        wall = time.monotonic() - started
        for worker in workers:
            worker.join(timeout=30)
        accepted = sorted(server.accepted)
        window = server.window
    ratio = _window_use(accepted, window, rpm)
    failures = sum(o["failures"] for o in outcomes)
    throttled = sum(o["throttled"] for o in outcomes)
    bound = (total_requests - 1) / rpm * 60.0 / time_scale
    shared = redis_url is not None
    return {
        "benchmark": "budget_hosts",
        "hosts": hosts,
        "processes_per_host": per_host,
        "redis": shared,
        "total_requests": total_requests,
        "budget_rpm": rpm,
        "time_scale": time_scale,
        "succeeded": sum(o["succeeded"] for o in outcomes),
        "failures": failures,
        "throttled_429": throttled,
        "budget_ratio": round(ratio, 4),
        "wall_seconds": round(wall, 3),
        "budget_bound_seconds": round(bound, 3),
        "time_ratio": round(wall / bound, 4),
        "fallback_requests": sum(o["fallback"] for o in outcomes),
        "target": {"budget_ratio_min": TARGET_REDIS, "throttled_429_max": 0} if shared else None,
        "met": (ratio >= TARGET_REDIS and throttled == 0 and failures == 0) if shared else True,
    }


def _worker(
    url: str,
    count: int,
    client_rpm: float,
    time_scale: float,
    host_dir: str,
    redis_url: str | None,
    prefix: str,
    max_attempts: int,
    barrier: Any,
    results: Any,
) -> None:
    import requests

    from airflow_provider_nextsign.api.ratelimit import get_budget
    from airflow_provider_nextsign.api.ratelimit_redis import RedisSettings, get_redis_budget

    budget: Any
    if redis_url is None:
        budget = get_budget(url, COMPANY, API_KEY, client_rpm, shared_dir=host_dir)
    else:
        settings = RedisSettings.from_url(redis_url, key_prefix=prefix)
        budget = get_redis_budget(url, COMPANY, API_KEY, client_rpm, settings, shared_dir=host_dir)
        budget.reserve()  # connect before the start line; its slot is in the past when the run begins
    session = requests.Session()
    succeeded = failures = throttled = 0
    barrier.wait(timeout=120)
    for _ in range(count):
        for _attempt in range(max_attempts):
            budget.acquire()
            try:
                response = session.get(f"{url}/api/v2/{COMPANY}/cases", timeout=10)
            except requests.RequestException:
                continue
            if response.status_code == 429:
                throttled += 1
                budget.penalize(float(response.headers.get("Retry-After", "1")) / time_scale)
                continue
            if response.ok:
                succeeded += 1
                break
        else:
            failures += 1
    session.close()
    outcome = {"succeeded": succeeded, "failures": failures, "throttled": throttled}
    results.put({**outcome, "fallback": budget.stats.get("fallback", 0)})


def run_hook_check(redis_url: str, *, time_scale: float = 20.0) -> dict[str, Any]:
    """Issue 16's check: 2 hosts x 3 processes, 240 Forms Get reads through ``NextSignHook`` whose
    connection names a Redis connection, against the sandbox at 100/min; 429s and time over the minimum."""
    from airflow_provider_nextsign.api.ratelimit_redis import RedisSettings
    from nextsign_sandbox.server import SandboxServer

    hosts, per_host, reads, rpm = 2, 3, 240, 100
    redis = RedisSettings.from_url(redis_url)
    redis_conn = {"conn_type": "redis", "host": redis.host, "port": redis.port, "extra": {"db": redis.db}}
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(hosts * per_host + 1), ctx.Queue()
    with (
        SandboxServer(0, requests_per_minute=rpm, time_scale=time_scale) as sandbox,
        tempfile.TemporaryDirectory() as root,
    ):
        conn = sandbox.connection
        conn["extra"] = {**conn["extra"], "redis_conn_id": "budget_redis"}
        workers = []
        for n in range(hosts * per_host):
            host = Path(root) / f"host-{n % hosts}"
            (host / "tmp").mkdir(parents=True, exist_ok=True)
            env = {
                "AIRFLOW_CONN_NEXTSIGN_DEFAULT": json.dumps(conn),
                "AIRFLOW_CONN_BUDGET_REDIS": json.dumps(redis_conn),
                "NEXTSIGN_RATE_LIMIT_DIR": str(host / "budget"),
                "TMPDIR": str(host / "tmp"),
            }
            args = (env, sandbox.form_id, reads // (hosts * per_host), barrier, results)
            workers.append(ctx.Process(target=_hook_worker, args=args, daemon=True))
        for worker in workers:
            worker.start()
        barrier.wait(timeout=300)
        started = time.monotonic()
        sandbox.reset_stats()
        outcomes = [results.get(timeout=300) for _ in workers]
        wall = time.monotonic() - started
        for worker in workers:
            worker.join(timeout=30)
        stats = sandbox.stats()
    minimum = (reads - 1) / rpm * 60.0 / time_scale
    throttled = stats["by_status"].get("429", 0)
    failures = sum(o["failures"] for o in outcomes)
    ratio = wall / minimum
    return {
        "benchmark": "budget_hosts_hook",
        "reads": reads,
        "sandbox": stats,
        "failures": failures,
        "wall_seconds": round(wall, 3),
        "paced_minimum_seconds": round(minimum, 3),
        "time_ratio": round(ratio, 4),
        "target": {"time_ratio_max": round(TARGET_TIME_RATIO, 4), "throttled_429_max": 0},
        "met": throttled == 0 and failures == 0 and stats["requests"] == reads and ratio <= TARGET_TIME_RATIO,
    }


def _hook_worker(env: dict[str, str], form_id: str, count: int, barrier: Any, results: Any) -> None:
    os.environ.update(env)
    tempfile.tempdir = None
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    hook = NextSignHook()
    hook.get_conn().budget.reserve()  # connect to Redis before the start line
    failures = 0
    barrier.wait(timeout=300)
    for _ in range(count):
        try:
            hook.get_form(form_id)
        except Exception:
            failures += 1
    results.put({"failures": failures})


def run_suite(quick: bool = False) -> list[dict[str, Any]]:
    """2 hosts x 4 processes with Redis and without; full runs add issue 16's check through the hook.

    Without Redis (no ``$NEXTSIGN_TEST_REDIS_URL`` and no ``redis-server``) only the run without it is made.
    """
    total, scale = (150, 30.0) if quick else (400, 20.0)
    rows = []
    with local_redis() as redis_url:
        if redis_url is not None:
            rows.append(run(2, 4, total, 100, redis_url, time_scale=scale))
        rows.append(run(2, 4, total, 100, None, time_scale=scale))
        if redis_url is not None and not quick:
            rows.append(run_hook_check(redis_url))
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of the budget runs, each figure beside its target."""
    head = (
        f"{'hosts x procs':>13} {'redis':>5} {'reqs':>5} {'rpm/budget':>10} {'429s':>5} {'fail':>4} "
        f"{'time/min':>8}  met"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["benchmark"] == "budget_hosts_hook":
            throttled = r["sandbox"]["by_status"].get("429", 0)
            lines.append(
                f"{'2 x 3 (hook)':>13} {'True':>5} {r['reads']:>5} {'-':>10} {throttled:>5} "
                f"{r['failures']:>4} {r['time_ratio']:>8.3f}  {'yes' if r['met'] else 'NO'}"
            )
            continue
        lines.append(
            f"{r['hosts']:>6} x {r['processes_per_host']:<4} {r['redis']!s:>5} {r['total_requests']:>5} "
            f"{r['budget_ratio']:>10.3f} {r['throttled_429']:>5} {r['failures']:>4} {r['time_ratio']:>8.3f}  "
            f"{('yes' if r['met'] else 'NO') if r['redis'] else '(reported)'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI: print the table, optionally write the JSON; exit 1 if a target was missed (full runs)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.budget_hosts", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small runs at a high time scale (seconds)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    args = parser.parse_args(argv)
    from benchmarks._env import isolate_airflow

    isolate_airflow()
    rows = run_suite(args.quick)
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0 if args.quick or all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
