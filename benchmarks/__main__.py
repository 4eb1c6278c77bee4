"""``make bench``: every benchmark of issue 7, each figure beside its target.

    python -m benchmarks            # full run (a few minutes); exits 1 when a target is missed
    python -m benchmarks --quick    # tiny sizes (under a minute, CI); exits 0 unless something crashes
    python -m benchmarks --json PATH

Full runs write ``benchmarks/results/latest.json`` unless ``--json`` says otherwise. Nothing here is a
timed test: the figures are ratios or counts measured in one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks._env import isolate_airflow

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
PROJECTION_TARGET = 1.05
MEMORY_FLAT_MB = 25.0


def budget_rows(quick: bool) -> list[dict[str, Any]]:
    """Item 1: budget use of K processes, shared budget and none."""
    from benchmarks import budget

    rows = []
    for r in budget.run_suite(quick):
        target = r["target"]["budget_ratio_min"]
        extra = ", 0 429s" if r["shared"] else ""
        rows.append(
            {
                "figure": f"budget: K={r['processes']} {'shared' if r['shared'] else 'not shared'}",
                "measured": r["budget_ratio"],
                "unit": "of budget",
                "target": f">= {target:.2f}{extra}, 0 failures",
                "met": r["met"],
                "details": r,
            }
        )
    return rows


def budget_hosts_rows(quick: bool) -> list[dict[str, Any]]:
    """Issue 16: one budget across 2 hosts x 4 processes, with Redis and without; full runs add the
    issue's check (2 hosts x 3 processes through the hook)."""
    from benchmarks import budget_hosts

    rows = []
    results = budget_hosts.run_suite(quick)
    if not any(r.get("redis") or r["benchmark"] == "budget_hosts_hook" for r in results):
        rows.append(
            {
                "figure": "budget across 2 hosts x 4 processes, Redis",
                "measured": "not run",
                "unit": "(no Redis)",
                "target": "install redis-server or set NEXTSIGN_TEST_REDIS_URL",
                "met": False,
                "details": {},
            }
        )
    for r in results:
        if r["benchmark"] == "budget_hosts_hook":
            throttled = r["sandbox"]["by_status"].get("429", 0)
            rows.append(
                {
                    "figure": f"budget across hosts: 2 x 3 via the hook, 240 reads, {throttled} x 429",
                    "measured": r["time_ratio"],
                    "unit": "x paced minimum",
                    "target": f"<= {budget_hosts.TARGET_TIME_RATIO:.3f}, 0 429s",
                    "met": r["met"],
                    "details": r,
                }
            )
        elif r["redis"]:
            rows.append(
                {
                    "figure": f"budget across 2 hosts x 4 processes, Redis, {r['throttled_429']} x 429",
                    "measured": r["budget_ratio"],
                    "unit": "of budget",
                    "target": f">= {budget_hosts.TARGET_REDIS:.2f}, 0 429s, 0 failures",
                    "met": r["met"],
                    "details": r,
                }
            )
        else:
            rows.append(
                {
                    "figure": f"budget across 2 hosts x 4 processes, no Redis, {r['throttled_429']} x 429",
                    "measured": r["budget_ratio"],
                    "unit": "of budget",
                    "target": "reported beside Redis",
                    "met": True,
                    "details": r,
                }
            )
    return rows


def reporting_rows(quick: bool) -> list[dict[str, Any]]:
    """Item 3: the case report's time over the budget-bound minimum, and its memory, at two sizes."""
    from benchmarks import reporting

    results = reporting.run_sizes([500, 2000] if quick else [10000, 100000])
    rows = []
    for r in results:
        # At NextSign's real 100 requests/minute the run takes the budget-bound minimum plus the local
        # work (CPU of the report process); the sandbox run measures that work at a high time scale.
        minimum = r["requests"] * 60.0 / reporting.REAL_RPM
        projected = (minimum + r["cpu_s"]) / minimum
        rows.append(
            {
                "figure": f"reporting: {r['size']:,} cases, wall over budget minimum at 100/min",
                "measured": round(projected, 4),
                "unit": "x minimum",
                "target": f"<= {PROJECTION_TARGET}",
                "met": projected <= PROJECTION_TARGET,
                "details": {**r, "budget_minimum_at_100rpm_s": minimum},
            }
        )
    growth = results[-1]["peak_rss_mb"] - results[0]["peak_rss_mb"]
    rows.append(
        {
            "figure": f"reporting: peak memory {results[0]['size']:,} -> {results[-1]['size']:,} cases",
            "measured": round(growth, 1),
            "unit": "MB growth",
            "target": f"< {MEMORY_FLAT_MB:.0f} MB (flat)",
            "met": growth < MEMORY_FLAT_MB,
            "details": {"peak_rss_mb": {str(r["size"]): r["peak_rss_mb"] for r in results}},
        }
    )
    return rows


def collect(quick: bool) -> list[dict[str, Any]]:
    """Run every benchmark and return the rows (figure, measured, unit, target, met, details)."""
    from benchmarks import download, lookup, parse, reporting_sweep, waiting, waiting_day

    rows: list[dict[str, Any]] = []
    for name, part in (
        ("budget", budget_rows),
        ("budget across hosts", budget_hosts_rows),
        ("waiting", waiting.run),
        ("waiting a day", waiting_day.run),
        ("lookup by referenceId", lookup.run),
        ("reporting", reporting_rows),
        ("reporting sweep", reporting_sweep.run),
        ("download", download.run),
        ("parse", parse.run),
    ):
        started = time.monotonic()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(part(quick))
        print(f"  {name} took {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Each figure beside its target."""
    width = max(len(r["figure"]) for r in rows)
    lines = [f"{'figure':<{width}}  {'measured':>22}  {'target':<32} met", "-" * (width + 64)]
    for r in rows:
        measured = f"{r['measured']} {r['unit']}"
        lines.append(
            f"{r['figure']:<{width}}  {measured:>22}  {r['target']:<32} {'yes' if r['met'] else 'NO'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON; full runs exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI (figures indicative)")
    parser.add_argument("--json", metavar="PATH", help=f"where to write the results (full runs: {RESULTS})")
    args = parser.parse_args(argv)
    isolate_airflow()
    started = time.monotonic()
    rows = collect(args.quick)
    print(format_table(rows))
    path = Path(args.json) if args.json else (None if args.quick else RESULTS)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "quick": args.quick,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - started, 1),
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            },
            "all_met": all(r["met"] for r in rows),
            "results": rows,
        }
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {path}")
    if args.quick:
        return 0
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
