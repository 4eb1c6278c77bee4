"""The SQL upsert writer (SQLite) and the Parquet/CSV file writer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_nextsign.reporting.frames import CaseFrames, iter_case_frames, to_frames
from airflow_provider_nextsign.reporting.schema import CASES, DOCUMENTS, RECIPIENTS
from airflow_provider_nextsign.reporting.warehouse import (
    FileReportWriter,
    SqlReportWriter,
    WriteResult,
    read_file_report,
)

try:
    from .test_reporting_frames import FakeClient, make_case
except ImportError:  # tests/ run as rootdir modules (no __init__.py)
    from test_reporting_frames import FakeClient, make_case  # type: ignore[no-redef]


def chunk(bodies: list[dict]) -> CaseFrames:
    cases, recipients, documents = to_frames(bodies)
    return CaseFrames(
        cases,
        recipients,
        documents,
        listed_updated_at={b["_id"]: b["updatedAt"] for b in bodies},
        listed=len(bodies),
        listed_ids=[b["_id"] for b in bodies],
    )


@pytest.fixture
def writer(tmp_path: Path) -> SqlReportWriter:
    w = SqlReportWriter(sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}"), table_prefix="ns_")
    w.create_tables()
    return w


def table(writer: SqlReportWriter, name: str) -> pd.DataFrame:
    """A table's rows ordered by key (plain SQLAlchemy: pandas 3 needs SQLAlchemy 2, Airflow 2.11 has 1.4)."""
    t = writer.state if name == "report_state" else writer.tables[name]
    with writer.engine.connect() as conn:
        result = conn.execute(sa.select(t).order_by(*t.primary_key.columns))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def test_tables_are_created_with_declared_columns(writer: SqlReportWriter) -> None:
    inspector = sa.inspect(writer.engine)
    assert set(inspector.get_table_names()) == {
        "ns_cases",
        "ns_recipients",
        "ns_documents",
        "ns_report_state",
    }
    for spec in (CASES, RECIPIENTS, DOCUMENTS):
        columns = inspector.get_columns(f"ns_{spec.name}")
        assert [c["name"] for c in columns] == spec.column_names
        assert inspector.get_pk_constraint(f"ns_{spec.name}")["constrained_columns"] == spec.key


def test_first_write_inserts_then_rerun_changes_nothing(writer: SqlReportWriter) -> None:
    bodies = [make_case(i) for i in range(1, 4)]
    assert writer.write(chunk(bodies)) == WriteResult(inserted=3)
    before = {name: table(writer, name) for name in ("cases", "recipients", "documents")}
    assert len(before["cases"]) == 3 and len(before["recipients"]) == 9 and len(before["documents"]) == 6
    assert writer.write(chunk(bodies)) == WriteResult(unchanged=3)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(table(writer, name), frame)


def test_changed_case_is_updated_and_its_children_replaced(writer: SqlReportWriter) -> None:
    writer.write(chunk([make_case(1), make_case(2)]))
    signed = make_case(2, signed=2, updated="2024-03-01T00:00:00.000Z")
    signed["recipients"] = signed["recipients"][:2]  # the reader was removed
    assert writer.write(chunk([make_case(1), signed])) == WriteResult(updated=1, unchanged=1)
    cases = table(writer, "cases").set_index("case_id")
    assert cases.loc[signed["_id"], "state"] == "signed"
    assert cases.loc[make_case(1)["_id"], "state"] == "pending"
    recipients = table(writer, "recipients")
    assert (recipients["case_id"] == signed["_id"]).sum() == 2
    assert (recipients["case_id"] == make_case(1)["_id"]).sum() == 3
    docs = table(writer, "documents").set_index(["case_id", "position"])
    assert docs.loc[(signed["_id"], 0), "file_url"].endswith(".pdf")


def test_timestamps_round_trip_as_utc(writer: SqlReportWriter) -> None:
    writer.write(chunk([make_case(1, signed=2)]))
    cases = table(writer, "cases")
    stored = pd.to_datetime(cases.loc[0, "signed_at"], utc=True)
    assert stored == pd.Timestamp("2024-02-12T09:00:00", tz="UTC")


