"""What the report writers share: the :class:`ReportWriter` protocol they implement, what a write
changed, what is stored of a case, and when a listed case may be skipped (incremental runs).

Skipping is the only way a report can go stale, so it is decided here, once, and conservatively: a case
is skipped only when its row exists and is not deleted, Case List shows the same ``updatedAt`` as at its
last fetch, it is in a final state (NextSign may flip a pending case to expired without touching
``updatedAt``), and that fetch is younger than ``refetch_after``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_provider_nextsign.reporting.frames import parse_timestamp
from airflow_provider_nextsign.reporting.schema import FINAL_STATES, TIMESTAMP

if TYPE_CHECKING:
    import pandas as pd

    from airflow_provider_nextsign.reporting.frames import CaseFrames

__all__ = [
    "DEFAULT_REFETCH_AFTER",
    "ReportWriter",
    "SkipPolicy",
    "StoredCase",
    "WriteResult",
    "as_utc",
    "records",
]

#: Re-fetch every case at least this often, whatever Case List says.
DEFAULT_REFETCH_AFTER = timedelta(days=7)


@dataclass
class WriteResult:
    """What a write changed: cases inserted, updated, fetched but identical, marked deleted, and fetched
    but older than the stored row (an overlapping run wrote newer data first; not written)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    stale: int = 0

    def __iadd__(self, other: WriteResult) -> WriteResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.stale += other.stale
        return self


@dataclass(frozen=True)
class StoredCase:
    """What a writer holds of one case, for the skip decision."""

    listed_updated_at: str | None = None
    fetched_at: datetime | None = None
    state: str | None = None
    is_deleted: bool = False
    row_exists: bool = False


@runtime_checkable
class ReportWriter(Protocol):
    """Where a report goes: what the report operator and the delete sweep call, whatever the destination.

    Implemented by :class:`~.sql.SqlReportWriter` (upserts into warehouse tables, a transaction per
    chunk), :class:`~.files.FileReportWriter` (Parquet/CSV part files and a state file) and
    :class:`~.merge.MergeReportWriter` (staged Parquet, one MERGE per run). Callers never ask which one
    they hold; where the writers differ, the member says how.
    """

    def create_tables(self) -> list[str]:
        """Prepare the destination (SQL: create or migrate the tables; files: read the state file);
        return the migration steps taken (empty: none)."""
        ...

    def known_count(self) -> int:
        """How many cases are stored and not deleted (the expected size of an unfiltered run)."""
        ...

    def lookup(self, case_ids: Sequence[str]) -> Mapping[str, StoredCase]:
        """What is stored of these cases, for the incremental skip decision (absent: never stored)."""
        ...

    def unchanged_ids(
        self,
        items: Sequence[Mapping[str, Any]],
        policy: SkipPolicy | None = None,
        now: datetime | None = None,
    ) -> set[str]:
        """Ids among Case List ``items`` that need no read under ``policy`` (default :class:`SkipPolicy`),
        judged on :meth:`lookup` at ``now`` (default: the writer's clock, which also stamps what it
        writes)."""
        ...

    def count_unlisted(
        self,
        since: datetime,
        *,
        status: str | None = None,
        folder: str | None = None,
        non_final_only: bool = False,
    ) -> int:
        """How many stored, not deleted cases in scope Case List has not shown since ``since``."""
        ...

    def unlisted_ids(
        self,
        since: datetime,
        *,
        status: str | None = None,
        folder: str | None = None,
        non_final_only: bool = False,
        limit: int | None = None,
    ) -> list[str]:
        """Ids of those cases, ordered by id (at most ``limit``)."""
        ...

    def write(self, frames: CaseFrames) -> WriteResult:
        """Write one chunk and return what changed (SQL: committed at once; files: state kept until
        :meth:`finish`)."""
        ...

    def mark_deleted(self, case_ids: Sequence[str]) -> int:
        """Mark these cases deleted (their rows and last state stay); return how many were not already."""
        ...

    def last_full_run_at(self) -> datetime | None:
        """When the last complete non-incremental run finished (None: never)."""
        ...

    def record_full_run(self, at: datetime) -> None:
        """Remember that a non-incremental run completed at ``at`` (files: when the state is written)."""
        ...

    def finish(self) -> None:
        """Make the run durable once every chunk is written (SQL: nothing left to do; files: write the
        state file; staged MERGE: apply the run in one transaction, then write the state)."""
        ...

    def close(self) -> None:
        """Release what the writer holds (SQL: the engine's pooled connections), whether or not the run
        finished."""
        ...


@dataclass(frozen=True)
class SkipPolicy:
    """When an incremental run may skip reading a listed case.

    :param refetch_after: re-read a case whose last fetch is older than this (None: never for age).
    :param refetch_non_final: re-read pending and in-progress cases on every run.
    """

    refetch_after: timedelta | None = DEFAULT_REFETCH_AFTER
    refetch_non_final: bool = True

    def skippable(self, listed_updated_at: Any, stored: StoredCase | None, now: datetime) -> bool:
        """Whether a case listed with ``listed_updated_at`` may keep its stored rows unread."""
        if stored is None or not stored.row_exists or stored.is_deleted:
            return False
        if not listed_updated_at or stored.listed_updated_at != str(listed_updated_at):
            return False
        if self.refetch_non_final and stored.state not in FINAL_STATES:
            return False
        if self.refetch_after is not None:
            fetched = as_utc(stored.fetched_at)
            if fetched is None or now - fetched >= self.refetch_after:
                return False
        return True

    def skip_ids(
        self,
        items: Sequence[Mapping[str, Any]],
        lookup: Callable[[list[str]], Mapping[str, StoredCase]],
        now: datetime | None = None,
    ) -> set[str]:
        """The ids among Case List ``items`` that need no read, given the writer's ``lookup``."""
        ids = [str(i["_id"]) for i in items]
        stored = lookup(ids)
        moment = now or datetime.now(UTC)
        return {
            str(i["_id"])
            for i in items
            if self.skippable(i.get("updatedAt"), stored.get(str(i["_id"])), moment)
        }


#: A SQL identifier the writers put into statements unquoted: letters, digits and underscores.
SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_table_prefix(table_prefix: str) -> None:
    """Raise ``ValueError`` naming ``table_prefix`` unless it can start a SQL table name."""
    if not SQL_NAME.fullmatch(table_prefix or "x"):
        raise ValueError(f"table_prefix: {table_prefix!r} must be letters, digits and underscores")


def as_utc(value: Any) -> datetime | None:
    """An aware UTC datetime from a datetime (naive ones are UTC: SQLite drops the offset) or ISO text."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_timestamp(value)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
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
