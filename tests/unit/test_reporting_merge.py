"""The staged MERGE writer's BigQuery and Snowflake statements, checked as text.

No BigQuery or Snowflake runs here; PostgreSQL runs the same MERGE in
tests/integration/test_reporting_postgres.py. These tests pin what the other two are sent: this run's
parts only, the load before the transaction, one MERGE inside it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_nextsign.operators.reporting import NextSignCaseReportOperator
from airflow_provider_nextsign.reporting.merge import MergeReportWriter, merge_statements

try:
    from ._reporting_cases import make_case
    from .test_reporting_warehouse import chunk
except ImportError:  # tests/ run as rootdir modules (no __init__.py)
    from _reporting_cases import make_case  # type: ignore[no-redef]
    from test_reporting_warehouse import chunk  # type: ignore[no-redef]


class RecordingHook:
    """A common.sql hook that records what it is asked to run."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, bool]] = []

    def run(self, sql, autocommit=False, **kwargs):
        self.calls.append((sql, autocommit))


def staged(tmp_path: Path, dialect: str, **kwargs: object) -> tuple[MergeReportWriter, RecordingHook]:
    hook = RecordingHook()
    writer = MergeReportWriter(tmp_path / "stage", hook=hook, dialect=dialect, run_id="run-7", **kwargs)  # type: ignore[arg-type]
    writer.create_tables()
    writer.write(chunk([make_case(1), make_case(2, signed=2)]))
    writer.mark_deleted([make_case(3)["_id"]])
    return writer, hook


def test_bigquery_gets_one_script_loading_this_runs_parts_then_one_transaction(tmp_path: Path) -> None:
    writer, hook = staged(tmp_path, "bigquery", schema="analytics")
    ((create, autocommit),) = hook.calls
    assert autocommit and all(s.startswith("CREATE TABLE IF NOT EXISTS analytics.nextsign_") for s in create)  # type: ignore[union-attr]
    writer.finish()
    script, _ = hook.calls[-1]
    assert isinstance(script, str)
    statements = [s.strip() for s in script.split(";\n")]
    loads = [s for s in statements if s.startswith("LOAD DATA OVERWRITE analytics.nextsign_stage_")]
    assert len(loads) == 3
    assert all(f"/{writer.stem}-*.parquet'" in s and "format = 'PARQUET'" in s for s in loads)
    begin = statements.index("BEGIN TRANSACTION")
    assert begin == 3 and statements[-1] == "COMMIT TRANSACTION;"
    assert [s.split()[0] for s in statements[begin + 1 : -1]] == [
        "DELETE",
        "INSERT",
        "DELETE",
        "INSERT",
        "MERGE",
    ]
    assert (tmp_path / "stage" / "_nextsign_report_state.json").exists()  # written after the MERGE


def test_snowflake_copies_this_runs_parts_from_the_named_stage(tmp_path: Path) -> None:
    writer, hook = staged(tmp_path, "snowflake", stage_name="@nextsign_stage")
    writer.finish()
    load, _ = hook.calls[-2]
    merge, _ = hook.calls[-1]
    copies = [s for s in load if s.startswith("COPY INTO")]  # type: ignore[union-attr]
    assert len(copies) == 3 and all("FROM @nextsign_stage/" in s for s in copies)
    pattern = re.search(r"PATTERN = '([^']+)'", copies[0]).group(1)  # type: ignore[union-attr]
    parts = sorted(p.name for p in (tmp_path / "stage" / "cases").iterdir())
    assert parts and all(re.fullmatch(pattern, f"x/{name}") for name in parts)
    assert not re.fullmatch(pattern, "x/part-20200101T000000000000-other_run-00000.parquet")
    assert merge[0] == "BEGIN" and merge[-1] == "COMMIT" and merge[-2].startswith("MERGE INTO nextsign_cases")  # type: ignore[index]


def test_the_merge_replaces_children_only_of_winning_cases_and_keeps_the_state_of_deleted_ones() -> None:
    names = {t: f"ns_{t}" for t in ("cases", "recipients", "documents")}
    stage = {t: f"ns_stage_{t}" for t in names}
    *children, merge = merge_statements(names, stage)
    assert all("n.updated_at >= t.updated_at" in s for s in children[::2])
    assert "UPDATE SET is_deleted = TRUE, deleted_at = n.deleted_at, row_hash = NULL" in merge
    tombstone_branch = merge.split("WHEN MATCHED")[1]
    assert "state" not in tombstone_branch  # deletion keeps the last signing state
    assert "n.updated_at >= t.updated_at" in merge.split("WHEN MATCHED")[2]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dialect": "snowflake"}, "stage_name"),
        ({"dialect": "oracle"}, "merge dialect"),
        ({"dialect": "bigquery", "schema": "x; drop table y"}, "schema"),
    ],
)
def test_bad_merge_settings_are_refused(tmp_path: Path, kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        MergeReportWriter(tmp_path, hook=RecordingHook(), **kwargs)


def test_a_stage_needs_a_warehouse_connection(requests_mock) -> None:
    op = NextSignCaseReportOperator(task_id="report", destination="/tmp/x", stage="/tmp/stage")
    with pytest.raises(ValueError, match="stage"):
        op.execute({"run_id": "r"})
    assert requests_mock.call_count == 0
