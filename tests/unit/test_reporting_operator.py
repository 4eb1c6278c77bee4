"""NextSignCaseReportOperator against requests-mock (the real hook and client) and a SQLite warehouse."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_provider_nextsign.operators.reporting import NextSignCaseReportOperator

try:
    from .test_reporting_frames import make_case
except ImportError:  # tests/ run as rootdir modules (no __init__.py)
    from test_reporting_frames import make_case  # type: ignore[no-redef]

HOST, COMPANY = "https://ns.test", "c0mpany"
V2 = f"{HOST}/api/v2/{COMPANY}"
LIST = re.compile(re.escape(f"{V2}/cases/get"))
MULTI = re.compile(re.escape(f"{V2}/cases/") + r"[0-9a-f,]+/get")


@pytest.fixture(autouse=True)
def connections(monkeypatch, tmp_path):
    conn = {
        "conn_type": "nextsign",
        "login": COMPANY,
        "password": "sk-super-secret",
        "host": HOST,
        "extra": {"files_host": HOST, "requests_per_minute": 1_000_000, "timeout": 5},
    }
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(conn))
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "wh.db")})
    )


class FakeNextSign:
    """requests-mock callbacks serving Case List pages and Get Multiple from ``bodies``."""

    def __init__(self, requests_mock, bodies: list[dict]):
        self.bodies = {b["_id"]: b for b in bodies}
        self.multi_ids: list[str] = []
        requests_mock.get(LIST, json=self.list_page)
        requests_mock.get(MULTI, json=self.multiple)

    def list_page(self, request, context):
        limit, index = int(request.qs["limit"][0]), int(request.qs["index"][0])
        items = [
            {k: b[k] for k in ("_id", "title", "folder", "createdAt", "updatedAt")}
            for b in self.bodies.values()
        ]
        return {"status": "company_found", "cases": items[index * limit : (index + 1) * limit]}

    def multiple(self, request, context):
        ids = request.path.split("/")[-2].split(",")
        self.multi_ids += ids
        return {"status": "cases_found", "cases": [self.bodies[i] for i in ids if i in self.bodies]}


def count(tmp_path: Path, table: str) -> int:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"select count(*) from {table}")).scalar() or 0)


def test_sql_report_full_then_incremental(requests_mock, tmp_path):
    api = FakeNextSign(requests_mock, [make_case(i) for i in range(1, 131)])
    op = NextSignCaseReportOperator(
        task_id="report", sql_conn_id="warehouse", incremental=True, chunk_size=40
    )
    first = op.execute({"run_id": "manual__1"})
    assert first["inserted"] == 130 and first["updated"] == 0 and first["cases_listed"] == 130
    assert first["destination"] == "sql:warehouse"
    assert (count(tmp_path, "nextsign_cases"), count(tmp_path, "nextsign_recipients")) == (130, 390)
    json.dumps(first)  # XCom-safe

    api.multi_ids.clear()
    second = op.execute({"run_id": "manual__2"})
    assert api.multi_ids == [] and second["cases_unchanged"] == 130 and second["inserted"] == 0

    changed = make_case(7, signed=2, updated="2025-01-01T00:00:00.000Z")
    api.bodies[changed["_id"]] = changed
    third = op.execute({"run_id": "manual__3"})
    assert api.multi_ids == [changed["_id"]]
    assert (third["updated"], third["inserted"], third["cases_fetched"]) == (1, 0, 1)
    assert count(tmp_path, "nextsign_recipients") == 390


def test_full_rerun_fetches_everything_and_changes_nothing(requests_mock, tmp_path):
    api = FakeNextSign(requests_mock, [make_case(i) for i in range(1, 6)])
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", table_prefix="rep_")
    op.execute({"run_id": "r1"})
    again = op.execute({"run_id": "r2"})
    assert len(api.multi_ids) == 10
    assert (again["inserted"], again["updated"], again["rows_unchanged"]) == (0, 0, 5)
    assert count(tmp_path, "rep_cases") == 5


def test_file_destination_writes_parquet_parts_and_state(requests_mock, tmp_path):
    FakeNextSign(requests_mock, [make_case(i) for i in range(1, 4)])
    dest = tmp_path / "lake"
    op = NextSignCaseReportOperator(task_id="report", destination=str(dest), format="csv", incremental=True)
    summary = op.execute({"run_id": "scheduled__2025-01-01T00:00:00+00:00"})
    assert summary["inserted"] == 3
    assert len(list((dest / "cases").glob("*.csv"))) == 1
    assert set(json.loads((dest / "_nextsign_report_state.json").read_text())["cases"]) == {
        make_case(i)["_id"] for i in range(1, 4)
    }


def test_deleted_cases_are_marked_only_by_unfiltered_reports(requests_mock, tmp_path):
    api = FakeNextSign(requests_mock, [make_case(i) for i in range(1, 6)])
    NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", incremental=True).execute(
        {"run_id": "1"}
    )
    gone = make_case(2)["_id"]
    del api.bodies[gone]
    filtered = NextSignCaseReportOperator(
        task_id="report", sql_conn_id="warehouse", folder="Default", incremental=True
    ).execute({"run_id": "2"})
    assert filtered["deleted"] == 0
    full = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", incremental=True)
    assert full.execute({"run_id": "3"})["deleted"] == 1
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    with engine.connect() as conn:
        state = conn.execute(
            sa.text("select state from nextsign_cases where case_id = :i"), {"i": gone}
        ).scalar()
    assert state == "deleted"

    api.bodies.clear()  # an empty list is more likely a glitch than a company without cases
    assert full.execute({"run_id": "4"})["deleted"] == 0
    assert count(tmp_path, "nextsign_cases") == 5


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "sql_conn_id / destination"),
        ({"sql_conn_id": "warehouse", "destination": "/tmp/x"}, "sql_conn_id / destination"),
        ({"destination": "/tmp/x", "format": "xlsx"}, "format"),
        ({"sql_conn_id": "warehouse", "status": "expired"}, "status"),
        ({"sql_conn_id": "warehouse", "chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_arguments_fail_before_any_request(requests_mock, tmp_path, kwargs, field):
    op = NextSignCaseReportOperator(task_id="report", **kwargs)
    with pytest.raises(ValueError, match=re.escape(field)):
        op.execute({"run_id": "r"})
    assert requests_mock.call_count == 0
    assert not (tmp_path / "wh.db").exists()


def test_non_sql_connection_is_rejected_with_the_field(requests_mock, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOT_SQL", json.dumps({"conn_type": "nextsign", "login": "x", "password": "y"})
    )
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="not_sql")
    with pytest.raises(ValueError, match="sql_conn_id"):
        op.execute({"run_id": "r"})
    assert requests_mock.call_count == 0


def test_templated_fields_cover_the_destination_and_filters():
    assert {"status", "folder", "sql_conn_id", "destination", "format", "table_prefix", "schema"} <= set(
        NextSignCaseReportOperator.template_fields
    )


def test_module_import_does_not_load_pandas():
    code = "import sys, airflow_provider_nextsign.operators.reporting; print('pandas' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
