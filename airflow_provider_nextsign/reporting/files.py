"""The file report writer (Parquet or CSV part files on any ObjectStoragePath) and its reader.

Layout: ``<destination>/<table>/part-<UTC start>-<run>-<chunk>.<format>`` for ``cases``, ``recipients``
and ``documents``, plus ``_nextsign_report_state.json``. Every part row carries ``extracted_at`` and
``run_id``; per case, the rows of the newest part holding it are the current report. A run writes only
cases that are new or whose ``row_hash`` changed, and a *tombstone* for each case NextSign confirmed
deleted: a ``cases`` row with ``is_deleted`` true, ``deleted_at``, the last ``state`` and ``folder``
and no other values (:func:`read_file_report` shows the case's last full row flagged deleted).

Parts and the state file are written under a temporary name and renamed when complete. CSV text cells
that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return) get a leading ``'``, as does a cell that starts with ``'`` already; :func:`read_file_report`
removes it again. CSV is UTF-8, or ``utf-8-sig`` (with the byte-order mark Excel needs to read UTF-8).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.reporting.common import (
    SkipPolicy,
    StoredCase,
    WriteResult,
    as_utc,
    records,
)
from airflow_provider_nextsign.reporting.schema import (
    CASES,
    FINAL_STATES,
    INT,
    SCHEMA_VERSION,
    STATES_BY_LIST_STATUS,
    TABLES,
    TIMESTAMP,
    Table,
    file_table,
)

if TYPE_CHECKING:
    import pandas as pd

    from airflow_provider_nextsign.reporting.frames import CaseFrames

__all__ = ["CSV_ENCODINGS", "FORMATS", "STATE_FILE", "FileReportWriter", "read_file_report"]

log = logging.getLogger(__name__)

STATE_FILE = "_nextsign_report_state.json"
FORMATS = ("parquet", "csv")
CSV_ENCODINGS = ("utf-8", "utf-8-sig")
STATE_VERSION = 2
#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP "CSV injection"), and
#: the escape character itself, so that escaping can be undone without doubt.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class FileReportWriter:
    """Write report chunks as Parquet or CSV part files under ``destination`` (local or ObjectStoragePath).

    The state file maps each case id to what the next run needs: the ``updatedAt`` listed at its last
    fetch, when it was fetched and last listed, its state, folder and ``row_hash``, and when it was
    confirmed deleted. It is written when the run finishes, so a failed run is simply read again. A state
    file that cannot be read is reported with a warning and the run reads every case (a full run).

    One run at a time per destination: two runs writing the same state file keep only the last one's.

    :param encoding: ``utf-8`` (default) or ``utf-8-sig`` for CSV parts that Excel opens as UTF-8.
    """

    def __init__(
        self,
        destination: Any,
        *,
        fmt: str = "parquet",
        run_id: str = "manual",
        encoding: str = "utf-8",
        clock: Any = None,
        logger: Any = None,
    ):
        from airflow_provider_nextsign.storage import as_path

        if fmt not in FORMATS:
            raise ValueError(f"format: {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
        if encoding not in CSV_ENCODINGS:
            raise ValueError(
                f"csv_encoding: {encoding!r} is not supported; use one of {', '.join(CSV_ENCODINGS)}"
            )
        self.root = as_path(destination)
        self.fmt = fmt
        self.run_id = run_id
        self.encoding = encoding
        self._clock = clock or (lambda: datetime.now(UTC))
        self.log = logger or log
        self.stem = f"part-{self._clock():%Y%m%dT%H%M%S%f}-{_safe(run_id)}"
        self.parts = 0
        self._state: dict[str, dict[str, Any]] | None = None
        self._meta: dict[str, Any] = {}
        #: Why the stored state was not used (corrupt file, older schema), or None.
        self.state_reset: str | None = None

    @property
    def state_path(self) -> Any:
        """Where the per-case state lives."""
        return self.root / STATE_FILE

    # -- state ----------------------------------------------------------------------------------------

    def create_tables(self) -> list[str]:
        """Load the state now (so a corrupt one is reported before any request); return the steps taken."""
        self.load_state()
        return [self.state_reset] if self.state_reset else []

    def load_state(self) -> dict[str, dict[str, Any]]:
        """The per-case state of the last run (empty before the first run or when it cannot be read)."""
        if self._state is None:
            self._state = self._read_state()
        return self._state

    def _read_state(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.state_path.read_text()
        except FileNotFoundError:
            return {}
        try:
            document = json.loads(text)
            version = int(document.get("version", 1))
            cases = document["cases"]
            if not isinstance(cases, dict):
                raise TypeError("'cases' is not an object")
            if version == 1:  # {id: updatedAt}: nothing else is known, so every case is read again
                state = {str(k): {"u": None} for k in cases}
            else:
                state = {str(k): dict(v) for k, v in cases.items()}
                self._meta = {k: v for k, v in document.items() if k not in ("version", "cases")}
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            self.state_reset = f"the state file {self.state_path} cannot be read ({err}); reading every case"
            self.log.warning("NextSign report: %s", self.state_reset)
            return {}
        if int(self._meta.get("schema", 1)) < SCHEMA_VERSION:
            self.state_reset = f"the report schema changed to version {SCHEMA_VERSION}; reading every case"
            self.log.warning("NextSign report: %s", self.state_reset)
            for entry in state.values():
                entry["u"] = None
        return state

    def known_count(self) -> int:
        """How many cases the state knows and are not deleted."""
        return sum(1 for e in self.load_state().values() if "x" not in e)

    def lookup(self, case_ids: Sequence[str]) -> dict[str, StoredCase]:
        """What the state holds of these cases."""
        state = self.load_state()
        return {
            cid: StoredCase(
                listed_updated_at=e.get("u"),
                fetched_at=as_utc(e.get("f")),
                state=e.get("s"),
                is_deleted="x" in e,
                row_exists=bool(e.get("h")),
            )
            for cid in case_ids
            if (e := state.get(cid)) is not None
        }

    def unchanged_ids(
        self,
        items: Sequence[Mapping[str, Any]],
        policy: SkipPolicy | None = None,
        now: datetime | None = None,
    ) -> set[str]:
        """Ids among Case List ``items`` that need no read under ``policy`` (default :class:`SkipPolicy`)."""
        return (policy or SkipPolicy()).skip_ids(items, self.lookup, now or self._clock())

    def _unlisted(
        self, since: datetime, status: str | None, folder: str | None, non_final_only: bool
    ) -> list[str]:
        scope = STATES_BY_LIST_STATUS[status] if status is not None else None
        out = []
        for cid, e in self.load_state().items():
            if "x" in e:
                continue
            listed = as_utc(e.get("l"))
            if listed is not None and listed >= since:
                continue
            if folder is not None and e.get("d") != folder:
                continue
            if scope is not None and e.get("s") not in scope:
                continue
            if non_final_only and e.get("s") in FINAL_STATES:
                continue
            out.append(cid)
        return sorted(out)

    def count_unlisted(
        self,
        since: datetime,
        *,
        status: str | None = None,
        folder: str | None = None,
        non_final_only: bool = False,
    ) -> int:
        """How many cases in scope Case List has not shown since ``since``."""
        return len(self._unlisted(since, status, folder, non_final_only))

    def unlisted_ids(
        self,
        since: datetime,
        *,
        status: str | None = None,
        folder: str | None = None,
        non_final_only: bool = False,
        limit: int | None = None,
    ) -> list[str]:
        """Ids of cases in scope that Case List has not shown since ``since`` (ordered by id)."""
        ids = self._unlisted(since, status, folder, non_final_only)
        return ids if limit is None else ids[:limit]

    def last_full_run_at(self) -> datetime | None:
        """When the last complete non-incremental run finished (None: never)."""
        self.load_state()
        return as_utc(self._meta.get("full_run_at"))

    def record_full_run(self, at: datetime) -> None:
        """Remember (when the state is written) that a non-incremental run completed at ``at``."""
        self.load_state()
        self._meta["full_run_at"] = _iso(at)

    # -- writing --------------------------------------------------------------------------------------

    def write(self, frames: CaseFrames) -> WriteResult:
        """Write the chunk's new and changed cases (and tombstones) as part files; update the state."""
        state = self.load_state()
        now = self._clock()
        result = WriteResult()
        hashes = dict(
            zip(frames.cases["case_id"].astype(str), frames.cases["row_hash"].astype(object), strict=True)
        )
        changed = {
            cid
            for cid, h in hashes.items()
            if cid not in state or "x" in state[cid] or state[cid].get("h") != h
        }
        result.unchanged = len(hashes) - len(changed)
        result.inserted = sum(1 for cid in changed if not (state.get(cid) or {}).get("h"))
        result.updated = len(changed) - result.inserted
        tombstones = self._tombstones(frames.deleted, now)
        if changed or tombstones:
            cases = frames.cases[frames.cases["case_id"].astype(str).isin(changed)]
            self._write_part(
                {
                    "cases": _concat(cases, tombstones),
                    "recipients": frames.recipients[frames.recipients["case_id"].astype(str).isin(changed)],
                    "documents": frames.documents[frames.documents["case_id"].astype(str).isin(changed)],
                },
                now,
            )
        listed = set(frames.listed_ids)
        for row in records(frames.cases[["case_id", "state", "folder", "row_hash"]]):
            cid = str(row["case_id"])
            entry = state.setdefault(cid, {})
            entry.pop("x", None)
            entry.update(f=_iso(now), s=row["state"], d=row["folder"], h=row["row_hash"])
            if cid in listed:
                entry["u"] = frames.listed_updated_at.get(cid) or None
        for cid in listed - set(frames.deleted):
            if cid in state:
                state[cid]["l"] = _iso(now)
        result.deleted = self._flag_deleted(frames.deleted, now)
        return result

    def mark_deleted(self, case_ids: Sequence[str]) -> int:
        """Write tombstones for these cases and flag them deleted in the state; return how many."""
        now = self._clock()
        tombstones = self._tombstones(case_ids, now)
        if tombstones is not None:
            self._write_part({"cases": tombstones}, now)
        return self._flag_deleted(case_ids, now)

    def _flag_deleted(self, case_ids: Sequence[str], now: datetime) -> int:
        state, count = self.load_state(), 0
        for cid in case_ids:
            entry = state.setdefault(cid, {})
            if "x" not in entry:
                count += 1
            entry["x"] = _iso(now)
            for key in ("u", "h", "l"):
                entry.pop(key, None)
        return count

    def _tombstones(self, case_ids: Sequence[str], now: datetime) -> pd.DataFrame | None:
        from airflow_provider_nextsign.reporting.frames import to_frame

        state = self.load_state()
        rows = [
            {
                "case_id": cid,
                "state": (state.get(cid) or {}).get("s"),
                "folder": (state.get(cid) or {}).get("d"),
                "is_deleted": True,
                "deleted_at": _iso(now),
            }
            for cid in case_ids
            if "x" not in (state.get(cid) or {})
        ]
        return to_frame(CASES, rows) if rows else None

    def _write_part(self, frames: Mapping[str, pd.DataFrame | None], now: datetime) -> None:
        from airflow_provider_nextsign.storage import atomic_open

        name = f"{self.stem}-{self.parts:05d}.{self.fmt}"
        self.parts += 1
        for table, frame in frames.items():
            if frame is None or frame.empty:
                continue
            out = frame.assign(extracted_at=now, run_id=self.run_id).astype(file_table(TABLES[table]).dtypes)
            with atomic_open(self.root / table / name) as fh:  # it creates the table's folder
                if self.fmt == "parquet":
                    out.to_parquet(fh, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
                else:
                    fh.write(_escape_formulas(out).to_csv(index=False).encode(self.encoding))

    def close(self) -> None:
        """Nothing to release."""

    def finish(self) -> None:
        """Persist the state (call once, after the last chunk and the sweep)."""
        from airflow_provider_nextsign.storage import atomic_open

        state = self.load_state()
        document = {"version": STATE_VERSION, **self._meta, "schema": SCHEMA_VERSION, "cases": state}
        with atomic_open(self.state_path) as fh:  # a crash mid-write keeps the last good state
            fh.write(json.dumps(document, separators=(",", ":")).encode())


def _concat(frame: pd.DataFrame, extra: pd.DataFrame | None) -> pd.DataFrame:
    import pandas as pd

    if extra is None:
        return frame
    if frame.empty:
        return extra
    return pd.concat([frame, extra], ignore_index=True)


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object or str(series.dtype).startswith(("string", "str"))


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


def read_parts(folder: Any, table: Table, fmt: str, stem: str = "") -> Iterator[tuple[str, pd.DataFrame]]:
    """Each part file of ``table`` in ``folder`` whose name starts with ``stem``, oldest first, as
    ``(name, frame)``: one part in memory at a time."""
    if not folder.exists():
        return
    for part in sorted(p for p in folder.iterdir() if p.name.startswith(stem) and p.name.endswith(f".{fmt}")):
        with part.open("rb") as fh:
            yield part.name, _read_part(fh, table, fmt)


def _read_part(fh: Any, table: Table, fmt: str) -> pd.DataFrame:
    """One part as a frame of ``table`` (with the file columns); columns older parts lack are null."""
    import pandas as pd

    if fmt == "parquet":
        frame = pd.read_parquet(fh)
    else:
        # Only an empty cell is null: "NA", "None" and "null" are text a recipient may well be named.
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        frame = _unescape_formulas(frame)
    for column in table.columns:
        if column.name not in frame.columns:
            frame[column.name] = None
        elif column.dtype == TIMESTAMP and fmt == "csv":
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True, format="ISO8601")
        elif column.dtype == INT:  # older parts may hold an integer column as text
            frame[column.name] = pd.to_numeric(frame[column.name], errors="coerce")
        elif column.dtype == "boolean" and fmt == "csv":
            frame[column.name] = frame[column.name].map({"True": True, "False": False}, na_action="ignore")
    return frame[table.column_names].astype(table.dtypes)


