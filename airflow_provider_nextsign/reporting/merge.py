"""Staged Parquet plus one MERGE per run, for warehouses where per-chunk transactions do not fit.

BigQuery limits and bills every DML statement, and Snowflake is best fed in bulk; the SQL writer's
transaction per chunk of 500 cases suits neither. :class:`MergeReportWriter` writes the run's chunks as
Parquet parts to a *stage* (a folder on any ObjectStoragePath: ``gs://`` for BigQuery, the location of
a Snowflake stage), exactly as the file writer does (its state file, tombstones and sweep included),
and when the run finishes it loads this run's parts into staging tables and applies them to the
warehouse tables in one transaction, through the connection's common.sql ``DbApiHook.run``:

1. recipients and documents of the cases that win (new, or changed and not older than the stored
   row) are deleted and inserted again from the stage;
2. one ``MERGE`` on ``{prefix}cases``: tombstones set ``is_deleted``/``deleted_at`` (the last state
   stays); new cases are inserted; changed ones are updated when their ``updated_at`` is not older.

The state file is written only after that transaction commits, so a failed MERGE is simply read and
staged again by the next run. Dialects: ``bigquery`` (``LOAD DATA`` then a ``BEGIN TRANSACTION`` script),
``snowflake`` (``COPY INTO`` from ``stage_name``, then ``BEGIN`` ... ``COMMIT``) and ``postgres``
(PostgreSQL 15+ ``MERGE``; the stage is loaded by this process). Only ``postgres`` is run by the tests
here; the BigQuery and Snowflake statements are checked as text (docs/reporting.md says so).
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_nextsign.reporting.common import SQL_NAME, check_table_prefix
from airflow_provider_nextsign.reporting.files import FileReportWriter
from airflow_provider_nextsign.reporting.schema import (
    BOOL,
    CASES,
    INT,
    TABLES,
    TIMESTAMP,
    Table,
    file_table,
)

__all__ = ["DIALECTS", "MergeReportWriter", "dialect_of_conn_type", "merge_statements"]

DIALECTS = ("bigquery", "snowflake", "postgres")
_CONN_TYPES = {
    "gcpbigquery": "bigquery",
    "google_cloud_platform": "bigquery",
    "snowflake": "snowflake",
    "postgres": "postgres",
    "postgresql": "postgres",
}
_TYPES = {
    "bigquery": {TIMESTAMP: "TIMESTAMP", INT: "INT64", BOOL: "BOOL", "string": "STRING"},
    "snowflake": {TIMESTAMP: "TIMESTAMP_TZ", INT: "NUMBER(38,0)", BOOL: "BOOLEAN", "string": "VARCHAR"},
    "postgres": {TIMESTAMP: "TIMESTAMPTZ", INT: "BIGINT", BOOL: "BOOLEAN", "string": "TEXT"},
}


def dialect_of_conn_type(conn_type: str) -> str | None:
    """The merge dialect of an Airflow connection type, or None when there is none."""
    return _CONN_TYPES.get(conn_type)


def _columns(table: Table, alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{name}" for name in table.column_names)


def create_statements(dialect: str, names: dict[str, str]) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for the three report tables (``names``: table -> qualified name)."""
    types = _TYPES[dialect]
    out = []
    for table in TABLES.values():
        columns = ", ".join(f"{c.name} {types[c.dtype]}" for c in table.columns)
        key = f", PRIMARY KEY ({', '.join(table.key)})" if dialect == "postgres" else ""
        out.append(f"CREATE TABLE IF NOT EXISTS {names[table.name]} ({columns}{key})")
    return out


def merge_statements(target: dict[str, str], stage: dict[str, str]) -> list[str]:
    """The statements applying staged rows to the report tables (run them in one transaction, in order).

    ``target`` and ``stage`` map ``cases``, ``recipients`` and ``documents`` to qualified table names.
    Standard SQL ``MERGE`` with conditional ``WHEN MATCHED`` clauses: BigQuery, Snowflake and
    PostgreSQL 15+ accept it as written.
    """
    ranked = (
        f"SELECT * FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.case_id ORDER BY s.extracted_at DESC) "
        f"AS nextsign_rank FROM {stage['cases']} s) ranked WHERE ranked.nextsign_rank = 1"
    )
    changed = "(t.row_hash IS NULL OR t.row_hash <> n.row_hash)"
    not_older = "(t.updated_at IS NULL OR n.updated_at IS NULL OR n.updated_at >= t.updated_at)"
    winners = (
        f"SELECT n.case_id, n.extracted_at FROM ({ranked}) n LEFT JOIN {target['cases']} t "
        f"ON t.case_id = n.case_id WHERE n.row_hash IS NOT NULL AND (t.case_id IS NULL OR "
        f"({changed} AND {not_older}))"
    )
    statements = []
    for name in ("recipients", "documents"):
        table = TABLES[name]
        statements.append(
            f"DELETE FROM {target[name]} WHERE case_id IN (SELECT w.case_id FROM ({winners}) w)"
        )
        statements.append(
            f"INSERT INTO {target[name]} ({_columns(table)}) SELECT {_columns(table, 'c')} "
            f"FROM {stage[name]} c JOIN ({winners}) w ON w.case_id = c.case_id "
            "AND w.extracted_at = c.extracted_at"
        )
    updates = ", ".join(f"{c} = n.{c}" for c in CASES.column_names if c != "case_id")
    statements.append(
        f"MERGE INTO {target['cases']} t USING ({ranked}) n ON t.case_id = n.case_id "
        "WHEN MATCHED AND n.row_hash IS NULL AND (t.is_deleted IS NULL OR NOT t.is_deleted) THEN "
        "UPDATE SET is_deleted = TRUE, deleted_at = n.deleted_at, row_hash = NULL "
        f"WHEN MATCHED AND n.row_hash IS NOT NULL AND {changed} AND {not_older} THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED AND n.row_hash IS NOT NULL THEN INSERT ({_columns(CASES)}) "
        f"VALUES ({_columns(CASES, 'n')})"
    )
    return statements


