"""Benchmark of the report's delete sweep on PostgreSQL: ``NOT EXISTS`` (now) against ``NOT IN`` (before).

    python -m benchmarks.reporting_sweep            # 200,000 stored cases
    python -m benchmarks.reporting_sweep --quick    # 20,000

Needs ``NEXTSIGN_TEST_POSTGRES_URI`` (``eval "$(scripts/ci_postgres.sh)"`` starts a local PostgreSQL);
without it the figures say "not run". In a fresh schema, ``size`` stored cases are generated in SQL, all
listed by this run but one in 200 (the candidates). Timed, each in a transaction that is rolled back so
both see the same rows:

- ``sweep_s``: what the report does now: count the candidates, fetch their ids and mark them deleted
  (:class:`~airflow_provider_nextsign.reporting.sql.SqlReportWriter`: ``NOT EXISTS``, an anti-join);
- ``not_in_s``: the statement of the report before (``UPDATE ... WHERE case_id NOT IN (SELECT ...)``),
  cancelled after ``--timeout`` seconds: PostgreSQL runs it once per row when the hashed subplan does
  not fit in ``work_mem``, so its time grows with the square of the cases.

The target is that the sweep at 200,000 cases takes seconds (under 10).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

TARGET_SECONDS = 10.0
ENV = "NEXTSIGN_TEST_POSTGRES_URI"


def measure(uri: str, size: int, timeout: float) -> dict[str, Any]:
    """Generate ``size`` cases in a fresh schema and time both sweeps (the schema is dropped after)."""
    import sqlalchemy as sa

    from airflow_provider_nextsign.reporting.sql import SqlReportWriter

    schema = f"nextsign_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(uri)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    engine = sa.create_engine(uri, connect_args={"options": f"-csearch_path={schema}"})
    try:
        writer = SqlReportWriter(engine, run_id="bench")
        writer.create_tables()
        start = datetime(2026, 3, 1, tzinfo=UTC)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "insert into nextsign_cases (case_id, state, folder, is_deleted, row_hash) select "
                    "lpad(to_hex(n), 24, '0'), 'signed', 'Default', false, md5(n::text) "
                    "from generate_series(1, :n) n"
                ),
                {"n": size},
            )
            conn.execute(
                sa.text(
                    "insert into nextsign_report_state (case_id, last_listed_at, last_listed_run) "
                    "select lpad(to_hex(n), 24, '0'), :t, 'bench' from generate_series(1, :n) n "
                    "where n % 200 <> 0"
                ),
                {"n": size, "t": start + timedelta(minutes=5)},
            )
            conn.execute(sa.text("analyze nextsign_cases"))
            conn.execute(sa.text("analyze nextsign_report_state"))
        filled = time.perf_counter() - t0

        with engine.connect() as conn:
            transaction = conn.begin()
            t0 = time.perf_counter()
            candidates = writer.count_unlisted(start)
            ids = writer.unlisted_ids(start)
            marked = writer.mark_deleted(ids, conn)
            sweep = time.perf_counter() - t0
            transaction.rollback()

        not_in: float | None
        with engine.connect() as conn:
            transaction = conn.begin()
            conn.execute(sa.text(f"set local statement_timeout = {int(timeout * 1000)}"))
            t0 = time.perf_counter()
            try:
                old = conn.execute(
                    sa.text(
                        "update nextsign_cases set state = 'deleted', row_hash = null where case_id not in "
                        "(select case_id from nextsign_report_state where last_listed_run = 'bench') "
                        "and state != 'deleted'"
                    )
                ).rowcount
                not_in = time.perf_counter() - t0
            except sa.exc.OperationalError:  # statement_timeout: cancelled
                old, not_in = None, None
            transaction.rollback()
            work_mem = conn.execute(sa.text("show work_mem")).scalar()
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()
    return {
        "cases": size,
        "candidates": candidates,
        "marked": marked,
        "sweep_s": round(sweep, 3),
        "not_in_s": None if not_in is None else round(not_in, 3),
        "not_in_marked": old,
        "not_in_timeout_s": timeout,
        "fill_s": round(filled, 2),
        "work_mem": work_mem,
    }


def run(quick: bool) -> list[dict[str, Any]]:
    """``make bench`` rows: the sweep's time beside its target, and the old statement's beside it."""
    uri = os.environ.get(ENV)
    size = 20_000 if quick else 200_000
    if not uri:
        return [
            {
                "figure": f"report sweep on PostgreSQL, {size:,} cases",
                "measured": "not run",
                "unit": "(no PostgreSQL)",
                "target": f'set {ENV} (eval "$(scripts/ci_postgres.sh)")',
                "met": quick,
                "details": {},
            }
        ]
    r = measure(uri, size, timeout=10.0 if quick else 60.0)
    old = f"{r['not_in_s']}" if r["not_in_s"] is not None else f"> {r['not_in_timeout_s']:g} (cancelled)"
    return [
        {
            "figure": f"report sweep on PostgreSQL, {size:,} cases, NOT EXISTS",
            "measured": r["sweep_s"],
            "unit": "s",
            "target": f"<= {TARGET_SECONDS:g} s, {r['candidates']} marked",
            "met": r["sweep_s"] <= TARGET_SECONDS and r["marked"] == r["candidates"] == size // 200,
            "details": r,
        },
        {
            "figure": f"report sweep on PostgreSQL, {size:,} cases, old NOT IN",
            "measured": old,
            "unit": "s",
            "target": "reported beside NOT EXISTS",
            "met": True,
            "details": r,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reporting_sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="20,000 cases instead of 200,000")
    parser.add_argument("--size", type=int, help="stored cases (overrides --quick)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds before the NOT IN statement is cancelled"
    )
    args = parser.parse_args(argv)
    uri = os.environ.get(ENV)
    if not uri:
        raise SystemExit(f'set {ENV} first: eval "$(scripts/ci_postgres.sh)"')
    size = args.size or (20_000 if args.quick else 200_000)
    print(json.dumps(measure(uri, size, args.timeout)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