def read_file_report(destination: Any, *, fmt: str = "parquet") -> dict[str, pd.DataFrame]:
    """Read a file report back: ``{table: DataFrame}``, per case the rows of the newest part holding it.

    A case whose newest ``cases`` row is a tombstone shows its last full row with ``is_deleted`` and
    ``deleted_at`` from the tombstone (its recipients and documents are those of that full row). Frames
    carry the :data:`~.schema.FILE_COLUMNS`. Loads the whole report into memory; meant for tests,
    notebooks and modest reports.
    """
    import pandas as pd

    from airflow_provider_nextsign.reporting.frames import to_frame
    from airflow_provider_nextsign.storage import as_path

    root = as_path(destination)
    out: dict[str, pd.DataFrame] = {}
    chosen: dict[str, str] = {}  # case id -> part of its newest full row
    for spec in TABLES.values():
        table = file_table(spec)
        frames = [frame.assign(_part=name) for name, frame in read_parts(root / table.name, table, fmt)]
        if not frames:
            out[table.name] = to_frame(table, [])
            continue
        combined = pd.concat(frames, ignore_index=True)  # part order: oldest first
        if table.name == "cases":
            out["cases"], chosen = _newest_cases(combined)
            out["cases"] = out["cases"].astype(table.dtypes)
            continue
        keep = combined["case_id"].astype(str).map(chosen) == combined["_part"]
        out[table.name] = combined[keep].drop(columns="_part").reset_index(drop=True).astype(table.dtypes)
    return out


def _newest_cases(combined: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per case its newest full row, flagged deleted when its newest row is a tombstone (no row_hash)."""
    import pandas as pd

    newest = combined.groupby("case_id", sort=False).tail(1).set_index("case_id")
    tombstones = newest[newest["row_hash"].isna()]
    full = combined[combined["row_hash"].notna()].groupby("case_id", sort=False).tail(1).set_index("case_id")
    flagged = full.index.isin(tombstones.index)
    full.loc[flagged, "is_deleted"] = True
    full.loc[flagged, "deleted_at"] = tombstones.loc[full.index[flagged], "deleted_at"].to_numpy()
    only_tombstone = tombstones[~tombstones.index.isin(full.index)]
    cases = pd.concat([full, only_tombstone]).reset_index()
    chosen = {str(k): str(v) for k, v in full["_part"].items()}
    columns = [c for c in combined.columns if c != "_part"]
    return cases[columns].reset_index(drop=True), chosen