def test_unchanged_ids_compare_listed_updated_at(writer: SqlReportWriter) -> None:
    writer.write(chunk([make_case(1), make_case(2)]))
    items = [
        {"_id": make_case(1)["_id"], "updatedAt": make_case(1)["updatedAt"]},
        {"_id": make_case(2)["_id"], "updatedAt": "2030-01-01T00:00:00.000Z"},
        {"_id": make_case(3)["_id"], "updatedAt": make_case(3)["updatedAt"]},
    ]
    assert writer.unchanged_ids(items) == {make_case(1)["_id"]}
    assert writer.known_count() == 2


def test_failed_chunk_leaves_no_partial_rows(writer: SqlReportWriter) -> None:
    frames = chunk([make_case(1)])
    frames.recipients.loc[0, "position"] = frames.recipients.loc[1, "position"]  # duplicate child key
    with pytest.raises(sa.exc.IntegrityError):
        writer.write(frames)
    assert table(writer, "cases").empty and table(writer, "report_state").empty


def test_bad_prefix_is_rejected() -> None:
    with pytest.raises(ValueError, match="table_prefix"):
        SqlReportWriter(sa.create_engine("sqlite://"), table_prefix="x; drop")


def test_end_to_end_incremental_with_fake_client(writer: SqlReportWriter) -> None:
    client = FakeClient([make_case(i) for i in range(1, 8)])
    for frames in iter_case_frames(client, chunk_size=3, skip=writer.unchanged_ids):
        writer.write(frames)
    client.get_calls.clear()
    client.bodies[make_case(5)["_id"]] = make_case(5, signed=2, updated="2024-05-05T00:00:00.000Z")
    results = WriteResult()
    for frames in iter_case_frames(client, chunk_size=3, skip=writer.unchanged_ids):
        results += writer.write(frames)
    assert client.get_calls == [[make_case(5)["_id"]]]
    assert results == WriteResult(updated=1)


def test_case_gone_before_the_fetch_is_marked_deleted(writer: SqlReportWriter) -> None:
    writer.write(chunk([make_case(1), make_case(2)]))
    gone = make_case(2)["_id"]
    frames = chunk([make_case(1)])
    frames.missing, frames.listed_ids = [gone], [make_case(1)["_id"], gone]
    assert writer.write(frames) == WriteResult(unchanged=1, deleted=1)
    cases = table(writer, "cases").set_index("case_id")
    assert cases.loc[gone, "state"] == "deleted" and cases.loc[make_case(1)["_id"], "state"] == "pending"
    assert gone not in set(table(writer, "report_state")["case_id"])
    assert len(table(writer, "recipients")) == 6  # its history stays


def test_unlisted_cases_are_marked_deleted_and_come_back_when_listed_again(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}")

    def run(run_id: str, bodies: list[dict]) -> WriteResult:
        writer = SqlReportWriter(engine, table_prefix="ns_", run_id=run_id)
        writer.create_tables()
        client = FakeClient(bodies)
        result = WriteResult()
        for frames in iter_case_frames(client, chunk_size=2, skip=writer.unchanged_ids):
            result += writer.write(frames)
        result.deleted += writer.mark_unlisted_deleted()
        return result

    assert run("a", [make_case(i) for i in range(1, 6)]) == WriteResult(inserted=5)
    assert run("b", [make_case(i) for i in (1, 2, 4, 5)]) == WriteResult(deleted=1)
    reader = SqlReportWriter(engine, table_prefix="ns_")
    states = table(reader, "cases").set_index("case_id")["state"]
    assert states[make_case(3)["_id"]] == "deleted" and (states == "pending").sum() == 4
    assert run("c", [make_case(i) for i in (1, 2, 4, 5)]) == WriteResult()  # deleted stays deleted, once
    # Listed again (a paging glitch, say): fetched and restored, since its state row was dropped.
    assert run("d", [make_case(i) for i in range(1, 6)]) == WriteResult(updated=1)
    assert table(reader, "cases").set_index("case_id").loc[make_case(3)["_id"], "state"] == "pending"


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_file_writer_round_trip_and_incremental_state(tmp_path: Path, fmt: str) -> None:
    dest = tmp_path / "report"
    first = FileReportWriter(dest, fmt=fmt, run_id="manual__2024-01-01T00:00:00+00:00")
    first.write(chunk([make_case(1), make_case(2)]))
    first.finish()
    assert (dest / "_nextsign_report_state.json").exists()
    second = FileReportWriter(dest, fmt=fmt, run_id="scheduled__2024-01-02")
    items = [{"_id": make_case(1)["_id"], "updatedAt": make_case(1)["updatedAt"]}]
    assert second.unchanged_ids(items) == {make_case(1)["_id"]}
    second.write(chunk([make_case(2, signed=2, updated="2024-04-04T00:00:00.000Z")]))
    second.finish()
    report = read_file_report(dest, fmt=fmt)
    cases = report["cases"].set_index("case_id")
    assert len(cases) == 2
    assert cases.loc[make_case(2)["_id"], "state"] == "signed"
    assert cases.loc[make_case(1)["_id"], "state"] == "pending"
    assert len(report["recipients"]) == 6 and len(report["documents"]) == 4
    assert {k: str(v) for k, v in report["cases"].dtypes.items()} == {
        k: str(pd.Series(dtype=v).dtype) for k, v in CASES.dtypes.items()
    }
    assert report["cases"]["created_at"].iloc[0] == pd.Timestamp("2023-12-14T16:40:27.431", tz="UTC")


