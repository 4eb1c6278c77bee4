"""Writers of the report: a SQL warehouse (upsert on the case id) and files (Parquet or CSV).

Both take :class:`~.frames.CaseFrames` chunks and keep the per-case state an incremental run needs
(the ``updatedAt`` Case List showed when the case was last fetched):

* SQL: in the table ``{prefix}report_state``, written in the same transaction as the chunk's rows;
* files: in ``_nextsign_report_state.json`` beside the table folders, written after the last chunk.

Files are written under a temporary name and renamed when complete. CSV text cells that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a leading
``'``, as does a cell that starts with ``'`` already; :func:`read_file_report` removes it again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.reporting.schema import BOOL, INT, TABLES, TIMESTAMP, Table

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy as sa

    from airflow_provider_nextsign.reporting.frames import CaseFrames

STATE_FILE = "_nextsign_report_state.json"
FORMATS = ("parquet", "csv")
#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP "CSV injection"), and
#: the escape character itself, so that escaping can be undone without doubt.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


@dataclass
class WriteResult:
    """What a write changed: cases inserted, updated, fetched but identical, and marked deleted."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __iadd__(self, other: WriteResult) -> WriteResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        return self


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (None for missing, aware datetimes for timestamps)."""
    columns: dict[str, list[Any]] = {}
    for name in frame.columns:
        series = frame[name]
        if str(series.dtype) == TIMESTAMP:
            values = [
                None if v is None else v.to_pydatetime()
                for v in series.astype(object).where(series.notna(), None)
            ]
        else:
            values = series.astype(object).where(series.notna(), None).tolist()
        columns[str(name)] = values
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _sql_type(dtype: str, *, key: bool) -> Any:
    import sqlalchemy as sa

    if dtype == TIMESTAMP:
        return sa.DateTime(timezone=True)
    if dtype == INT:
        return sa.BigInteger()
    if dtype == BOOL:
        return sa.Boolean(create_constraint=False)
    return sa.String(64) if key else sa.Text()


class SqlReportWriter:
    """Upsert report chunks into SQL tables ``{prefix}cases``, ``{prefix}recipients``, ``{prefix}documents``.

    Cases are keyed on ``case_id``. A chunk is written in one transaction: cases whose ``row_hash``
    changed (or that are new) are upserted (``INSERT ... ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL,
    delete-then-insert elsewhere) and their recipients and documents replaced; identical cases are not
    touched, so a re-run changes nothing. ``{prefix}report_state`` keeps, per case, the ``updatedAt``
    listed at its last fetch and the ``run_id`` that last listed it (for :meth:`mark_unlisted_deleted`).
    Cases that vanished between Case List and Get Multiple are marked ``state = 'deleted'``.
    """

    def __init__(
        self,
        engine: sa.engine.Engine,
        *,
        table_prefix: str = "nextsign_",
        schema: str | None = None,
        run_id: str = "manual",
    ):
        import sqlalchemy as sa

        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table_prefix or "x"):
            raise ValueError(f"table_prefix: {table_prefix!r} must be letters, digits and underscores")
        self.engine = engine
        self.run_id = run_id
        self.metadata = sa.MetaData(schema=schema)
        self.tables: dict[str, sa.Table] = {}
        for table in TABLES.values():
            self.tables[table.name] = sa.Table(
                f"{table_prefix}{table.name}",
                self.metadata,
                *(sa.Column(c.name, _sql_type(c.dtype, key=c.key), primary_key=c.key) for c in table.columns),
            )
        self.state = sa.Table(
            f"{table_prefix}report_state",
            self.metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("listed_updated_at", sa.Text()),
            sa.Column("fetched_at", sa.DateTime(timezone=True)),
            sa.Column("last_listed_run", sa.Text()),
        )

    def create_tables(self) -> None:
        """Create the tables that do not exist yet."""
        self.metadata.create_all(self.engine, checkfirst=True)

    def finish(self) -> None:
        """Nothing to do: every chunk committed its own state."""

    def close(self) -> None:
        """Release the engine's pooled connections."""
        self.engine.dispose()

    def known_count(self) -> int:
        """How many cases the state table knows (an estimate of the next run's size)."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.state)).scalar() or 0)

    def unchanged_ids(self, items: Sequence[Mapping[str, Any]]) -> set[str]:
        """Ids among Case List ``items`` whose ``updatedAt`` equals the one stored at their last fetch."""
        import sqlalchemy as sa

        listed = {str(i["_id"]): str(i.get("updatedAt") or "") for i in items}
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(self.state.c.case_id, self.state.c.listed_updated_at).where(
                    self.state.c.case_id.in_(list(listed))
                )
            )
            return {cid for cid, stored in rows if stored and listed.get(cid) == stored}

    def write(self, frames: CaseFrames) -> WriteResult:
        """Write one chunk in a single transaction and return what changed."""
        import sqlalchemy as sa

        cases, recipients, documents = (
            self.tables["cases"],
            self.tables["recipients"],
            self.tables["documents"],
        )
        case_rows = _records(frames.cases)
        ids = [r["case_id"] for r in case_rows]
        result = WriteResult()
        with self.engine.begin() as conn:
            stored: dict[str, str] = {}
            if ids:
                stored = dict(
                    conn.execute(
                        sa.select(cases.c.case_id, cases.c.row_hash).where(cases.c.case_id.in_(ids))
                    ).all()
                )
            changed = [r for r in case_rows if stored.get(r["case_id"]) != r["row_hash"]]
            changed_ids = {r["case_id"] for r in changed}
            result.inserted = sum(1 for r in changed if r["case_id"] not in stored)
            result.updated = len(changed) - result.inserted
            result.unchanged = len(case_rows) - len(changed)
            if changed:
                self._upsert(conn, cases, changed, ["case_id"])
                for child, frame in ((recipients, frames.recipients), (documents, frames.documents)):
                    conn.execute(sa.delete(child).where(child.c.case_id.in_(list(changed_ids))))
                    rows = [r for r in _records(frame) if r["case_id"] in changed_ids]
                    if rows:
                        conn.execute(sa.insert(child), rows)
            if frames.missing:
                result.deleted = self._mark_deleted(conn, cases.c.case_id.in_(frames.missing))
                conn.execute(sa.delete(self.state).where(self.state.c.case_id.in_(frames.missing)))
            now = datetime.now(UTC)
            state_rows = [
                {
                    "case_id": cid,
                    "listed_updated_at": updated,
                    "fetched_at": now,
                    "last_listed_run": self.run_id,
                }
                for cid, updated in frames.listed_updated_at.items()
            ]
            if state_rows:
                self._upsert(conn, self.state, state_rows, ["case_id"])
            skipped = set(frames.listed_ids) - set(frames.listed_updated_at) - set(frames.missing)
            if skipped:
                conn.execute(
                    sa.update(self.state)
                    .where(self.state.c.case_id.in_(list(skipped)))
                    .values(last_listed_run=self.run_id)
                )
        return result

    def _mark_deleted(self, conn: sa.engine.Connection, where: Any) -> int:
        """Set ``state = 'deleted'`` (and clear ``row_hash``, so a re-listed case is rewritten)."""
        import sqlalchemy as sa

        cases = self.tables["cases"]
        stmt = (
            sa.update(cases).where(where, cases.c.state != "deleted").values(state="deleted", row_hash=None)
        )
        return int(conn.execute(stmt).rowcount or 0)

    def mark_unlisted_deleted(self) -> int:
        """After a complete, unfiltered run: mark deleted every case this run did not list; return how many.

        NextSign deletes cases (on request or by its auto-delete setting) without a trace in Case List,
        so a case the full list no longer shows is gone. Its rows stay, with ``state = 'deleted'``.
        """
        import sqlalchemy as sa

        state = self.state
        listed_now = sa.select(state.c.case_id).where(state.c.last_listed_run == self.run_id)
        with self.engine.begin() as conn:
            deleted = self._mark_deleted(conn, self.tables["cases"].c.case_id.not_in(listed_now))
            conn.execute(
                sa.delete(state).where(
                    sa.or_(state.c.last_listed_run.is_(None), state.c.last_listed_run != self.run_id)
                )
            )
        return deleted

    def _upsert(
        self, conn: sa.engine.Connection, table: sa.Table, rows: list[dict[str, Any]], key: list[str]
    ) -> None:
        import sqlalchemy as sa

        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            from sqlalchemy.dialects import postgresql, sqlite

            stmt = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
            update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in key}
            conn.execute(stmt.on_conflict_do_update(index_elements=key, set_=update), rows)
            return
        # Portable fallback (MySQL, MSSQL, ...): the transaction makes delete + insert atomic.
        ids = [r[key[0]] for r in rows]
        conn.execute(sa.delete(table).where(table.c[key[0]].in_(ids)))
        conn.execute(sa.insert(table), rows)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


class FileReportWriter:
    """Write report chunks as Parquet or CSV part files under ``destination`` (local or ObjectStoragePath).

    Layout: ``<destination>/<table>/part-<UTC start>-<run>-<chunk>.<format>`` for the tables ``cases``,
    ``recipients`` and ``documents``. Each run writes the cases it fetched (every listed case in a full
    run; only new or changed ones in an incremental run), so the current report is, per case, the rows of
    the newest part holding it (see :func:`read_file_report`). ``_nextsign_report_state.json`` beside the
    folders maps each case id to the ``updatedAt`` listed at its last fetch; it is written when the run
    finishes, so a failed run is simply fetched again.
    """

    def __init__(self, destination: Any, *, fmt: str = "parquet", run_id: str = "manual"):
        from airflow_provider_nextsign.operators._storage import as_path

        if fmt not in FORMATS:
            raise ValueError(f"format: {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
        self.root = as_path(destination)
        self.fmt = fmt
        self.stem = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{_safe(run_id)}"
        self.parts = 0
        self._state: dict[str, str] | None = None

    @property
    def state_path(self) -> Any:
        """Where the per-case state lives."""
        return self.root / STATE_FILE

    def load_state(self) -> dict[str, str]:
        """``{case_id: updatedAt}`` of the last fetch of each case (empty before the first run)."""
        if self._state is None:
            try:
                self._state = dict(json.loads(self.state_path.read_text())["cases"])
            except FileNotFoundError:
                self._state = {}
        return self._state

    def known_count(self) -> int:
        """How many cases the state knows."""
        return len(self.load_state())

    def unchanged_ids(self, items: Sequence[Mapping[str, Any]]) -> set[str]:
        """Ids among Case List ``items`` whose ``updatedAt`` equals the one stored at their last fetch."""
        state = self.load_state()
        return {
            str(i["_id"])
            for i in items
            if i.get("updatedAt") and state.get(str(i["_id"])) == str(i["updatedAt"])
        }

    def write(self, frames: CaseFrames) -> WriteResult:
        """Write one chunk's three tables as part files; all fetched cases count as inserted."""
        import contextlib

        from airflow_provider_nextsign.operators._storage import atomic_open

        if frames.cases.empty:
            self.load_state().update(frames.listed_updated_at)
            return WriteResult()
        name = f"{self.stem}-{self.parts:05d}.{self.fmt}"
        self.parts += 1
        for table, frame in (
            ("cases", frames.cases),
            ("recipients", frames.recipients),
            ("documents", frames.documents),
        ):
            folder = self.root / table
            with contextlib.suppress(NotImplementedError, OSError):  # object stores have no folders
                folder.mkdir(parents=True, exist_ok=True)
            with atomic_open(folder / name) as fh:
                if self.fmt == "parquet":
                    frame.to_parquet(fh, index=False)
                else:
                    fh.write(_escape_formulas(frame).to_csv(index=False).encode())
        self.load_state().update(frames.listed_updated_at)
        return WriteResult(inserted=len(frames.cases))

    def close(self) -> None:
        """Nothing to release."""

    def finish(self) -> None:
        """Persist the state (call once, after the last chunk)."""
        from airflow_provider_nextsign.operators._storage import atomic_open

        state = self.load_state()
        with atomic_open(self.state_path) as fh:  # a crash mid-write keeps the last good state
            fh.write(json.dumps({"version": 1, "cases": state}, separators=(",", ":")).encode())


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object or str(series.dtype).startswith("string")


