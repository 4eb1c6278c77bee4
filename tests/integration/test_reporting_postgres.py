"""The SQL report writer on PostgreSQL: the sweep's plan, migration, and overlapping writers.

Needs ``NEXTSIGN_TEST_POSTGRES_URI`` (``eval "$(scripts/ci_postgres.sh)"`` starts a local PostgreSQL).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from airflow_provider_nextsign.reporting.frames import to_frames
from airflow_provider_nextsign.reporting.warehouse import SqlReportWriter, WriteResult
from tests.unit._reporting_cases import make_case
from tests.unit.test_reporting_warehouse import check_migrated, chunk, migrate_v1

POSTGRES_URI = os.environ.get("NEXTSIGN_TEST_POSTGRES_URI")
pytestmark = pytest.mark.skipif(
    not POSTGRES_URI,
    reason='PostgreSQL test: set NEXTSIGN_TEST_POSTGRES_URI (eval "$(scripts/ci_postgres.sh)" starts one)',
)


@pytest.fixture
def pg() -> Iterator[sa.engine.Engine]:
    """An engine whose search_path is a fresh schema (dropped afterwards)."""
    assert POSTGRES_URI
    schema = f"nextsign_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URI)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    engine = sa.create_engine(POSTGRES_URI, connect_args={"options": f"-csearch_path={schema}"})
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'drop schema "{schema}" cascade'))
    admin.dispose()


def fill(engine: sa.engine.Engine, writer: SqlReportWriter, count: int, listed_at: datetime) -> None:
    """``count`` stored cases, all listed at ``listed_at`` but every 200th (generated in SQL: fast)."""
    cases, state = writer.tables["cases"].name, writer.state.name
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"insert into {cases} (case_id, state, folder, is_deleted) "
                "select lpad(to_hex(n), 24, '0'), 'signed', 'Default', false from generate_series(1, :n) n"
            ),
            {"n": count},
        )
        conn.execute(
            sa.text(
                f"insert into {state} (case_id, last_listed_at) select lpad(to_hex(n), 24, '0'), :t "
                "from generate_series(1, :n) n where n % 200 <> 0"
            ),
            {"n": count, "t": listed_at},
        )
        conn.execute(sa.text(f"analyze {cases}"))
        conn.execute(sa.text(f"analyze {state}"))


def test_the_sweep_finds_candidates_with_an_anti_join(pg: sa.engine.Engine) -> None:
    writer = SqlReportWriter(pg, table_prefix="ns_")
    writer.create_tables()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    fill(pg, writer, 50_000, start + timedelta(minutes=5))
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if "count(" in statement:
            statements.append((statement, parameters))

    sa.event.listen(pg, "before_cursor_execute", capture)
    try:
        assert writer.count_unlisted(start) == 250
        assert len(writer.unlisted_ids(start, limit=10)) == 10
    finally:
        sa.event.remove(pg, "before_cursor_execute", capture)
    (statement, parameters), *_ = statements
    with pg.connect() as conn:
        plan = "\n".join(
            row[0]
            for row in conn.exec_driver_sql(f"explain {statement}", parameters)  # type: ignore[arg-type]
        )
    # NOT EXISTS plans as a (hash) anti join: linear. NOT IN (subquery) plans as a SubPlan, which
    # PostgreSQL runs once per row when the hashed subplan does not fit in work_mem: quadratic.
    assert "Anti Join" in plan and "SubPlan" not in plan, plan


def test_schema_version_1_tables_are_migrated(pg: sa.engine.Engine) -> None:
    writer, steps = migrate_v1(pg)
    assert "recipients.recipient_group is now BIGINT" in steps
    check_migrated(writer)


def test_an_older_read_never_overwrites_a_newer_one_written_meanwhile(pg: sa.engine.Engine) -> None:
    """Two runs write the same new case at once; the one holding older data commits second."""
    writer = SqlReportWriter(pg, table_prefix="ns_")
    writer.create_tables()
    newer = make_case(1, signed=2, updated="2024-03-01T00:00:00.000Z")
    older = make_case(1, signed=1, updated="2024-02-01T00:00:00.000Z")
    older["recipients"] = older["recipients"][:1]
    other = SqlReportWriter(pg, table_prefix="ns_")
    holder = pg.connect()
    transaction = holder.begin()
    result: list[WriteResult] = []
    thread = threading.Thread(target=lambda: result.append(writer.write(chunk([older]))))
    try:
        other._upsert_cases(holder, _rows(newer))  # not committed yet: the older write must wait for it
        thread.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(pg):
            if time.monotonic() > deadline:
                pytest.fail("the older write never waited for the newer one")
            time.sleep(0.05)
        other._replace_children(holder, chunk([newer]), {newer["_id"]})
        transaction.commit()
    finally:
        if transaction.is_active:
            transaction.rollback()
        holder.close()
        thread.join(timeout=30)
    assert result == [WriteResult(stale=1)]
    with pg.connect() as conn:
        state = conn.execute(sa.text("select state from ns_cases")).scalar()
        recipients = conn.execute(sa.text("select count(*) from ns_recipients")).scalar()
    assert (state, recipients) == ("signed", 3)  # the newer case and its own recipients


def _waiting_on_a_lock(engine: sa.engine.Engine) -> bool:
    # A new connection each time: pg_stat_activity is a snapshot for the length of a transaction.
    with engine.connect() as probe:
        query = "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
        return bool(probe.execute(sa.text(query)).scalar())


def _rows(body: dict) -> list[dict]:
    from airflow_provider_nextsign.reporting.common import records

    cases, _, _ = to_frames([body])
    return records(cases)


def test_the_sweep_benchmark_marks_what_the_old_statement_marked() -> None:
    from benchmarks import reporting_sweep

    assert POSTGRES_URI
    result = reporting_sweep.measure(POSTGRES_URI, 4000, timeout=30.0)
    assert result["candidates"] == result["marked"] == result["not_in_marked"] == 20


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL (dropped afterwards)."""
    assert POSTGRES_URI
    schema = f"nextsign_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URI)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    yield schema
    with admin.begin() as conn:
        conn.execute(sa.text(f'drop schema "{schema}" cascade'))
    admin.dispose()


