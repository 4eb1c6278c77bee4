"""Case reporting against the sandbox: SQLite always, PostgreSQL when NEXTSIGN_TEST_POSTGRES_URI is set.

Start a local PostgreSQL with ``eval "$(scripts/ci_postgres.sh)"`` (CI does this in ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_nextsign.operators.reporting import NextSignCaseReportOperator
from airflow_provider_nextsign.reporting.warehouse import read_file_report

POSTGRES_URI = os.environ.get("NEXTSIGN_TEST_POSTGRES_URI")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URI,
    reason='PostgreSQL test: set NEXTSIGN_TEST_POSTGRES_URI (eval "$(scripts/ci_postgres.sh)" starts one)',
)
# 100 requests per sandbox minute, 600 sandbox minutes per real minute: the budget is real, but fast.
FAST = pytest.mark.nextsign_sandbox(requests_per_minute=100, time_scale=600)

TABLES = ("cases", "recipients", "documents")


def snapshot(engine: sa.engine.Engine, prefix: str, schema: str | None = None) -> dict[str, pd.DataFrame]:
    """Every report table, ordered by key (plain SQLAlchemy so that it works with SQLAlchemy 1.4 too)."""
    meta = sa.MetaData(schema=schema)
    out = {}
    with engine.connect() as conn:
        for name in TABLES:
            table = sa.Table(f"{prefix}{name}", meta, autoload_with=conn)
            result = conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            out[name] = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return out


def rows_by_case(frame: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """``{case_id: row as strings}`` (missing values compare equal, unlike NaN in DataFrame ``!=``)."""
    return {
        str(row[0]): tuple("<missing>" if pd.isna(v) else str(v) for v in row)
        for row in frame.itertuples(index=False)
    }


def run(op: NextSignCaseReportOperator, run_id: str) -> dict[str, Any]:
    summary = op.execute({"run_id": run_id})
    json.dumps(summary)
    return summary


@FAST
def test_sqlite_report_filters_and_reruns(nextsign_sandbox, monkeypatch, tmp_path: Path) -> None:
    pending = nextsign_sandbox.seed_cases(120, folder="Sales")
    nextsign_sandbox.seed_cases(30, status="signed", folder="Sales")
    nextsign_sandbox.seed_cases(20, folder="HR")
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")})
    )
    op = NextSignCaseReportOperator(
        task_id="report", sql_conn_id="warehouse", folder="Sales", incremental=True, chunk_size=50
    )
    first = run(op, "r1")
    assert (first["inserted"], first["cases_listed"]) == (150, 150)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    tables = snapshot(engine, "nextsign_")
    cases = tables["cases"].set_index("case_id")
    assert set(cases["folder"]) == {"Sales"}
    assert (cases["state"] == "signed").sum() == 30 and (cases["state"] == "pending").sum() == 120
    by_id = {c["_id"]: c for c in nextsign_sandbox.cases()}
    assert len(tables["recipients"]) == sum(len(by_id[i].get("recipients") or []) for i in cases.index)
    assert cases.loc[pending[0], "signer_count"] >= 1

    nextsign_sandbox.sign(pending[5])
    second = run(op, "r2")
    # Pending cases are read every run (NextSign may expire them without moving updatedAt); the 30
    # signed ones are skipped. Only the newly signed case changed.
    assert (second["cases_fetched"], second["updated"], second["inserted"]) == (120, 1, 0)
    after = snapshot(engine, "nextsign_")
    assert after["cases"].set_index("case_id").loc[pending[5], "state"] == "signed"
    unchanged = after["cases"][after["cases"]["case_id"] != pending[5]].reset_index(drop=True)
    before = tables["cases"][tables["cases"]["case_id"] != pending[5]].reset_index(drop=True)
    pd.testing.assert_frame_equal(unchanged, before)


@FAST
def test_parquet_destination_round_trip(nextsign_sandbox, tmp_path: Path) -> None:
    ids = nextsign_sandbox.seed_cases(60)
    dest = tmp_path / "lake"
    op = NextSignCaseReportOperator(
        task_id="report", destination=f"file://{dest}", incremental=True, chunk_size=25
    )
    assert run(op, "manual__1")["inserted"] == 60
    nextsign_sandbox.sign(ids[0])
    second = run(op, "manual__2")
    # All 60 are pending, so all are read; only the signed one changed, and only it is written.
    assert (second["cases_fetched"], second["updated"], second["rows_unchanged"]) == (60, 1, 59)
    (part,) = (dest / "cases").glob("*manual__2*.parquet")
    assert list(pd.read_parquet(part)["case_id"]) == [ids[0]]
    report = read_file_report(dest)
    cases = report["cases"].set_index("case_id")
    assert len(cases) == 60 and cases.loc[ids[0], "state"] == "signed"
    assert cases.loc[ids[0], "run_id"] == "manual__2" and cases.loc[ids[1], "run_id"] == "manual__1"
    assert str(cases["created_at"].dtype) == "datetime64[us, UTC]"
    assert report["documents"]["case_id"].nunique() == 60


@pytest.fixture
def pg_schema() -> Iterator[tuple[sa.engine.Engine, str]]:
    """A fresh schema in the test PostgreSQL, dropped afterwards."""
    assert POSTGRES_URI
    engine = sa.create_engine(POSTGRES_URI)
    schema = f"nextsign_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    yield engine, schema
    with engine.begin() as conn:
        conn.execute(sa.text(f'drop schema "{schema}" cascade'))
    engine.dispose()


@needs_postgres
@FAST
def test_postgres_several_thousand_cases_idempotent_and_incremental(
    nextsign_sandbox, monkeypatch, pg_schema: tuple[sa.engine.Engine, str]
) -> None:
    engine, schema = pg_schema
    ids = nextsign_sandbox.seed_cases(3000)
    monkeypatch.setenv("AIRFLOW_CONN_PG_WAREHOUSE", POSTGRES_URI)
    # refetch_non_final=False: these cases are all pending, and this test is about skipping unchanged ones.
    op = NextSignCaseReportOperator(
        task_id="report",
        sql_conn_id="pg_warehouse",
        schema=schema,
        incremental=True,
        refetch_non_final=False,
        chunk_size=500,
    )

    first = run(op, "scheduled__1")
    assert (first["inserted"], first["updated"], first["cases_missing"]) == (3000, 0, 0)
    tables = snapshot(engine, "nextsign_", schema)
    assert len(tables["cases"]) == 3000 and tables["cases"]["case_id"].is_unique
    recipients = sum(len(c.get("recipients") or []) for c in nextsign_sandbox.cases())
    assert len(tables["recipients"]) == recipients
    assert not tables["recipients"].duplicated(["case_id", "position"]).any()
    first_case = nextsign_sandbox.cases()[0]
    stored = tables["cases"].set_index("case_id").loc[first_case["_id"], "created_at"]
    assert stored == pd.Timestamp(first_case["createdAt"]) and stored.utcoffset().total_seconds() == 0

    # A re-run changes nothing (and fetches no details: the listed updatedAt did not move).
    again = run(op, "scheduled__2")
    assert (again["inserted"], again["updated"], again["cases_fetched"], again["cases_unchanged"]) == (
        0,
        0,
        0,
        3000,
    )
    for name in TABLES:
        pd.testing.assert_frame_equal(snapshot(engine, "nextsign_", schema)[name], tables[name])

    # Signing some cases updates exactly those.
    signed = ids[10:3000:300]
    for case_id in signed:
        nextsign_sandbox.sign(case_id)
    third = run(op, "scheduled__3")
    assert (third["updated"], third["inserted"], third["cases_fetched"]) == (len(signed), 0, len(signed))
    after = snapshot(engine, "nextsign_", schema)
    cases = after["cases"].set_index("case_id")
    assert set(cases.index[cases["state"] == "signed"]) == set(signed)
    before_rows, after_rows = rows_by_case(tables["cases"]), rows_by_case(after["cases"])
    assert {k for k, row in after_rows.items() if before_rows[k] != row} == set(signed)
    # Cases deleted in NextSign are marked deleted (their rows stay).
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    removed = [ids[1], ids[2999]]
    for case_id in removed:
        NextSignHook().delete_case(case_id)
    fourth = run(op, "scheduled__4")
    assert (fourth["deleted"], fourth["updated"], fourth["cases_fetched"]) == (2, 0, 0)
    cases = snapshot(engine, "nextsign_", schema)["cases"].set_index("case_id")
    assert set(cases.index[cases["is_deleted"]]) == set(removed) and len(cases) == 3000
    assert set(cases.loc[removed, "state"]) == {"pending"}  # the last state stays

    # A full (non-incremental) re-run fetches everything and still changes nothing.
    op.incremental = False
    full = run(op, "scheduled__5")
    assert (full["cases_fetched"], full["updated"], full["inserted"], full["deleted"]) == (2998, 0, 0, 0)


@pytest.mark.parametrize(
    ("nextsign_sandbox_profile", "get_multiple_items"),
    [("docs", None), ("production", None), ("rich", None), ("docs", "summary")],
)
@FAST
def test_every_answer_profile_stores_true_states_and_all_recipients(
    nextsign_sandbox, nextsign_sandbox_profile, get_multiple_items, monkeypatch, tmp_path: Path
) -> None:
    """The same report for every shape of answer; with the connection's ``api_profile`` saying Get
    Multiple answers summaries, the detail reads skip Get Multiple and store the same."""
    from airflow_provider_nextsign.api.cases import case_state

    two_signers = [
        {"name": "Jane Doe", "email": "jane@example.com", "signing": True},
        {"name": "John Roe", "email": "john@example.com", "signing": True},
        {"name": "Copy Only", "email": "copy@example.com", "signing": False},
    ]
    pending = nextsign_sandbox.seed_cases(20, recipients=two_signers)
    nextsign_sandbox.seed_cases(8, status="signed")
    nextsign_sandbox.seed_cases(4, status="denied")
    nextsign_sandbox.seed_cases(3, status="expired")
    nextsign_sandbox.sign(pending[0], 0)  # one of two signers: in progress
    if get_multiple_items:
        conn = json.loads(nextsign_sandbox.connection_json)
        conn.setdefault("extra", {})["api_profile"] = {"get_multiple_items": get_multiple_items}
        monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(conn))
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")})
    )
    summary = run(NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", chunk_size=10), "r1")
    truth = {c["_id"]: c for c in nextsign_sandbox.cases()}
    tables = snapshot(sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}"), "nextsign_")
    states = dict(zip(tables["cases"]["case_id"], tables["cases"]["state"], strict=True))
    assert states == {cid: case_state(body).value for cid, body in truth.items()}
    assert set(states.values()) == {"pending", "in_progress", "signed", "denied", "expired"}
    assert len(tables["recipients"]) == sum(len(c["recipients"]) for c in truth.values())
    assert len(tables["documents"]) >= len(truth)
    # What it cost: one Case Get per case whenever Get Multiple answers summaries (seeding sent no request).
    operations = nextsign_sandbox.stats()["by_operation"]
    expected = 0 if nextsign_sandbox_profile == "rich" else len(truth)
    assert summary["case_gets"] == operations.get("case_get", 0) == expected
    # One Get Multiple per chunk of 10 (35 cases), none when the profile says they answer summaries.
    assert operations.get("cases_get_multiple", 0) == (0 if get_multiple_items == "summary" else 4)
    assert summary["deleted"] == 0 and not tables["cases"]["is_deleted"].astype(bool).any()


@FAST
def test_deleted_cases_keep_their_last_state_and_live_ones_are_never_marked(
    nextsign_sandbox, monkeypatch, tmp_path: Path
) -> None:
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    ids = nextsign_sandbox.seed_cases(60, status="signed")
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "w.db")})
    )
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", incremental=True)
    run(op, "r1")
    NextSignHook().delete_case(ids[7])
    # A transient failure of one Get Multiple request: the run fails, nothing is marked.
    nextsign_sandbox.inject_fault("cases_get_multiple", "server_error", count=10)
    op.incremental = False
    with pytest.raises(Exception, match=r"(?i)server|error"):
        run(op, "r2")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    assert not snapshot(engine, "nextsign_")["cases"]["is_deleted"].astype(bool).any()
    op.incremental = True
    third = run(op, "r3")
    assert (third["deleted"], third["sweep_candidates"]) == (1, 1)
    cases = snapshot(engine, "nextsign_")["cases"].set_index("case_id")
    assert bool(cases.loc[ids[7], "is_deleted"]) and cases.loc[ids[7], "state"] == "signed"
    assert int(cases["is_deleted"].astype(bool).sum()) == 1
