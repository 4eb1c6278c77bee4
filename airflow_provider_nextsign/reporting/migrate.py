"""Bringing stored report tables to the current schema version (:data:`.schema.SCHEMA_VERSION`).

``create_all(checkfirst=True)`` creates missing tables but never changes existing ones, so a new
provider would write rows the old tables cannot hold, or leave old rows beside new ones. Here the
version is stored in ``{prefix}report_meta`` (tables without it are version 1) and, when it is older:

1. columns the schema declares and the table lacks are added (``ALTER TABLE ... ADD COLUMN``);
2. the steps of each version are applied (2: ``is_deleted`` from the old ``state = 'deleted'``;
   ``recipient_group`` from text to an integer: ``ALTER COLUMN ... TYPE`` on PostgreSQL, a rebuilt
   table on SQLite, a logged warning elsewhere);
3. every case is re-fetched by the next run (the stored ``updatedAt`` of each case is forgotten), so
   rows are rewritten in the new shape;

all in one transaction (PostgreSQL and SQLite run DDL in transactions), then the new version is stored.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from airflow_provider_nextsign.reporting.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    import sqlalchemy as sa

log = logging.getLogger(__name__)

__all__ = ["ReportTables", "migrate_sql"]

VERSION_KEY = "schema_version"


class ReportTables(Protocol):
    """What a migration needs of the SQL report tables: their engine, declarations and meta values.

    :class:`~airflow_provider_nextsign.reporting.sql.SqlReportWriter` is one; the migration knows only
    this, so the writer imports the migration and not the other way round.
    """

    engine: sa.engine.Engine
    schema: str | None
    table_prefix: str
    metadata: sa.MetaData
    tables: dict[str, sa.Table]
    state: sa.Table
    meta: sa.Table

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table."""
        ...

    def set_meta(self, key: str, value: str, conn: sa.engine.Connection | None = None) -> None:
        """Store a value in the meta table (in ``conn``'s transaction when given)."""
        ...


def migrate_sql(writer: ReportTables) -> list[str]:
    """Create or migrate ``writer``'s tables; return a description of each step taken (empty: none)."""
    import sqlalchemy as sa

    engine = writer.engine
    inspector = sa.inspect(engine)
    schema = writer.schema
    existing = set(inspector.get_table_names(schema=schema))
    cases_name = writer.tables["cases"].name
    had_meta = writer.meta.name in existing
    stored_version: int | None = None
    if had_meta:
        raw = writer.get_meta(VERSION_KEY)
        stored_version = int(raw) if raw is not None else None
    if stored_version is None:
        stored_version = 1 if cases_name in existing else SCHEMA_VERSION
    if stored_version > SCHEMA_VERSION:
        raise ValueError(
            f"table_prefix: the tables {writer.table_prefix}* hold report schema version {stored_version}, "
            f"newer than this provider's {SCHEMA_VERSION}; upgrade airflow-provider-nextsign or use "
            "another table_prefix"
        )
    steps: list[str] = []
    with engine.begin() as conn:
        writer.metadata.create_all(conn, checkfirst=True)
        if stored_version < SCHEMA_VERSION:
            steps += _add_columns(conn, writer, existing)
            if stored_version < 2:
                steps += _to_v2(conn, writer)
            state = writer.state
            conn.execute(sa.update(state).values(listed_updated_at=None))
            steps.append("every case is re-fetched by this run")
        writer.set_meta(VERSION_KEY, str(SCHEMA_VERSION), conn)
    for step in steps:
        log.warning(
            "NextSign report tables %s*: migrated to schema version %d: %s",
            writer.table_prefix,
            SCHEMA_VERSION,
            step,
        )
    return steps


def _qualified(conn: sa.engine.Connection, table: sa.Table) -> str:
    preparer = conn.dialect.identifier_preparer
    return preparer.format_table(table)


def _add_columns(conn: sa.engine.Connection, writer: ReportTables, existing: set[str]) -> list[str]:
    """``ALTER TABLE ... ADD COLUMN`` for every declared column a stored table lacks."""
    import sqlalchemy as sa

    steps = []
    inspector = sa.inspect(conn)
    for table in [*writer.tables.values(), writer.state]:
        if table.name not in existing:
            continue  # created just now, complete
        present = {c["name"] for c in inspector.get_columns(table.name, schema=writer.schema)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            name = conn.dialect.identifier_preparer.quote(column.name)
            conn.execute(sa.text(f"ALTER TABLE {_qualified(conn, table)} ADD COLUMN {name} {kind}"))
            steps.append(f"added {table.name}.{column.name}")
    return steps


def _to_v2(conn: sa.engine.Connection, writer: ReportTables) -> list[str]:
    """Version 2: deletion is a flag (old deleted rows keep ``state = 'deleted'``: their last signing
    state is lost), and ``recipient_group`` is an integer."""
    import sqlalchemy as sa

    cases = writer.tables["cases"]
    flagged = conn.execute(
        sa.update(cases).where(cases.c.state == "deleted").values(is_deleted=True)
    ).rowcount
    conn.execute(sa.update(cases).where(cases.c.is_deleted.is_(None)).values(is_deleted=False))
    steps = [f"is_deleted set on {int(flagged or 0)} case(s) marked deleted before"]
    steps += _group_to_integer(conn, writer)
    return steps


def _group_to_integer(conn: sa.engine.Connection, writer: ReportTables) -> list[str]:
    import sqlalchemy as sa

    recipients = writer.tables["recipients"]
    column = next(
        c
        for c in sa.inspect(conn).get_columns(recipients.name, schema=writer.schema)
        if c["name"] == "recipient_group"
    )
    if isinstance(column["type"], sa.Integer):
        return []
    table = _qualified(conn, recipients)
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(
            sa.text(
                f"ALTER TABLE {table} ALTER COLUMN recipient_group TYPE BIGINT USING "
                "CASE WHEN trim(recipient_group) ~ '^-?[0-9]+$' THEN trim(recipient_group)::bigint END"
            )
        )
        return ["recipients.recipient_group is now BIGINT"]
    if dialect == "sqlite":
        # SQLite cannot change a column's type: build the table anew and copy the rows over.
        names = [c.name for c in recipients.columns]
        scratch = sa.Table(
            f"{recipients.name}__v2",
            sa.MetaData(schema=writer.schema),
            *(c._copy() for c in recipients.columns),
        )
        scratch.create(conn)
        group = (
            "CASE WHEN CAST(CAST(trim(recipient_group) AS INTEGER) AS TEXT) = trim(recipient_group) "
            "THEN CAST(trim(recipient_group) AS INTEGER) END"
        )
        selected = ", ".join(group if n == "recipient_group" else n for n in names)
        conn.execute(
            sa.text(
                f"INSERT INTO {_qualified(conn, scratch)} ({', '.join(names)}) SELECT {selected} FROM {table}"
            )
        )
        conn.execute(sa.text(f"DROP TABLE {table}"))
        quoted = conn.dialect.identifier_preparer.quote(recipients.name)
        conn.execute(sa.text(f"ALTER TABLE {_qualified(conn, scratch)} RENAME TO {quoted}"))
        return ["recipients.recipient_group is now INTEGER (table rebuilt)"]
    log.warning(
        "NextSign report: %s.recipient_group stays a text column on %s; change it to an integer type "
        "(the report writes integers) so that groups sort as numbers",
        recipients.name,
        dialect,
    )
    return [f"recipients.recipient_group left as text on {dialect}"]
