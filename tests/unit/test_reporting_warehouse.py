"""The SQL upsert writer (SQLite) and the Parquet/CSV file writer."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
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
    from ._reporting_cases import FakeClient, make_case
except ImportError:  # tests/ run as rootdir modules (no __init__.py)
    from _reporting_cases import FakeClient, make_case  # type: ignore[no-redef]


def chunk(bodies: list[dict], *, listed: bool = True) -> CaseFrames:
    cases, recipients, documents = to_frames(bodies)
    return CaseFrames(
        cases,
        recipients,
        documents,
        listed_updated_at={b["_id"]: b["updatedAt"] for b in bodies},
        listed=len(bodies) if listed else 0,
        listed_ids=[b["_id"] for b in bodies] if listed else [],
    )


class Clock:
    """A settable UTC clock for the writers."""

    def __init__(self, start: str = "2026-03-01T12:00:00+00:00") -> None:
        self.now = datetime.fromisoformat(start)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


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
        "ns_report_meta",
    }
    assert writer.get_meta("schema_version") == "2"
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
    writer.write(chunk([make_case(1, signed=2), make_case(2, signed=2)]))
    items = [
        {"_id": make_case(1)["_id"], "updatedAt": make_case(1)["updatedAt"]},
        {"_id": make_case(2)["_id"], "updatedAt": "2030-01-01T00:00:00.000Z"},
        {"_id": make_case(3)["_id"], "updatedAt": make_case(3)["updatedAt"]},
    ]
    assert writer.unchanged_ids(items) == {make_case(1)["_id"]}
    assert writer.known_count() == 2


def test_skip_only_final_cases_with_a_row_fetched_recently(tmp_path: Path) -> None:
    from airflow_provider_nextsign.reporting.common import SkipPolicy

    clock = Clock()
    writer = SqlReportWriter(sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}"), clock=clock)
    writer.create_tables()
    signed, pending, expired = make_case(1, signed=2), make_case(2), make_case(3)
    expired["settings"]["availability"]["isExpired"] = True
    writer.write(chunk([signed, pending, expired]))
    items = [{"_id": b["_id"], "updatedAt": b["updatedAt"]} for b in (signed, pending, expired)]
    # A pending case is read every run: NextSign may expire it without moving updatedAt.
    assert writer.unchanged_ids(items) == {signed["_id"], expired["_id"]}
    assert writer.unchanged_ids(items, SkipPolicy(refetch_non_final=False)) == {
        b["_id"] for b in (signed, pending, expired)
    }
    # Older than refetch_after (7 days by default): read again.
    clock.advance(days=7)
    assert writer.unchanged_ids(items) == set()
    assert writer.unchanged_ids(items, SkipPolicy(refetch_after=None)) == {signed["_id"], expired["_id"]}
    # No row (dropped by hand, say) while the state remains: never skipped.
    clock.now -= timedelta(days=7)
    with writer.engine.begin() as conn:
        conn.execute(
            sa.delete(writer.tables["cases"]).where(writer.tables["cases"].c.case_id == signed["_id"])
        )
    assert writer.unchanged_ids(items) == {expired["_id"]}


def test_deletion_keeps_the_last_state_and_the_rows(writer: SqlReportWriter) -> None:
    signed = make_case(1, signed=2)
    writer.write(chunk([signed, make_case(2)]))
    assert writer.mark_deleted([signed["_id"]]) == 1
    assert writer.mark_deleted([signed["_id"]]) == 0  # once
    cases = table(writer, "cases").set_index("case_id")
    row = cases.loc[signed["_id"]]
    assert (row["state"], bool(row["is_deleted"])) == ("signed", True) and row["deleted_at"] is not None
    assert bool(cases.loc[make_case(2)["_id"], "is_deleted"]) is False
    assert (table(writer, "recipients")["case_id"] == signed["_id"]).sum() == 3
    assert writer.known_count() == 1
    # Listed and read again: restored.
    assert writer.write(chunk([signed])) == WriteResult(updated=1)
    assert bool(table(writer, "cases").set_index("case_id").loc[signed["_id"], "is_deleted"]) is False


def test_an_older_read_never_overwrites_a_newer_row(writer: SqlReportWriter) -> None:
    newer = make_case(1, signed=2, updated="2024-03-01T00:00:00.000Z")
    older = make_case(1, signed=1, updated="2024-02-01T00:00:00.000Z")
    older["recipients"] = older["recipients"][:1]
    writer.write(chunk([newer]))
    assert writer.write(chunk([older])) == WriteResult(stale=1)
    cases = table(writer, "cases")
    assert list(cases["state"]) == ["signed"] and len(table(writer, "recipients")) == 3
    # Same updatedAt, different content (expiry flips without touching updatedAt): written.
    expired = make_case(1, signed=1, updated="2024-03-01T00:00:00.000Z")
    expired["settings"]["availability"]["isExpired"] = True
    assert writer.write(chunk([expired])) == WriteResult(updated=1)
    assert list(table(writer, "cases")["state"]) == ["expired"]


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
    client = FakeClient([make_case(i, signed=2) for i in range(1, 8)])
    for frames in iter_case_frames(client, chunk_size=3, skip=writer.unchanged_ids):
        writer.write(frames)
    client.get_calls.clear()
    client.bodies[make_case(5)["_id"]] = make_case(5, signed=1, updated="2024-05-05T00:00:00.000Z")
    results = WriteResult()
    for frames in iter_case_frames(client, chunk_size=3, skip=writer.unchanged_ids):
        results += writer.write(frames)
    assert client.get_calls == [[make_case(5)["_id"]]]
    assert results == WriteResult(updated=1)


def test_case_gone_before_the_fetch_is_marked_deleted(writer: SqlReportWriter) -> None:
    writer.write(chunk([make_case(1), make_case(2, signed=2)]))
    gone = make_case(2)["_id"]
    frames = chunk([make_case(1)])
    frames.deleted, frames.listed_ids = [gone], [make_case(1)["_id"], gone]
    assert writer.write(frames) == WriteResult(unchanged=1, deleted=1)
    cases = table(writer, "cases").set_index("case_id")
    assert bool(cases.loc[gone, "is_deleted"]) and cases.loc[gone, "state"] == "signed"
    assert not bool(cases.loc[make_case(1)["_id"], "is_deleted"])
    assert gone not in set(table(writer, "report_state")["case_id"])
    assert len(table(writer, "recipients")) == 6  # its history stays


def run_report(engine: sa.engine.Engine, client: FakeClient, clock: Clock, **sweep: object) -> WriteResult:
    from airflow_provider_nextsign.reporting.sweep import sweep_unlisted

    """One unfiltered report the way the operator runs it: list, read, write, then sweep."""
    writer = SqlReportWriter(engine, table_prefix="ns_", clock=clock)
    writer.create_tables()
    start = clock.advance(hours=24)
    result = WriteResult()
    for frames in iter_case_frames(client, chunk_size=2, skip=writer.unchanged_ids):
        result += writer.write(frames)
    swept = sweep_unlisted(client, writer, since=start, chunk_size=2, **sweep)  # type: ignore[arg-type]
    result += swept.written
    return result


def test_unlisted_cases_are_confirmed_by_case_get_before_they_are_marked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, clock = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}"), Clock()
    bodies = [make_case(i, signed=2) for i in range(1, 41)]
    client = FakeClient(bodies)
    assert run_report(engine, client, clock) == WriteResult(inserted=40)
    # Case 3 is deleted in NextSign; case 4 is live but the listing misses it (pages shifted).
    gone, missed = bodies[2]["_id"], bodies[3]["_id"]
    client.vanish.add(gone)
    listed = client.list_cases
    client.list_cases = lambda **kw: (i for i in listed(**kw) if i["_id"] not in (gone, missed))  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        assert run_report(engine, client, clock) == WriteResult(deleted=1, unchanged=1)
    assert client.case_gets == [gone]  # the missed one was in Get Multiple's answer: no Case Get needed
    reader = SqlReportWriter(engine, table_prefix="ns_")
    cases = table(reader, "cases").set_index("case_id")
    assert list(cases.index[cases["is_deleted"].astype(bool)]) == [gone]
    assert cases.loc[gone, "state"] == "signed"
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("2 stored case(s) are missing" in m and gone in m and missed in m for m in messages)
    assert any("1 case(s) confirmed deleted" in m and gone in m for m in messages)
    # Deleted stays deleted, once; listed again, it is read and restored.
    assert run_report(engine, client, clock) == WriteResult(unchanged=1)
    client.vanish.clear()
    client.list_cases = listed  # type: ignore[method-assign]
    assert run_report(engine, client, clock) == WriteResult(updated=1)
    assert not table(reader, "cases")["is_deleted"].astype(bool).any()


def test_sweep_aborts_above_the_threshold_and_names_the_cases(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, clock = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}"), Clock()
    bodies = [make_case(i, signed=2) for i in range(1, 101)]
    client = FakeClient(bodies)
    run_report(engine, client, clock)
    # A listing that silently lost 12 of 100 cases (more than 5%), all really gone in NextSign too.
    lost = {b["_id"] for b in bodies[40:52]}
    client.vanish |= lost
    listed = client.list_cases
    client.list_cases = lambda **kw: (i for i in listed(**kw) if i["_id"] not in lost)  # type: ignore[method-assign]
    client.case_gets.clear()
    with caplog.at_level(logging.WARNING):
        assert run_report(engine, client, clock).deleted == 0
    assert client.case_gets == []  # aborted before spending a request
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("12 stored case(s) are missing" in m and "and 2 more" in m for m in warnings)
    assert any("sweep is aborted" in m for m in warnings)
    # A higher threshold, on purpose: all 12 are confirmed and marked.
    assert run_report(engine, client, clock, threshold=0.2).deleted == 12


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_file_writer_round_trip_and_incremental_state(tmp_path: Path, fmt: str) -> None:
    from airflow_provider_nextsign.reporting.common import SkipPolicy
    from airflow_provider_nextsign.reporting.schema import file_table

    dest = tmp_path / "report"
    first = FileReportWriter(dest, fmt=fmt, run_id="manual__2024-01-01T00:00:00+00:00")
    first.write(chunk([make_case(1), make_case(2)]))
    first.finish()
    assert (dest / "_nextsign_report_state.json").exists()
    second = FileReportWriter(dest, fmt=fmt, run_id="scheduled__2024-01-02")
    items = [{"_id": make_case(1)["_id"], "updatedAt": make_case(1)["updatedAt"]}]
    assert second.unchanged_ids(items, SkipPolicy(refetch_non_final=False)) == {make_case(1)["_id"]}
    second.write(chunk([make_case(2, signed=2, updated="2024-04-04T00:00:00.000Z")]))
    second.finish()
    report = read_file_report(dest, fmt=fmt)
    cases = report["cases"].set_index("case_id")
    assert len(cases) == 2
    assert cases.loc[make_case(2)["_id"], "state"] == "signed"
    assert cases.loc[make_case(1)["_id"], "state"] == "pending"
    assert cases.loc[make_case(2)["_id"], "run_id"] == "scheduled__2024-01-02"
    assert len(report["recipients"]) == 6 and len(report["documents"]) == 4
    assert {k: str(v) for k, v in report["cases"].dtypes.items()} == {
        k: str(pd.Series(dtype=v).dtype) for k, v in file_table(CASES).dtypes.items()
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


def test_parquet_timestamps_are_microseconds_in_utc(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    writer = FileReportWriter(tmp_path, fmt="parquet", run_id="r1")
    writer.write(chunk([make_case(1, signed=2)]))
    writer.finish()
    for name in ("cases", "recipients"):
        (part,) = (tmp_path / name).glob("*.parquet")
        fields = {f.name: str(f.type) for f in pq.read_schema(part)}
        stamps = {k: v for k, v in fields.items() if v.startswith("timestamp")}
        assert stamps and set(stamps.values()) == {"timestamp[us, tz=UTC]"}, fields


def test_file_parts_say_which_run_wrote_them_and_skip_unchanged_cases(tmp_path: Path) -> None:
    clock = Clock()
    first = FileReportWriter(tmp_path, run_id="run-1", clock=clock)
    assert first.write(chunk([make_case(1), make_case(2)])) == WriteResult(inserted=2)
    first.finish()
    clock.advance(days=1)
    second = FileReportWriter(tmp_path, run_id="run-2", clock=clock)
    # Both read again (a full run): case 1 is identical and is not written a second time.
    changed = make_case(2, signed=1, updated="2024-05-01T00:00:00.000Z")
    assert second.write(chunk([make_case(1), changed])) == WriteResult(updated=1, unchanged=1)
    second.finish()
    parts = sorted((tmp_path / "cases").glob("*.parquet"))
    assert len(parts) == 2 and list(pd.read_parquet(parts[1])["case_id"]) == [changed["_id"]]
    cases = read_file_report(tmp_path)["cases"].set_index("case_id")
    assert cases.loc[make_case(1)["_id"], "run_id"] == "run-1"
    assert (
        cases.loc[changed["_id"], "run_id"] == "run-2" and cases.loc[changed["_id"], "state"] == "in_progress"
    )
    assert cases.loc[changed["_id"], "extracted_at"] == pd.Timestamp(clock.now)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_deleted_cases_get_a_tombstone_and_keep_their_last_rows(tmp_path: Path, fmt: str) -> None:
    clock = Clock()
    signed = make_case(1, signed=2)
    first = FileReportWriter(tmp_path, fmt=fmt, run_id="r1", clock=clock)
    first.write(chunk([signed, make_case(2)]))
    first.finish()
    clock.advance(hours=1)
    second = FileReportWriter(tmp_path, fmt=fmt, run_id="r2", clock=clock)
    assert second.mark_deleted([signed["_id"]]) == 1
    second.finish()
    (tombstone_part,) = [p for p in (tmp_path / "cases").iterdir() if "-r2-" in p.name]
    report = read_file_report(tmp_path, fmt=fmt)
    cases = report["cases"].set_index("case_id")
    row = cases.loc[signed["_id"]]
    assert bool(row["is_deleted"]) and row["deleted_at"] == pd.Timestamp(clock.now)
    assert row["state"] == "signed" and row["title"] == signed["title"]  # the last full row, flagged
    assert not bool(cases.loc[make_case(2)["_id"], "is_deleted"])
    assert (report["recipients"]["case_id"] == signed["_id"]).sum() == 3
    assert tombstone_part.exists()
    third = FileReportWriter(tmp_path, fmt=fmt, run_id="r3", clock=clock)
    assert third.known_count() == 1 and third.mark_deleted([signed["_id"]]) == 0


def test_corrupt_state_file_warns_and_reads_every_case(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = FileReportWriter(tmp_path, run_id="r1")
    first.write(chunk([make_case(1, signed=2)]))
    first.finish()
    state = tmp_path / "_nextsign_report_state.json"
    state.write_text(state.read_text()[:40])  # cut off, as by a full disk before issue 15
    second = FileReportWriter(tmp_path, run_id="r2")
    items = [{"_id": make_case(1)["_id"], "updatedAt": make_case(1)["updatedAt"]}]
    with caplog.at_level(logging.WARNING):
        assert second.unchanged_ids(items) == set()
        assert second.create_tables()  # the reason, for the task log
    assert any(
        "cannot be read" in r.getMessage() and "reading every case" in r.getMessage() for r in caplog.records
    )
    assert second.write(chunk([make_case(1, signed=2)])) == WriteResult(inserted=1)
    second.finish()
    assert make_case(1)["_id"] in json.loads(state.read_text())["cases"]


def test_csv_keeps_na_and_none_as_text(tmp_path: Path) -> None:
    case = make_case(1)
    case["title"], case["referenceId"], case["folder"] = "NA", "None", "null"
    case["recipients"][0]["name"] = "N/A"
    writer = FileReportWriter(tmp_path, fmt="csv", run_id="r")
    writer.write(chunk([case]))
    writer.finish()
    report = read_file_report(tmp_path, fmt="csv")
    row = report["cases"].iloc[0]
    assert (row["title"], row["reference_id"], row["folder"]) == ("NA", "None", "null")
    assert report["recipients"]["name"].iloc[0] == "N/A"
    assert pd.isna(row["signed_at"]) and pd.isna(report["recipients"]["signed_at"].iloc[0])


def test_csv_can_carry_a_byte_order_mark_for_excel(tmp_path: Path) -> None:
    case = make_case(1)
    case["title"] = "Købsaftale for Ærø"
    writer = FileReportWriter(tmp_path, fmt="csv", run_id="r", encoding="utf-8-sig")
    writer.write(chunk([case]))
    writer.finish()
    (part,) = (tmp_path / "cases").glob("*.csv")
    assert part.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with the mark only
    assert read_file_report(tmp_path, fmt="csv")["cases"]["title"].iloc[0] == "Købsaftale for Ærø"
    with pytest.raises(ValueError, match="csv_encoding"):
        FileReportWriter(tmp_path, fmt="csv", encoding="latin-1")


# The tables as the report created them at 5033222 (schema version 1): no report_meta, no is_deleted or
# deleted_at, recipient_group as text, no last_listed_at; deleted cases had state 'deleted'.
V1_DDL = [
    """create table ns_cases (case_id varchar(64) primary key, nextsign_key text, reference_id text,
    title text, folder text, case_type text, state text, is_expired boolean, owner_name text,
    owner_email text, created_at timestamp with time zone, updated_at timestamp with time zone,
    signed_at timestamp with time zone, recipient_count bigint, signer_count bigint, signed_count bigint,
    document_count bigint, signed_document_count bigint, row_hash text)""",
    """create table ns_recipients (case_id varchar(64), position bigint, name text, email text,
    signing_order bigint, recipient_group text, signing boolean, needs_cpr boolean, status text,
    signed_at timestamp with time zone, primary key (case_id, position))""",
    """create table ns_documents (case_id varchar(64), position bigint, name text, document_id text,
    sign_obligated boolean, signed boolean, file_url text, primary key (case_id, position))""",
    """create table ns_report_state (case_id varchar(64) primary key, listed_updated_at text,
    fetched_at timestamp with time zone, last_listed_run text)""",
    "insert into ns_cases (case_id, state, row_hash) values ('a1', 'signed', 'h1'), ('d1', 'deleted', null)",
    """insert into ns_recipients (case_id, position, name, recipient_group) values
    ('a1', 0, 'x', '10'), ('a1', 1, 'y', '2'), ('d1', 0, 'z', 'B')""",
    "insert into ns_report_state values ('a1', '2024-01-01T00:00:00.000Z', null, 'run')",
]


def migrate_v1(engine: sa.engine.Engine) -> tuple[SqlReportWriter, list[str]]:
    """Create schema version 1's tables and rows, then let a writer migrate them: (writer, steps)."""
    with engine.begin() as conn:
        for statement in V1_DDL:
            conn.execute(sa.text(statement))
    writer = SqlReportWriter(engine, table_prefix="ns_")
    return writer, writer.create_tables()