def merged(schema: str) -> dict[str, dict]:
    engine = sa.create_engine(POSTGRES_URI)  # type: ignore[arg-type]
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"select * from {schema}.nextsign_cases")).mappings().all()
        recipients = conn.execute(sa.text(f"select count(*) from {schema}.nextsign_recipients")).scalar()
    engine.dispose()
    return {"cases": {r["case_id"]: dict(r) for r in rows}, "recipients": recipients}


@pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=600)
def test_staged_parquet_and_one_merge_per_run(nextsign_sandbox, monkeypatch, pg_schema, tmp_path) -> None:
    from airflow_provider_nextsign.api.cases import case_state
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook
    from airflow_provider_nextsign.operators.reporting import NextSignCaseReportOperator

    two = [
        {"name": "A", "email": "a@example.com", "signing": True},
        {"name": "B", "email": "b@example.com", "signing": True},
    ]
    pending = nextsign_sandbox.seed_cases(20, recipients=two)
    signed = nextsign_sandbox.seed_cases(10, status="signed")
    monkeypatch.setenv("AIRFLOW_CONN_PG_WAREHOUSE", POSTGRES_URI)
    op = NextSignCaseReportOperator(
        task_id="report",
        sql_conn_id="pg_warehouse",
        schema=pg_schema,
        stage=str(tmp_path / "stage"),
        chunk_size=10,  # three staged parts per table, loaded one at a time
    )
    statements: list[str] = []
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    real_run = DbApiHook.run

    def counting_run(self, sql, *args, **kwargs):
        statements.extend([sql] if isinstance(sql, str) else list(sql))
        return real_run(self, sql, *args, **kwargs)

    monkeypatch.setattr(DbApiHook, "run", counting_run)
    first = op.execute({"run_id": "r1"})
    assert first["destination"] == "merge:pg_warehouse" and first["inserted"] == 30
    assert sum(s.startswith("MERGE") for s in statements) == 1  # one MERGE for the whole run
    truth = {c["_id"]: c for c in nextsign_sandbox.cases()}
    stored = merged(pg_schema)
    assert {k: v["state"] for k, v in stored["cases"].items()} == {
        k: case_state(c).value for k, c in truth.items()
    }
    assert stored["recipients"] == 20 * 2 + 10

    statements.clear()
    again = op.execute({"run_id": "r2"})  # nothing changed: nothing staged, no MERGE
    assert again["rows_unchanged"] == 30 and not any(s.startswith("MERGE") for s in statements)
    assert merged(pg_schema) == stored

    nextsign_sandbox.sign(pending[0])
    NextSignHook().delete_case(signed[0])
    # A newer row written by someone else meanwhile: this run's older read must not replace it.
    engine = sa.create_engine(POSTGRES_URI)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"update {pg_schema}.nextsign_cases set updated_at = '2999-01-01Z' where case_id = :i"),
            {"i": pending[1]},
        )
    engine.dispose()
    nextsign_sandbox.sign(pending[1])
    third = op.execute({"run_id": "r3"})
    assert (third["updated"], third["deleted"]) == (2, 1)
    after = merged(pg_schema)["cases"]
    assert after[pending[0]]["state"] == "signed"
    assert after[pending[1]]["state"] == "pending"  # the stored row is newer: left alone
    assert after[signed[0]]["is_deleted"] and after[signed[0]]["state"] == "signed"
    assert sum(bool(r["is_deleted"]) for r in after.values()) == 1