def _escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells starting like a spreadsheet formula (or with ``'``) get a leading ``'``."""
    escaped = frame.copy()
    for name in frame.columns:
        if _is_text(frame[name]):
            escaped[name] = frame[name].map(
                lambda v: f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_STARTS) else v,
                na_action="ignore",
            )
    return escaped


def _unescape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`_escape_formulas`."""
    for name in frame.columns:
        if _is_text(frame[name]):
            frame[name] = frame[name].map(
                lambda v: v[1:] if isinstance(v, str) and v.startswith("'") else v, na_action="ignore"
            )
    return frame


def _read_part(fh: Any, table: Table, fmt: str) -> pd.DataFrame:
    import pandas as pd

    if fmt == "parquet":
        frame = pd.read_parquet(fh)
    else:
        stamps = [c.name for c in table.columns if c.dtype == TIMESTAMP]
        frame = pd.read_csv(fh, dtype={c.name: c.dtype for c in table.columns if c.dtype != TIMESTAMP})
        frame = _unescape_formulas(frame)
        for name in stamps:
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame.astype(table.dtypes)


def read_file_report(destination: Any, *, fmt: str = "parquet") -> dict[str, pd.DataFrame]:
    """Read a file report back: ``{table: DataFrame}`` with, per case, the rows of the newest part.

    Loads the whole report into memory; meant for tests, notebooks and modest reports.
    """
    import pandas as pd

    from airflow_provider_nextsign.operators._storage import as_path
    from airflow_provider_nextsign.reporting.frames import to_frame

    root = as_path(destination)
    out: dict[str, pd.DataFrame] = {}
    newest: dict[str, str] = {}  # case id -> newest part holding it, from the cases table
    for table in TABLES.values():
        folder = root / table.name
        parts = sorted(p for p in folder.iterdir() if p.name.endswith(f".{fmt}")) if folder.exists() else []
        frames = []
        for part in parts:
            with part.open("rb") as fh:
                frame = _read_part(fh, table, fmt)
            if table.name == "cases":
                newest.update(dict.fromkeys(frame["case_id"].astype(str), part.name))
            frames.append(frame.assign(_part=part.name))
        if not frames:
            out[table.name] = to_frame(table, [])
            continue
        combined = pd.concat(frames, ignore_index=True)
        keep = combined["case_id"].astype(str).map(newest) == combined["_part"]
        out[table.name] = combined[keep].drop(columns="_part").reset_index(drop=True).astype(table.dtypes)
    return out