def check_migrated(writer: SqlReportWriter) -> None:
    from airflow_provider_nextsign.reporting.common import SkipPolicy

    inspector = sa.inspect(writer.engine)
    assert {"is_deleted", "deleted_at"} <= {c["name"] for c in inspector.get_columns("ns_cases")}
    assert "last_listed_at" in {c["name"] for c in inspector.get_columns("ns_report_state")}
    group = next(c for c in inspector.get_columns("ns_recipients") if c["name"] == "recipient_group")
    assert isinstance(group["type"], sa.Integer)
    assert writer.get_meta("schema_version") == "2"
    cases = table(writer, "cases").set_index("case_id")
    assert bool(cases.loc["d1", "is_deleted"]) and not bool(cases.loc["a1", "is_deleted"])
    recipients = table(writer, "recipients")
    assert list(recipients.sort_values("recipient_group")["name"][:2]) == ["y", "x"]  # 2 before 10
    assert recipients.set_index("name").loc["z", "recipient_group"] is None or pd.isna(
        recipients.set_index("name").loc["z", "recipient_group"]
    )
    # Every case is read again by the next run, even one whose updatedAt did not move.
    assert (
        writer.unchanged_ids(
            [{"_id": "a1", "updatedAt": "2024-01-01T00:00:00.000Z"}], SkipPolicy(None, False)
        )
        == set()
    )
    # And the new rows fit.
    assert writer.write(chunk([make_case(1, signed=2)])) == WriteResult(inserted=1)
    assert writer.create_tables() == []  # migrated once


def test_tables_of_schema_version_1_are_migrated(tmp_path: Path) -> None:
    writer, steps = migrate_v1(sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}"))
    assert any("is_deleted" in s for s in steps) and any("re-fetched" in s for s in steps)
    check_migrated(writer)


def test_tables_of_a_newer_schema_are_refused(writer: SqlReportWriter) -> None:
    writer.set_meta("schema_version", "99")
    with pytest.raises(ValueError, match=r"table_prefix.*newer"):
        SqlReportWriter(writer.engine, table_prefix="ns_").create_tables()
