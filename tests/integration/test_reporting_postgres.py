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
from tests.unit.test_reporting_frames import make_case
from tests.unit.test_reporting_warehouse import V1_DDL, check_migrated, chunk

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
    with pg.begin() as conn:
        for statement in V1_DDL:
            conn.execute(sa.text(statement))
    writer = SqlReportWriter(pg, table_prefix="ns_")
    steps = writer.create_tables()
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
