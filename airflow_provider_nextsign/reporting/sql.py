"""The SQL warehouse writer: report chunks upserted on the case id, one transaction per chunk.

Tables ``{prefix}cases``, ``{prefix}recipients``, ``{prefix}documents`` (the schema of :mod:`.schema`),
``{prefix}report_state`` (per case: the ``updatedAt`` listed at its last fetch, when it was fetched,
when Case List last showed it) and ``{prefix}report_meta`` (the schema version and the time of the last
full run). Only SQLAlchemy Core is used, so SQLAlchemy 1.4 (Airflow 2.11) and 2.x both work.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.reporting.common import (
    SkipPolicy,
    StoredCase,
    WriteResult,
    as_utc,
    check_table_prefix,
    records,
)
from airflow_provider_nextsign.reporting.schema import (
    BOOL,
    FINAL_STATES,
    INT,
    STATES_BY_LIST_STATUS,
    TABLES,
    TIMESTAMP,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

    from airflow_provider_nextsign.reporting.frames import CaseFrames

__all__ = ["SqlReportWriter"]

#: Ids per ``IN (...)`` list and rows per multi-row statement (far below every database's limits).
_BATCH = 500


def sql_type(dtype: str, *, key: bool = False) -> Any:
    """The SQLAlchemy type of a report column of pandas ``dtype``."""
    import sqlalchemy as sa

    if dtype == TIMESTAMP:
        return sa.DateTime(timezone=True)
    if dtype == INT:
        return sa.BigInteger()
    if dtype == BOOL:
        return sa.Boolean(create_constraint=False)
    return sa.String(64) if key else sa.Text()


def _batches(values: Sequence[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


class SqlReportWriter:
    """Upsert report chunks into ``{prefix}cases``, ``{prefix}recipients`` and ``{prefix}documents``.

    A chunk is one transaction. Cases whose ``row_hash`` changed (or that are new, or were deleted and
    are listed again) are upserted (``INSERT ... ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL,
    delete-then-insert elsewhere) and their recipients and documents replaced; identical cases are not
    touched, so a re-run changes nothing. A row is only replaced by one whose ``updated_at`` is at least
    the stored one, so an overlapping run never writes older data over newer.

    Deleting keeps history: a deleted case keeps its rows and its last ``state``, with ``is_deleted``
    and ``deleted_at`` set (:meth:`mark_deleted`).

    :param clock: the time source of ``fetched_at``, ``last_listed_at`` and ``deleted_at`` (tests).
    """

    def __init__(
        self,
        engine: sa.engine.Engine,
        *,
        table_prefix: str = "nextsign_",
        schema: str | None = None,
        run_id: str = "manual",
        clock: Any = None,
    ):
        import sqlalchemy as sa

        check_table_prefix(table_prefix)
        self.engine = engine
        self.run_id = run_id
        self.table_prefix = table_prefix
        self.schema = schema
        self._clock = clock or (lambda: datetime.now(UTC))
        self.metadata = sa.MetaData(schema=schema)
        self.tables: dict[str, sa.Table] = {}
        for table in TABLES.values():
            self.tables[table.name] = sa.Table(
                f"{table_prefix}{table.name}",
                self.metadata,
                *(sa.Column(c.name, sql_type(c.dtype, key=c.key), primary_key=c.key) for c in table.columns),
            )
        self.state = sa.Table(
            f"{table_prefix}report_state",
            self.metadata,
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("listed_updated_at", sa.Text()),
            sa.Column("fetched_at", sa.DateTime(timezone=True)),
            sa.Column("last_listed_run", sa.Text()),
            sa.Column("last_listed_at", sa.DateTime(timezone=True)),
        )
        self.meta = sa.Table(
            f"{table_prefix}report_meta",
            self.metadata,
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.Text()),
        )

    # -- set-up ---------------------------------------------------------------------------------------

    def create_tables(self) -> list[str]:
        """Create missing tables and migrate old ones to the current schema; return the steps taken."""
        from airflow_provider_nextsign.reporting.migrate import migrate_sql

        return migrate_sql(self)

    def get_meta(self, key: str) -> str | None:
        """A value of ``{prefix}report_meta``."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            value = conn.execute(sa.select(self.meta.c.value).where(self.meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str, conn: sa.engine.Connection | None = None) -> None:
        """Store a value in ``{prefix}report_meta``."""
        if conn is None:
            with self.engine.begin() as own:
                self._upsert(own, self.meta, [{"key": key, "value": value}], ["key"])
        else:
            self._upsert(conn, self.meta, [{"key": key, "value": value}], ["key"])

    def last_full_run_at(self) -> datetime | None:
        """When the last complete non-incremental run finished (None: never)."""
        return as_utc(self.get_meta("last_full_run_at"))

    def record_full_run(self, at: datetime) -> None:
        """Remember that a non-incremental run completed at ``at``."""
        self.set_meta("last_full_run_at", at.astimezone(UTC).isoformat())

    def finish(self) -> None:
        """Nothing to do: every chunk committed its own state."""

    def close(self) -> None:
        """Release the engine's pooled connections."""
        self.engine.dispose()

    # -- reading what is stored -----------------------------------------------------------------------

    def _active(self) -> Any:
        """Rows not marked deleted."""
        import sqlalchemy as sa

        cases = self.tables["cases"]
        return sa.or_(cases.c.is_deleted.is_(None), cases.c.is_deleted == sa.false())

    def known_count(self) -> int:
        """How many cases are stored and not deleted (the size of the next unfiltered run)."""
        import sqlalchemy as sa

        cases = self.tables["cases"]
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(cases).where(self._active())
            return int(conn.execute(query).scalar() or 0)

    def lookup(self, case_ids: Sequence[str]) -> dict[str, StoredCase]:
        """What is stored of these cases (state row joined with the case row)."""
        import sqlalchemy as sa

        state, cases = self.state, self.tables["cases"]
        out: dict[str, StoredCase] = {}
        query = sa.select(
            state.c.case_id,
            state.c.listed_updated_at,
            state.c.fetched_at,
            cases.c.state,
            cases.c.is_deleted,
            cases.c.case_id.is_not(None),
        ).select_from(state.outerjoin(cases, cases.c.case_id == state.c.case_id))
        with self.engine.connect() as conn:
            for batch in _batches(list(case_ids)):
                for cid, listed, fetched, st, deleted, exists in conn.execute(
                    query.where(state.c.case_id.in_(batch))
                ):
                    out[str(cid)] = StoredCase(listed, as_utc(fetched), st, bool(deleted), bool(exists))
        return out

    def unchanged_ids(
        self,
        items: Sequence[Mapping[str, Any]],
        policy: SkipPolicy | None = None,
        now: datetime | None = None,
    ) -> set[str]:
        """Ids among Case List ``items`` that need no read under ``policy`` (default :class:`SkipPolicy`)."""
        return (policy or SkipPolicy()).skip_ids(items, self.lookup, now or self._clock())

    def _unlisted_where(
        self, since: datetime, *, status: str | None, folder: str | None, non_final_only: bool
    ) -> list[Any]:
        """Stored, not deleted, in scope, and not listed since ``since`` (``NOT EXISTS``: linear time)."""
        import sqlalchemy as sa

        cases, state = self.tables["cases"], self.state
        listed = (
            sa.select(sa.literal(1))
            .select_from(state)
            .where(state.c.case_id == cases.c.case_id, state.c.last_listed_at >= since)
        )
        where = [self._active(), ~sa.exists(listed)]
        if folder is not None:
            where.append(cases.c.folder == folder)
        if status is not None:
            where.append(cases.c.state.in_(STATES_BY_LIST_STATUS[status]))
        if non_final_only:
            where.append(sa.or_(cases.c.state.is_(None), cases.c.state.not_in(FINAL_STATES)))
        return where

    def count_unlisted(
        self,
        since: datetime,
        *,
        status: str | None = None,
        folder: str | None = None,
        non_final_only: bool = False,
    ) -> int:
        """How many stored cases in scope Case List has not shown since ``since``."""
        import sqlalchemy as sa

        where = self._unlisted_where(since, status=status, folder=folder, non_final_only=non_final_only)
        query = sa.select(sa.func.count()).select_from(self.tables["cases"]).where(*where)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def unlisted_ids(
        self,
        since: datetime,
        *,
        status: str | None = None,
        folder: str | None = None,
        non_final_only: bool = False,
        limit: int | None = None,
    ) -> list[str]:
        """Ids of stored cases in scope that Case List has not shown since ``since`` (ordered by id)."""
        import sqlalchemy as sa

        cases = self.tables["cases"]
        where = self._unlisted_where(since, status=status, folder=folder, non_final_only=non_final_only)
        query = sa.select(cases.c.case_id).where(*where).order_by(cases.c.case_id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [str(v) for v in conn.execute(query).scalars()]

    # -- writing --------------------------------------------------------------------------------------

    def mark_deleted(self, case_ids: Sequence[str], conn: sa.engine.Connection | None = None) -> int:
        """Flag these cases deleted (``is_deleted``, ``deleted_at``; ``state`` and child rows stay) and
        forget their incremental state, so a case listed again is read and restored; return how many
        rows changed."""
        if conn is None:
            with self.engine.begin() as own:
                return self.mark_deleted(case_ids, own)
        import sqlalchemy as sa

        cases = self.tables["cases"]
        now, count = self._clock(), 0
        for batch in _batches(list(case_ids)):
            stmt = (
                sa.update(cases)
                .where(cases.c.case_id.in_(batch), self._active())
                # row_hash cleared: a case listed again is rewritten, and so restored.
                .values(is_deleted=True, deleted_at=now, row_hash=None)
            )
            count += int(conn.execute(stmt).rowcount or 0)
            conn.execute(sa.delete(self.state).where(self.state.c.case_id.in_(batch)))
        return count

    def write(self, frames: CaseFrames) -> WriteResult:
        """Write one chunk in a single transaction and return what changed."""
        import sqlalchemy as sa

        cases = self.tables["cases"]
        case_rows = records(frames.cases)
        ids = [r["case_id"] for r in case_rows]
        result = WriteResult()
        now = self._clock()
        with self.engine.begin() as conn:
            stored: dict[str, tuple[Any, Any]] = {}
            for batch in _batches(ids):
                query = sa.select(cases.c.case_id, cases.c.row_hash, cases.c.updated_at).where(
                    cases.c.case_id.in_(batch)
                )
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update()  # an overlapping run waits for this chunk
                stored.update((cid, (h, u)) for cid, h, u in conn.execute(query))
            changed = [
                r for r in case_rows if r["case_id"] not in stored or stored[r["case_id"]][0] != r["row_hash"]
            ]
            newer = [
                r for r in changed if not _older(r["updated_at"], stored.get(r["case_id"], (None, None))[1])
            ]
            applied = self._upsert_cases(conn, newer)
            result.inserted = sum(1 for i in applied if i not in stored)
            result.updated = len(applied) - result.inserted
            result.unchanged = len(case_rows) - len(changed)
            result.stale = len(changed) - len(applied)
            if applied:
                self._replace_children(conn, frames, applied)
            if frames.deleted:
                result.deleted = self.mark_deleted(frames.deleted, conn)
            changed_ids = {r["case_id"] for r in changed}
            written = applied | {r["case_id"] for r in case_rows if r["case_id"] not in changed_ids}
            self._record_state(conn, frames, written, now)
        return result

    def _upsert_cases(self, conn: sa.engine.Connection, rows: list[dict[str, Any]]) -> set[str]:
        """Upsert case rows whose ``updated_at`` is not older than the stored one; return the ids written."""
        import sqlalchemy as sa

        if not rows:
            return set()
        cases = self.tables["cases"]
        dialect = conn.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            # Portable fallback: the rows were compared under the transaction; delete + insert is atomic.
            ids = [r["case_id"] for r in rows]
            for batch in _batches(ids):
                conn.execute(sa.delete(cases).where(cases.c.case_id.in_(batch)))
            conn.execute(sa.insert(cases), rows)
            return set(ids)
        from sqlalchemy.dialects import postgresql, sqlite

        applied: set[str] = set()
        for batch in _batches(rows):
            stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(cases)
            update = {c.name: stmt.excluded[c.name] for c in cases.columns if c.name != "case_id"}
            guard = sa.or_(
                cases.c.updated_at.is_(None),
                stmt.excluded.updated_at.is_(None),
                stmt.excluded.updated_at >= cases.c.updated_at,
            )
            upsert = stmt.on_conflict_do_update(index_elements=["case_id"], set_=update, where=guard)
            if dialect == "postgresql":
                # One multi-row statement, RETURNING the rows it really wrote: a row a concurrent run made
                # newer in the meantime is left alone, and so are its recipients and documents.
                returned = conn.execute(upsert.values(batch).returning(cases.c.case_id))
                applied.update(str(v) for v in returned.scalars())
            else:  # SQLite runs one writer at a time: the comparison above still holds
                conn.execute(upsert, batch)
                applied.update(r["case_id"] for r in batch)
        return applied

    def _replace_children(self, conn: sa.engine.Connection, frames: CaseFrames, ids: set[str]) -> None:
        import sqlalchemy as sa

        for name, frame in (("recipients", frames.recipients), ("documents", frames.documents)):
            child = self.tables[name]
            for batch in _batches(sorted(ids)):
                conn.execute(sa.delete(child).where(child.c.case_id.in_(batch)))
            rows = [r for r in records(frame) if r["case_id"] in ids]
            if rows:
                conn.execute(sa.insert(child), rows)

    def _record_state(
        self, conn: sa.engine.Connection, frames: CaseFrames, written: set[str], now: datetime
    ) -> None:
        """Stamp what this chunk read and listed: ``fetched_at`` for the cases read (and written or found
        identical), ``last_listed_at`` for every case Case List showed (read, skipped or too old)."""
        import sqlalchemy as sa

        state = self.state
        listed = set(frames.listed_ids) - set(frames.deleted)
        fetched_listed = [
            {
                "case_id": cid,
                "listed_updated_at": frames.listed_updated_at.get(cid) or None,
                "fetched_at": now,
                "last_listed_run": self.run_id,
                "last_listed_at": now,
            }
            for cid in sorted(written & listed)
        ]
        if fetched_listed:
            self._upsert(conn, state, fetched_listed, ["case_id"])
        fetched_only = [{"case_id": cid, "fetched_at": now} for cid in sorted(written - listed)]
        if fetched_only:  # read by a sweep, not listed: when Case List last showed it is unchanged
            self._upsert(conn, state, fetched_only, ["case_id"])
        only_listed = sorted(listed - written)
        for batch in _batches(only_listed):
            conn.execute(
                sa.update(state)
                .where(state.c.case_id.in_(batch))
                .values(last_listed_at=now, last_listed_run=self.run_id)
            )

    def _upsert(
        self, conn: sa.engine.Connection, table: sa.Table, rows: list[dict[str, Any]], key: list[str]
    ) -> None:
        """Insert ``rows`` or update the columns they carry (rows of one call carry the same columns)."""
        import sqlalchemy as sa

        dialect = conn.dialect.name
        columns = set(rows[0])
        if dialect in ("sqlite", "postgresql"):
            from sqlalchemy.dialects import postgresql, sqlite

            stmt = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
            update = {c: stmt.excluded[c] for c in columns if c not in key}
            conn.execute(stmt.on_conflict_do_update(index_elements=key, set_=update), rows)
            return
        # Portable fallback (MySQL, MSSQL, ...): update what exists, insert the rest, in this transaction.
        ids = [r[key[0]] for r in rows]
        existing: set[Any] = set()
        for batch in _batches(ids):
            existing.update(
                conn.execute(sa.select(table.c[key[0]]).where(table.c[key[0]].in_(batch))).scalars()
            )
        for row in rows:
            if row[key[0]] in existing:
                values = {c: v for c, v in row.items() if c not in key}
                conn.execute(sa.update(table).where(table.c[key[0]] == row[key[0]]).values(**values))
        new = [r for r in rows if r[key[0]] not in existing]
        if new:
            conn.execute(sa.insert(table), new)


def _older(new: Any, stored: Any) -> bool:
    """Whether a fetched ``updated_at`` is older than the stored one (unknown on either side: no)."""
    new_at, stored_at = as_utc(new), as_utc(stored)
    return new_at is not None and stored_at is not None and new_at < stored_at
