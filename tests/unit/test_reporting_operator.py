"""NextSignCaseReportOperator against requests-mock (the real hook and client) and a SQLite warehouse."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_nextsign.api.cases import case_state
from airflow_provider_nextsign.api.errors import NextSignNotFoundError
from airflow_provider_nextsign.operators.reporting import NextSignCaseReportOperator

try:
    from ._reporting_cases import make_case
except ImportError:  # tests/ run as rootdir modules (no __init__.py)
    from _reporting_cases import make_case  # type: ignore[no-redef]

HOST, COMPANY = "https://ns.test", "c0mpany"
V2 = f"{HOST}/api/v2/{COMPANY}"
LIST = re.compile(re.escape(f"{V2}/cases/get"))
MULTI = re.compile(re.escape(f"{V2}/cases/") + r"[0-9a-f,]+/get")
CASE = re.compile(re.escape(f"{V2}/case/") + r"[0-9a-f]+/get")


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
    """requests-mock callbacks serving Case List pages, Get Multiple and Case Get from ``bodies``.

    ``summaries``: Get Multiple answers the documented summary items. ``cap_limit``: Case List serves at
    most this many per page whatever ``limit`` asks. ``on_list``: called with each page index before
    it is served (to change the account mid-walk). ``list_filter``: ids Case List silently leaves out.
    Deleted cases (``del bodies[id]``) get NextSign's documented not-found answers.
    """

    def __init__(self, requests_mock, bodies: list[dict], *, summaries: bool = False):
        self.bodies = {b["_id"]: b for b in bodies}
        self.summaries = summaries
        self.cap_limit: int | None = None
        self.on_list: Callable[[int], None] | None = None
        self.list_filter: set[str] = set()
        self.multi_ids: list[str] = []
        self.multi_calls = 0
        self.case_gets: list[str] = []
        self.multi_answer: Callable[[int, Any], Any] | None = None  # (call number, context) -> body or None
        requests_mock.get(LIST, json=self.list_page)
        requests_mock.get(MULTI, json=self.multiple)
        requests_mock.get(CASE, json=self.case)

    def list_page(self, request, context):
        limit, index = int(request.qs["limit"][0]), int(request.qs["index"][0])
        if self.on_list is not None:
            self.on_list(index)
        limit = min(limit, self.cap_limit or limit)
        status, folder = request.qs.get("status", [None])[0], request.qs.get("folder", [None])[0]
        items = [
            {k: b[k] for k in ("_id", "title", "folder", "createdAt", "updatedAt")}
            for b in self.bodies.values()
            if b["_id"] not in self.list_filter
            and (folder is None or b["folder"].lower() == folder)  # requests-mock lowercases the query
            and (status is None or _list_status(b) == status)
        ]
        return {"status": "company_found", "cases": items[index * limit : (index + 1) * limit]}

    def multiple(self, request, context):
        self.multi_calls += 1
        if (
            self.multi_answer is not None
            and (answer := self.multi_answer(self.multi_calls, context)) is not None
        ):
            return answer
        ids = request.path.split("/")[-2].split(",")
        self.multi_ids += ids
        found = [self.bodies[i] for i in ids if i in self.bodies]
        if not found:
            context.status_code = 404
            return {"message": "Cases not found"}
        if self.summaries:
            found = [{k: b[k] for k in ("_id", "title", "createdAt", "updatedAt")} for b in found]
        return {"status": "cases_found", "cases": found}

    def case(self, request, context):
        case_id = request.path.split("/")[-2]
        self.case_gets.append(case_id)
        if case_id not in self.bodies:
            return {"message": "Case not found"}
        return {"status": "case_found", "case": self.bodies[case_id]}


def _list_status(body: dict) -> str:
    state = case_state(body).value
    return state if state in ("signed", "denied") else "pending"


def cases_table(tmp_path: Path, prefix: str = "nextsign_") -> dict[str, dict[str, Any]]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"select * from {prefix}cases")).mappings().all()
    return {str(r["case_id"]): dict(r) for r in rows}


def logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """What the operator logged (Airflow 3's task logger writes to stdout, Airflow 2's to logging)."""
    return caplog.text + capsys.readouterr().out


def outcome(call: Callable[[], Any]) -> BaseException | None:
    """The exception ``call`` raised, or None (so a test can check the warehouse before the error)."""
    try:
        call()
    except Exception as err:
        return err
    return None


def deleted_ids(tmp_path: Path) -> set[str]:
    """The cases the warehouse calls deleted (``is_deleted``, or the ``state`` schema version 1 used)."""
    return {
        cid
        for cid, row in cases_table(tmp_path).items()
        if row.get("is_deleted") or row["state"] == "deleted"
    }


def count(tmp_path: Path, table: str) -> int:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"select count(*) from {table}")).scalar() or 0)


def test_sql_report_full_then_incremental(requests_mock, tmp_path):
    api = FakeNextSign(requests_mock, [make_case(i, signed=2) for i in range(1, 131)])
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
    changed["signedDocuments"].append({"name": "audit.pdf", "file": "https://files.example/audit.pdf"})
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


def test_deleted_cases_are_marked_after_case_get_confirms_them(requests_mock, tmp_path):
    api = FakeNextSign(requests_mock, [make_case(i) for i in range(1, 6)])
    NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", incremental=True).execute(
        {"run_id": "1"}
    )
    gone = make_case(2)["_id"]
    del api.bodies[gone]
    # A folder report re-reads the stored pending cases of its folder that it did not list: case 2.
    filtered = NextSignCaseReportOperator(
        task_id="report", sql_conn_id="warehouse", folder="Default", incremental=True
    ).execute({"run_id": "2"})
    assert filtered["deleted"] == 1 and api.case_gets == [gone]
    full = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", incremental=True)
    assert full.execute({"run_id": "3"})["deleted"] == 0  # once
    row = cases_table(tmp_path)[gone]
    assert row["is_deleted"] and row["state"] == "pending" and row["deleted_at"] is not None

    api.bodies.clear()  # an empty list is more likely a glitch than a company without cases
    assert full.execute({"run_id": "4"})["deleted"] == 0
    assert count(tmp_path, "nextsign_cases") == 5 and deleted_ids(tmp_path) == {gone}


def test_summary_shaped_account_stores_true_states_and_all_recipients(
    requests_mock, tmp_path, caplog, capsys
):
    bodies = [make_case(i, signed=2 if i % 3 == 0 else i % 3 - 1) for i in range(1, 31)]
    api = FakeNextSign(requests_mock, bodies, summaries=True)
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", chunk_size=20)
    with caplog.at_level(logging.INFO):
        first = op.execute({"run_id": "r1"})
    stored = cases_table(tmp_path)
    assert {cid: row["state"] for cid, row in stored.items()} == {
        b["_id"]: case_state(b).value for b in bodies
    }
    assert {row["state"] for row in stored.values()} == {"signed", "pending", "in_progress"}
    assert count(tmp_path, "nextsign_recipients") == 90 and count(tmp_path, "nextsign_documents") == 60
    assert all(row["recipient_count"] == 3 for row in stored.values())
    # The cost is stated: one Case Get per summary, in the summary and in the log.
    assert (first["case_gets"], first["multiple_requests"]) == (30, 2)
    assert "each case read costs one Case Get" in logged(caplog, capsys)
    # A run on summaries after one on full bodies demotes nothing and deletes no child row.
    api.summaries = False
    assert op.execute({"run_id": "r2"})["rows_unchanged"] == 30
    api.summaries = True
    again = op.execute({"run_id": "r3"})
    assert (again["rows_unchanged"], again["updated"], again["deleted"]) == (30, 0, 0)
    assert cases_table(tmp_path) == stored and count(tmp_path, "nextsign_recipients") == 90


def test_capped_limit_marks_no_live_case_deleted(requests_mock, tmp_path):
    api = FakeNextSign(requests_mock, [make_case(i, signed=2) for i in range(1, 301)])
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", incremental=True)
    assert op.execute({"run_id": "r1"})["inserted"] == 300
    api.cap_limit = 50  # we ask for 100 per page; the server sends 50
    second = op.execute({"run_id": "r2"})
    assert deleted_ids(tmp_path) == set()
    assert (second["cases_listed"], second["deleted"], second["sweep_candidates"]) == (300, 0, 0)


def test_repeated_page_fails_the_run_and_marks_nothing(requests_mock, tmp_path):
    api = FakeNextSign(requests_mock, [make_case(i, signed=2) for i in range(1, 301)])
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", incremental=True)
    op.execute({"run_id": "r1"})
    served = api.list_page

    def repeat_page_one(request, context):
        if int(request.qs["index"][0]) >= 2:
            request.qs["index"] = ["1"]
        return served(request, context)

    requests_mock.get(LIST, json=repeat_page_one)
    error = outcome(lambda: op.execute({"run_id": "r2"}))
    assert deleted_ids(tmp_path) == set()
    from airflow_provider_nextsign.api.errors import NextSignIncompleteListingError

    assert isinstance(error, NextSignIncompleteListingError) and "same cases" in str(error)


def test_a_deletion_mid_listing_marks_no_live_case(requests_mock, tmp_path, caplog, capsys):
    bodies = [make_case(i, signed=2) for i in range(1, 301)]
    api = FakeNextSign(requests_mock, bodies)
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse")
    op.execute({"run_id": "r1"})
    gone, never_seen = bodies[4]["_id"], bodies[100]["_id"]

    def delete_after_page_zero(index: int) -> None:
        if index == 1:  # page 0 was read; deleting case 5 shifts case 101 onto page 0
            api.bodies.pop(gone, None)

    api.on_list = delete_after_page_zero
    with caplog.at_level(logging.WARNING):
        summary = op.execute({"run_id": "r2"})
    assert deleted_ids(tmp_path) == {gone} and summary["deleted"] == 1
    assert summary["sweep_candidates"] == 1 and summary["sweep_still_there"] == 1  # case 101, read again
    text = logged(caplog, capsys)
    assert f"1 stored case(s) are missing from this run's complete Case List: {never_seen}" in text
    assert "deleted before their details were read" in text and f"marked deleted: {gone}" in text


def test_a_transient_404_marks_no_case_deleted(requests_mock, tmp_path):
    api = FakeNextSign(requests_mock, [make_case(i, signed=2) for i in range(1, 301)])
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse")
    op.execute({"run_id": "r1"})

    def gateway_404_on_third_batch(call: int, context: Any) -> Any:
        if call == 3:
            context.status_code = 404
            return {"message": "Not Found"}  # a gateway's 404, not NextSign's "Cases not found"
        return None

    api.multi_calls, api.multi_answer = 0, gateway_404_on_third_batch
    error = outcome(lambda: op.execute({"run_id": "r2"}))
    assert deleted_ids(tmp_path) == set()
    assert isinstance(error, NextSignNotFoundError)  # unknown: the run fails, to be run again
    again = op.execute({"run_id": "r3"})  # the next run is clean
    assert (again["deleted"], again["rows_unchanged"]) == (0, 300)


def test_a_folder_report_beside_an_unfiltered_one_marks_nothing(requests_mock, tmp_path):
    bodies = [make_case(i, signed=2) for i in range(1, 201)]
    for body in bodies[100:]:
        body["folder"] = "Sales"
    api = FakeNextSign(requests_mock, bodies)
    full = NextSignCaseReportOperator(
        task_id="report", sql_conn_id="warehouse", incremental=True, chunk_size=100
    )
    full.execute({"run_id": "r1"})
    folder = NextSignCaseReportOperator(
        task_id="sales", sql_conn_id="warehouse", folder="Sales", incremental=True
    )
    ran: list[dict] = []

    def run_the_folder_report_meanwhile(index: int) -> None:
        # The unfiltered run has listed and written both pages (chunks of 100) and asks for the empty
        # page that ends the list; the folder report runs start to end before it sweeps.
        if index == 2 and api.on_list is not None:
            api.on_list = None  # once: the folder report lists pages too
            ran.append(folder.execute({"run_id": "sales-1"}))

    api.on_list = run_the_folder_report_meanwhile
    summary = full.execute({"run_id": "r2"})
    assert ran and ran[0]["cases_listed"] == 100
    assert deleted_ids(tmp_path) == set()
    assert (summary["deleted"], summary["sweep_candidates"]) == (0, 0)


def test_a_listing_that_silently_lost_many_cases_aborts_the_sweep(requests_mock, tmp_path, caplog, capsys):
    bodies = [make_case(i, signed=2) for i in range(1, 101)]
    api = FakeNextSign(requests_mock, bodies)
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", incremental=True)
    op.execute({"run_id": "r1"})
    api.list_filter = {b["_id"] for b in bodies[:10]}
    with caplog.at_level(logging.WARNING):
        summary = op.execute({"run_id": "r2"})
    assert deleted_ids(tmp_path) == set() and api.case_gets == []
    assert (summary["sweep_aborted"], summary["deleted"], summary["sweep_candidates"]) == (True, 0, 10)
    warning = next(line for line in logged(caplog, capsys).splitlines() if "are missing" in line)
    assert "10 stored case(s)" in warning and all(b["_id"] in warning for b in bodies[:10])
    assert "and " not in warning.split(":")[-1]  # ten ids, all named


def test_a_filtered_report_learns_that_a_case_left_the_filter(requests_mock, tmp_path):
    bodies = [make_case(i) for i in range(1, 21)]
    api = FakeNextSign(requests_mock, bodies)
    op = NextSignCaseReportOperator(
        task_id="report", sql_conn_id="warehouse", status="pending", incremental=True
    )
    op.execute({"run_id": "r1"})
    for n in (3, 7):
        api.bodies[bodies[n]["_id"]] = make_case(n + 1, signed=2, updated="2025-02-01T00:00:00.000Z")
    denied = make_case(12, updated="2025-02-01T00:00:00.000Z")
    denied["recipients"][0]["signed"] = "denied"
    api.bodies[denied["_id"]] = denied
    second = op.execute({"run_id": "r2"})
    states = {cid: row["state"] for cid, row in cases_table(tmp_path).items()}
    assert (
        states[bodies[3]["_id"]] == states[bodies[7]["_id"]] == "signed" and states[denied["_id"]] == "denied"
    )
    assert (second["cases_listed"], second["sweep_candidates"], second["sweep_still_there"]) == (17, 3, 3)
    # Signed and denied are final: the next pending report does not read them again.
    api.case_gets.clear()
    api.multi_ids.clear()
    third = op.execute({"run_id": "r3"})
    assert third["sweep_candidates"] == 0 and not set(api.multi_ids) & {bodies[3]["_id"], bodies[7]["_id"]}


def test_incremental_runs_read_pending_cases_stale_ones_and_missing_rows(requests_mock, tmp_path):
    signed, pending = make_case(1, signed=2), make_case(2)
    FakeNextSign(requests_mock, [signed, pending])
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse", incremental=True)
    op.execute({"run_id": "r1"})
    # NextSign expires the pending case without moving updatedAt: read anyway, since it is not final.
    pending["settings"]["availability"]["isExpired"] = True
    second = op.execute({"run_id": "r2"})
    assert (second["cases_fetched"], second["updated"]) == (1, 1)
    assert cases_table(tmp_path)[pending["_id"]]["state"] == "expired"
    assert op.execute({"run_id": "r3"})["cases_fetched"] == 0  # both final and fresh now
    # A final case whose last fetch is older than refetch_after (7 days) is read again.
    signed["signedDocuments"].append({"name": "audit.pdf", "file": "https://files.example/audit.pdf"})
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    week_ago = datetime.now(UTC) - timedelta(days=7, minutes=1)
    with engine.begin() as conn:
        conn.execute(
            sa.text("update nextsign_report_state set fetched_at = :t where case_id = :i"),
            {"t": week_ago, "i": signed["_id"]},
        )
    fourth = op.execute({"run_id": "r4"})
    assert (fourth["cases_fetched"], fourth["updated"]) == (1, 1)
    # A case whose row is gone (dropped by hand) is read again even though its state says unchanged.
    with engine.begin() as conn:
        conn.execute(sa.text("delete from nextsign_cases where case_id = :i"), {"i": signed["_id"]})
    fifth = op.execute({"run_id": "r5"})
    assert (fifth["cases_fetched"], fifth["inserted"]) == (1, 1)


def test_full_refresh_every_turns_an_incremental_run_into_a_full_one(requests_mock, tmp_path):
    FakeNextSign(requests_mock, [make_case(i, signed=2) for i in range(1, 4)])
    op = NextSignCaseReportOperator(
        task_id="report", sql_conn_id="warehouse", incremental=True, full_refresh_every=timedelta(days=7)
    )
    assert op.execute({"run_id": "r1"})["incremental"] is False  # no full run yet
    second = op.execute({"run_id": "r2"})
    assert (second["incremental"], second["cases_fetched"]) == (True, 0)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    eight_days_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    with engine.begin() as conn:
        conn.execute(
            sa.text("update nextsign_report_meta set value = :v where key = 'last_full_run_at'"),
            {"v": eight_days_ago},
        )
    third = op.execute({"run_id": "r3"})
    assert (third["incremental"], third["cases_fetched"]) == (False, 3)


def test_the_report_uses_half_the_request_budget_by_default(requests_mock, tmp_path):
    FakeNextSign(requests_mock, [make_case(1)])
    op = NextSignCaseReportOperator(task_id="report", sql_conn_id="warehouse")
    assert op.execute({"run_id": "r1"})["requests_per_minute"] == 500_000
    op.budget_share = 1
    assert op.execute({"run_id": "r2"})["requests_per_minute"] == 1_000_000


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "sql_conn_id / destination"),
        ({"sql_conn_id": "warehouse", "destination": "/tmp/x"}, "sql_conn_id / destination"),
        ({"destination": "/tmp/x", "format": "xlsx"}, "format"),
        ({"sql_conn_id": "warehouse", "status": "expired"}, "status"),
        ({"sql_conn_id": "warehouse", "chunk_size": 0}, "chunk_size"),
        ({"sql_conn_id": "warehouse", "delete_threshold": 0}, "delete_threshold"),
        ({"sql_conn_id": "warehouse", "delete_threshold": 1.5}, "delete_threshold"),
        ({"sql_conn_id": "warehouse", "budget_share": 0}, "budget_share"),
        ({"sql_conn_id": "warehouse", "refetch_after": "7d"}, "refetch_after"),
        ({"sql_conn_id": "warehouse", "refetch_after": -1}, "refetch_after"),
        ({"sql_conn_id": "warehouse", "full_refresh_every": timedelta(0)}, "full_refresh_every"),
        ({"destination": "/tmp/x", "format": "csv", "csv_encoding": "latin-1"}, "csv_encoding"),
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