def test_file_writer_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        FileReportWriter(tmp_path, fmt="xlsx")


FORMULAS = ['=HYPERLINK("http://evil.example","open")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"]


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_escaped(tmp_path: Path) -> None:
    case = make_case(1)
    case["title"], case["referenceId"] = FORMULAS[0], FORMULAS[3]
    case["recipients"][0]["name"], case["recipients"][1]["name"] = FORMULAS[1], FORMULAS[2]
    case["documents"][0]["name"] = "\tcontract.pdf"
    case["folder"] = "'quoted already"
    writer = FileReportWriter(tmp_path, fmt="csv", run_id="r")
    writer.write(chunk([case]))
    writer.finish()

    raw = "".join(p.read_text() for p in tmp_path.rglob("*.csv"))
    cells = [cell.strip('"') for line in raw.splitlines() for cell in line.split(",")]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    for text in (*FORMULAS, "\tcontract.pdf"):
        assert text not in raw.replace('""', '"') or f"'{text}" in raw.replace('""', '"')
    # Reading the report back gives the values NextSign sent.
    report = read_file_report(tmp_path, fmt="csv")
    row = report["cases"].iloc[0]
    assert (row["title"], row["reference_id"], row["folder"]) == (FORMULAS[0], FORMULAS[3], "'quoted already")
    assert list(report["recipients"]["name"][:2]) == FORMULAS[1:3]
    assert "\tcontract.pdf" in set(report["documents"]["name"])


def test_the_state_file_is_replaced_whole_never_rewritten_in_place(tmp_path: Path, monkeypatch) -> None:
    import errno

    writer = FileReportWriter(tmp_path, fmt="parquet", run_id="r1")
    writer.write(chunk([make_case(1)]))
    writer.finish()
    state = tmp_path / "_nextsign_report_state.json"
    before = state.read_bytes()
    second = FileReportWriter(tmp_path, fmt="parquet", run_id="r2")
    second.write(chunk([make_case(2)]))

    class DiskFull:
        """A file that opened (and so truncated) fine, but whose write fails."""

        def __init__(self, handle) -> None:
            self.handle = handle

        def write(self, data) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.handle.close()

    real_open = Path.open
    monkeypatch.setattr(
        Path,
        "open",
        lambda self, mode="r", *a, **k: (
            DiskFull(real_open(self, mode, *a, **k)) if "w" in mode else real_open(self, mode, *a, **k)
        ),
    )
    with pytest.raises(OSError, match="No space left"):
        second.finish()
    monkeypatch.undo()
    assert state.read_bytes() == before  # the last good state, not an empty or half file
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "_nextsign_report_state.json",
        "cases",
        "documents",
        "recipients",
    ]
