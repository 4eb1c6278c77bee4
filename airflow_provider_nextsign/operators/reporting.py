"""Case reporting: NextSign cases into a SQL warehouse or Parquet/CSV files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_nextsign.reporting.frames import check_list_status

if TYPE_CHECKING:
    from airflow_provider_nextsign.reporting.warehouse import FileReportWriter, SqlReportWriter

FORMATS = ("parquet", "csv")


class NextSignCaseReportOperator(BaseOperator):
    """Load NextSign cases, their recipients and documents into a warehouse or files; return a summary.

    Pages through Case List (optionally filtered by ``status`` and ``folder``), fetches the details with
    batched Case Get Multiple and writes the tables ``cases``, ``recipients`` and ``documents`` (schema in
    ``docs/reporting.md``) chunk by chunk, so memory stays flat however many cases there are.

    Exactly one destination:

    * ``sql_conn_id``: any Airflow SQL connection (SQLite, PostgreSQL, ...); the tables are
      ``{table_prefix}cases`` etc. in ``schema``, upserted on the case id (a re-run changes nothing; a case
      whose content changed is updated and its recipients and documents replaced, in one transaction per
      chunk). The incremental state is the table ``{table_prefix}report_state``.
    * ``destination``: a folder (local path, ``ObjectStoragePath`` or ``scheme://`` URL) receiving part
      files per table in ``format`` (``parquet`` or ``csv``); the state is ``_nextsign_report_state.json``
      in that folder.

    With ``incremental=True`` a case whose Case List ``updatedAt`` equals the one seen at its last fetch is
    not fetched again. NextSign may flip a case to expired without touching ``updatedAt``; run a full
    report (``incremental=False``) now and then to catch those.

    With ``mark_deleted=True`` (default) a SQL report that lists every case (no ``status`` or ``folder``
    filter) sets ``state = 'deleted'`` on the rows of cases NextSign no longer lists.

    :param nextsign_conn_id: the NextSign connection.
    :param status: Case List filter: ``signed``, ``denied`` or ``pending`` (default: all cases).
    :param folder: Case List folder filter.
    :param sql_conn_id: Airflow connection of the SQL warehouse.
    :param table_prefix: prefix of the SQL table names (default ``nextsign_``).
    :param schema: SQL schema of the tables (default: the connection's default).
    :param destination: folder for Parquet/CSV files instead of SQL.
    :param format: ``parquet`` (default) or ``csv``, for ``destination``.
    :param incremental: skip the detail fetch of cases unchanged since the last run.
    :param mark_deleted: mark cases no longer listed as deleted (SQL, unfiltered reports only).
    :param chunk_size: cases per chunk (memory bound and transaction size).
    :param progress_interval: seconds between progress log lines.
    """

    template_fields: Sequence[str] = (
        "nextsign_conn_id",
        "status",
        "folder",
        "sql_conn_id",
        "table_prefix",
        "schema",
        "destination",
        "format",
    )
    ui_color = "#dbe9f6"

    def __init__(
        self,
        *,
        nextsign_conn_id: str = "nextsign_default",
        status: str | None = None,
        folder: str | None = None,
        sql_conn_id: str | None = None,
        table_prefix: str = "nextsign_",
        schema: str | None = None,
        destination: Any = None,
        format: str = "parquet",
        incremental: bool = False,
        mark_deleted: bool = True,
        chunk_size: int = 500,
        progress_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.nextsign_conn_id = nextsign_conn_id
        self.status = status
        self.folder = folder
        self.sql_conn_id = sql_conn_id
        self.table_prefix = table_prefix
        self.schema = schema
        self.destination = destination
        self.format = format
        self.incremental = incremental
        self.mark_deleted = mark_deleted
        self.chunk_size = chunk_size
        self.progress_interval = progress_interval

    def _check(self) -> None:
        """Fail on bad arguments before any request or database connection."""
        if bool(self.sql_conn_id) == bool(self.destination):
            raise ValueError(
                "sql_conn_id / destination: give exactly one, a SQL connection id (warehouse tables) "
                "or a destination folder (Parquet/CSV files)"
            )
        if self.destination and self.format not in FORMATS:
            raise ValueError(f"format: {self.format!r} is not supported; use 'parquet' or 'csv'")
        check_list_status(self.status or None)
        if not isinstance(self.chunk_size, int) or isinstance(self.chunk_size, bool) or self.chunk_size < 1:
            raise ValueError(f"chunk_size: expected a positive integer, got {self.chunk_size!r}")

    def _sql_engine(self) -> Any:
        from airflow.providers.common.compat.sdk import BaseHook

        conn = BaseHook.get_connection(str(self.sql_conn_id))
        hook = conn.get_hook()
        if not hasattr(hook, "get_sqlalchemy_engine"):
            raise ValueError(
                f"sql_conn_id: connection {self.sql_conn_id!r} (type {conn.conn_type!r}) has no SQL hook; "
                "use a SQL connection type such as sqlite or postgres"
            )
        return hook.get_sqlalchemy_engine()

    def _writer(self, context: Any) -> tuple[SqlReportWriter | FileReportWriter, str]:
        from airflow_provider_nextsign.reporting.warehouse import FileReportWriter, SqlReportWriter

        writer: SqlReportWriter | FileReportWriter
        run_id = str(context.get("run_id") or "manual") if hasattr(context, "get") else "manual"
        if self.sql_conn_id:
            # Unique per attempt: a cleared and re-run task must not count the earlier attempt's listing.
            token = f"{run_id}@{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
            writer = SqlReportWriter(
                self._sql_engine(), table_prefix=self.table_prefix, schema=self.schema or None, run_id=token
            )
            writer.create_tables()
            return writer, f"sql:{self.sql_conn_id}"
        writer = FileReportWriter(self.destination, fmt=self.format, run_id=run_id)
        return writer, str(self.destination)

    def execute(self, context: Any) -> dict[str, Any]:
        """Run the report and return a JSON-safe summary (counts, requests, seconds)."""
        self._check()
        from airflow_provider_nextsign.hooks.nextsign import NextSignHook
        from airflow_provider_nextsign.reporting.frames import iter_case_frames
        from airflow_provider_nextsign.reporting.progress import ReportProgress
        from airflow_provider_nextsign.reporting.warehouse import SqlReportWriter, WriteResult

        writer, where = self._writer(context)
        try:
            client = NextSignHook(nextsign_conn_id=self.nextsign_conn_id).get_conn()
            unfiltered = not self.status and not self.folder
            progress = ReportProgress.for_client(
                client,
                # The state knows every case, so it only predicts the size of an unfiltered report.
                expected_cases=(writer.known_count() or None) if unfiltered else None,
                interval=self.progress_interval,
                logger=self.log,
            )
            totals = WriteResult()
            for frames in iter_case_frames(
                client,
                status=self.status or None,
                folder=self.folder or None,
                chunk_size=self.chunk_size,
                skip=writer.unchanged_ids if self.incremental else None,
                progress=progress,
            ):
                totals += writer.write(frames)
            writer.finish()
            if self.mark_deleted and unfiltered and isinstance(writer, SqlReportWriter):
                if progress.cases_listed:
                    totals.deleted += writer.mark_unlisted_deleted()
                else:
                    self.log.warning("Case List returned no cases; not marking the stored cases as deleted")
        finally:
            writer.close()
        progress.maybe_log(force=True)
        summary = {
            "destination": where,
            "incremental": bool(self.incremental),
            **progress.summary(),
            "inserted": totals.inserted,
            "updated": totals.updated,
            "rows_unchanged": totals.unchanged,
            "deleted": totals.deleted,
        }
        self.log.info("NextSign case report done: %s", summary)
        return summary