class MergeReportWriter(FileReportWriter):
    """Stage the run's chunks as Parquet under ``stage`` and apply them with one MERGE when it finishes.

    :param stage: the staging folder (ObjectStoragePath or URL); BigQuery needs ``gs://``.
    :param hook: the warehouse connection's common.sql ``DbApiHook``.
    :param dialect: ``bigquery``, ``snowflake`` or ``postgres``.
    :param table_prefix: prefix of the warehouse tables (``nextsign_``: ``nextsign_cases`` ...).
    :param schema: the BigQuery dataset or Snowflake/PostgreSQL schema of the tables.
    :param stage_name: Snowflake only: the stage (``@name`` or ``@name/path``) over ``stage``.
    """

    def __init__(
        self,
        stage: Any,
        *,
        hook: Any,
        dialect: str,
        table_prefix: str = "nextsign_",
        schema: str | None = None,
        stage_name: str | None = None,
        run_id: str = "manual",
        clock: Any = None,
        logger: Any = None,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"merge dialect: {dialect!r} is not supported; use one of {', '.join(DIALECTS)}")
        check_table_prefix(table_prefix)
        if schema is not None and not all(SQL_NAME.fullmatch(part) for part in schema.split(".")):
            raise ValueError(
                f"schema: {schema!r} must be letters, digits and underscores (dots between parts)"
            )
        if dialect == "snowflake" and not (stage_name and re.fullmatch(r"@[A-Za-z0-9_.$/-]+", stage_name)):
            raise ValueError(
                "stage_name: Snowflake loads the staged Parquet from a stage; name it, e.g. "
                f"'@nextsign_stage' (got {stage_name!r})"
            )
        super().__init__(stage, fmt="parquet", run_id=run_id, clock=clock, logger=logger)
        self.hook = hook
        self.dialect = dialect
        self.stage_name = stage_name
        qualify = (lambda name: f"{schema}.{name}") if schema else (lambda name: name)
        self.target = {t: qualify(f"{table_prefix}{t}") for t in TABLES}
        self.staging = {t: qualify(f"{table_prefix}stage_{t}") for t in TABLES}

    def create_tables(self) -> list[str]:
        """Create the warehouse tables that do not exist; load the stage's state."""
        self.hook.run(create_statements(self.dialect, self.target), autocommit=True)
        return super().create_tables()

    def statements(self) -> tuple[list[str], list[str]]:
        """``(load, merge)``: the statements that load this run's parts into the staging tables, and those
        that apply them (one transaction)."""
        types = _TYPES[self.dialect]
        load: list[str] = []
        for name, spec in TABLES.items():
            staged = file_table(spec)
            columns = ", ".join(f"{c.name} {types[c.dtype]}" for c in staged.columns)
            url = str(self.root / name).rstrip("/")
            if self.dialect == "bigquery":
                load.append(
                    f"LOAD DATA OVERWRITE {self.staging[name]} ({columns}) FROM FILES "
                    f"(format = 'PARQUET', uris = ['{url}/{self.stem}-*.parquet'])"
                )
            elif self.dialect == "snowflake":
                load.append(f"CREATE OR REPLACE TRANSIENT TABLE {self.staging[name]} ({columns})")
                pattern = f".*{self.stem.replace('.', '[.]')}-[0-9]+[.]parquet"
                load.append(
                    f"COPY INTO {self.staging[name]} FROM {self.stage_name}/{name}/ PATTERN = '{pattern}' "
                    "FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE"
                )
            else:
                load.append(f"DROP TABLE IF EXISTS {self.staging[name]}")
                load.append(f"CREATE TABLE {self.staging[name]} ({columns})")
        return load, merge_statements(self.target, self.staging)

    def finish(self) -> None:
        """Load this run's parts, apply them in one transaction, then persist the state."""
        if self.parts:
            load, merge = self.statements()
            if self.dialect == "bigquery":
                script = [*load, "BEGIN TRANSACTION", *merge, "COMMIT TRANSACTION"]
                self.hook.run(";\n".join(script) + ";", autocommit=True)
            elif self.dialect == "snowflake":
                self.hook.run(load, autocommit=True)
                self.hook.run(["BEGIN", *merge, "COMMIT"], autocommit=True)
            else:
                self.hook.run(load, autocommit=True)
                self._load_postgres()
                self.hook.run(merge, autocommit=False)
        super().finish()

    def _load_postgres(self) -> None:
        """PostgreSQL reads no Parquet: insert this run's staged rows from here, a part at a time, in
        one transaction."""
        import sqlalchemy as sa

        from airflow_provider_nextsign.reporting.common import records
        from airflow_provider_nextsign.reporting.files import read_parts

        engine = self.hook.get_sqlalchemy_engine()
        with engine.begin() as conn:
            for name, spec in TABLES.items():
                staged = file_table(spec)
                table = sa.table(
                    self.staging[name].split(".")[-1], *(sa.column(c) for c in staged.column_names)
                )
                if "." in self.staging[name]:
                    table.schema = self.staging[name].rsplit(".", 1)[0]
                for _, frame in read_parts(self.root / name, staged, "parquet", stem=self.stem):
                    conn.execute(sa.insert(table), records(frame))
