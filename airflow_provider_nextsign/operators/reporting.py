"""Case reporting: NextSign cases into a SQL warehouse or Parquet/CSV files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.operators.base import NextSignBaseOperator
from airflow_provider_nextsign.reporting.files import CSV_ENCODINGS, FORMATS
from airflow_provider_nextsign.reporting.frames import check_list_status

if TYPE_CHECKING:
    from airflow_provider_nextsign.reporting.common import ReportWriter


class NextSignCaseReportOperator(NextSignBaseOperator):
    """Load NextSign cases, their recipients and documents into a warehouse or files; return a summary.

    Pages through Case List (optionally filtered by ``status`` and ``folder``), reads each case in full
    (batched Case Get Multiple, plus one Case Get per case when Get Multiple answers summaries, the
    documented shape) and writes the tables ``cases``, ``recipients`` and ``documents`` (schema in
    ``docs/reporting.md``) chunk by chunk, so memory stays flat however many cases there are.

    Exactly one destination:

    * ``sql_conn_id``: any Airflow SQL connection (SQLite, PostgreSQL, ...); the tables are
      ``{table_prefix}cases`` etc. in ``schema``, upserted on the case id (a re-run changes nothing; a case
      whose content changed is updated and its recipients and documents replaced, in one transaction per
      chunk; a row is never replaced by an older one). The incremental state is the table
      ``{table_prefix}report_state``; the schema version lives in ``{table_prefix}report_meta`` and older
      tables are migrated.
    * ``destination``: a folder (local path, ``ObjectStoragePath`` or ``scheme://`` URL) receiving part
      files per table in ``format`` (``parquet`` or ``csv``); the state is ``_nextsign_report_state.json``
      in that folder.
    * ``sql_conn_id`` with ``stage``: for BigQuery and Snowflake (and PostgreSQL 15+), the chunks are
      staged as Parquet in ``stage`` and applied with one MERGE when the run finishes, through the
      connection's common.sql hook (see :mod:`~airflow_provider_nextsign.reporting.merge`).

    With ``incremental=True`` a listed case is skipped only when its row exists, its Case List
    ``updatedAt`` equals the one seen at its last fetch, it is signed, denied or expired (pending cases
    are read every run unless ``refetch_non_final=False``: NextSign may expire them without touching
    ``updatedAt``), and that fetch is younger than ``refetch_after``. ``full_refresh_every`` turns an
    incremental run into a full one when the last full run is older than that.

    After a complete listing, stored cases Case List did not show are read again: a case that still
    exists gets its rows refreshed (a filtered report learns this way that a case left the filter), and
    one Case Get answers "Case not found" for is marked deleted (``is_deleted``, ``deleted_at``; its
    rows and last ``state`` stay), unless ``mark_deleted=False``. An unfiltered report that finds more
    than ``delete_threshold`` of the known cases missing marks nothing and says so.

    The connection (``nextsign_conn_id``) and ``hook_params`` are those of
    :class:`~airflow_provider_nextsign.operators.base.NextSignBaseOperator`.

    :param status: Case List filter: ``signed``, ``denied`` or ``pending`` (default: all cases) (templated).
    :param folder: Case List folder filter (templated).
    :param sql_conn_id: Airflow connection of the SQL warehouse (templated).
    :param table_prefix: prefix of the SQL table names (default ``nextsign_``) (templated).
    :param schema: SQL schema of the tables (default: the connection's default) (templated).
    :param destination: folder for Parquet/CSV files instead of SQL (templated).
    :param format: ``parquet`` (default) or ``csv``, for ``destination`` (templated).
    :param stage: with ``sql_conn_id``: a folder to stage Parquet parts in, applied with one MERGE per run
        (BigQuery: a ``gs://`` URL; Snowflake: the location of ``stage_name``) (templated).
    :param stage_name: Snowflake: the stage over ``stage``, e.g. ``@nextsign_stage`` (templated).
    :param csv_encoding: ``utf-8`` (default) or ``utf-8-sig`` (a byte-order mark, for Excel).
    :param incremental: skip reading cases unchanged since the last run (see above).
    :param refetch_after: read every case at least this often (a ``timedelta`` or seconds; default 7
        days; None: only when Case List shows a change).
    :param refetch_non_final: read pending and in-progress cases on every incremental run (default).
    :param full_refresh_every: run in full (not incremental) when the last full unfiltered run is older
        than this (a ``timedelta`` or seconds; default None: only when ``incremental=False``).
    :param mark_deleted: mark cases Case Get confirms deleted (default True).
    :param delete_threshold: the largest share of known cases an unfiltered run may find missing and
        still mark deleted (default 0.05; at least one case).
    :param budget_share: the largest share of the NextSign request budget reports may use together
        (default 0.5), so the signing DAGs keep the rest; 1 lets a report use all of it.
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
        "stage",
        "stage_name",
    )
    ui_color = "#dbe9f6"

    def __init__(
        self,
        *,
        status: str | None = None,
        folder: str | None = None,
        sql_conn_id: str | None = None,
        table_prefix: str = "nextsign_",
        schema: str | None = None,
        destination: Any = None,
        format: str = "parquet",
        stage: Any = None,
        stage_name: str | None = None,
        csv_encoding: str = "utf-8",
        incremental: bool = False,
        refetch_after: timedelta | float | None = timedelta(days=7),
        refetch_non_final: bool = True,
        full_refresh_every: timedelta | float | None = None,
        mark_deleted: bool = True,
        delete_threshold: float = 0.05,
        budget_share: float = 0.5,
        chunk_size: int = 500,
        progress_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.status = status
        self.folder = folder
        self.sql_conn_id = sql_conn_id
        self.table_prefix = table_prefix
        self.schema = schema
        self.destination = destination
        self.format = format
        self.stage = stage
        self.stage_name = stage_name
        self.csv_encoding = csv_encoding
        self.incremental = incremental
        self.refetch_after = refetch_after
        self.refetch_non_final = refetch_non_final
        self.full_refresh_every = full_refresh_every
        self.mark_deleted = mark_deleted
        self.delete_threshold = delete_threshold
        self.budget_share = budget_share
        self.chunk_size = chunk_size
        self.progress_interval = progress_interval

    def _check(self) -> None:
        """Fail on bad arguments before any request or database connection."""
        if bool(self.sql_conn_id) == bool(self.destination):
            raise ValueError(
                "sql_conn_id / destination: give exactly one, a SQL connection id (warehouse tables) "
                "or a destination folder (Parquet/CSV files)"
            )
        if self.stage and not self.sql_conn_id:
            raise ValueError("stage: staging Parquet for a MERGE needs sql_conn_id, the warehouse connection")
        if self.destination and self.format not in FORMATS:
            raise ValueError(f"format: {self.format!r} is not supported; use 'parquet' or 'csv'")
        if self.csv_encoding not in CSV_ENCODINGS:
            raise ValueError(
                f"csv_encoding: {self.csv_encoding!r} is not supported; use 'utf-8' or 'utf-8-sig'"
            )
        check_list_status(self.status or None)
        if not isinstance(self.chunk_size, int) or isinstance(self.chunk_size, bool) or self.chunk_size < 1:
            raise ValueError(f"chunk_size: expected a positive integer, got {self.chunk_size!r}")
        _duration(self.refetch_after, "refetch_after")
        _duration(self.full_refresh_every, "full_refresh_every")
        for name in ("delete_threshold", "budget_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ValueError(f"{name}: expected a fraction in (0, 1], e.g. 0.05, got {value!r}")

    def _sql_hook(self) -> tuple[Any, Any]:
        """The warehouse connection and its common.sql hook; a clear error when it has none."""
        from airflow.providers.common.compat.sdk import BaseHook

        conn = BaseHook.get_connection(str(self.sql_conn_id))
        problem = "has no SQL hook"
        try:
            hook = conn.get_hook()
        except Exception as err:  # Airflow 2.11 raises for a connection type without a usable hook
            hook, problem = None, f"has no SQL hook ({err})"
        if not hasattr(hook, "get_sqlalchemy_engine"):
            raise ValueError(
                f"sql_conn_id: connection {self.sql_conn_id!r} (type {conn.conn_type!r}) {problem}; "
                "use a SQL connection type such as sqlite or postgres"
            )
        return conn, hook

    def _sql_engine(self) -> Any:
        return self._sql_hook()[1].get_sqlalchemy_engine()

    def _merge_writer(self, run_id: str) -> ReportWriter:
        from airflow_provider_nextsign.reporting.merge import (
            DIALECTS,
            MergeReportWriter,
            dialect_of_conn_type,
        )

        conn, hook = self._sql_hook()
        dialect = dialect_of_conn_type(str(conn.conn_type))
        if dialect is None:
            raise ValueError(
                f"sql_conn_id: a staged MERGE runs on {', '.join(DIALECTS)} connections; "
                f"{self.sql_conn_id!r} is {conn.conn_type!r} (drop stage= to upsert chunk by chunk)"
            )
        return MergeReportWriter(
            self.stage,
            hook=hook,
            dialect=dialect,
            table_prefix=self.table_prefix,
            schema=self.schema or None,
            stage_name=self.stage_name or None,
            run_id=run_id,
            logger=self.log,
        )

    def _writer(self, context: Any) -> tuple[ReportWriter, str]:
        """The writer of the destination and how the summary names it."""
        from airflow_provider_nextsign.reporting.files import FileReportWriter
        from airflow_provider_nextsign.reporting.sql import SqlReportWriter

        writer: ReportWriter
        run_id = str(context.get("run_id") or "manual") if hasattr(context, "get") else "manual"
        if self.stage:
            return self._merge_writer(run_id), f"merge:{self.sql_conn_id}"
        if self.sql_conn_id:
            writer = SqlReportWriter(
                self._sql_engine(), table_prefix=self.table_prefix, schema=self.schema or None, run_id=run_id
            )
            return writer, f"sql:{self.sql_conn_id}"
        writer = FileReportWriter(
            self.destination, fmt=self.format, run_id=run_id, encoding=self.csv_encoding, logger=self.log
        )
        return writer, str(self.destination)

    def _full_refresh_due(self, writer: ReportWriter, now: datetime, unfiltered: bool) -> bool:
        every = _duration(self.full_refresh_every, "full_refresh_every")
        if every is None or not unfiltered:
            return False
        last = writer.last_full_run_at()
        return last is None or now - last >= every

    def execute(self, context: Any) -> dict[str, Any]:
        """Run the report and return a JSON-safe summary (counts, requests, seconds)."""
        self._check()
        from airflow_provider_nextsign.reporting.budget import cap_report_share
        from airflow_provider_nextsign.reporting.common import SkipPolicy, WriteResult
        from airflow_provider_nextsign.reporting.frames import iter_case_frames
        from airflow_provider_nextsign.reporting.progress import ReportProgress
        from airflow_provider_nextsign.reporting.sweep import SweepResult, sweep_unlisted

        # Every case Case List shows from here on is stamped later than this; the sweep looks for
        # stored cases stamped earlier. Taken before the listing, so nothing listed counts as missing.
        run_start = datetime.now(UTC)
        status, folder = self.status or None, self.folder or None
        unfiltered = status is None and folder is None
        writer, where = self._writer(context)
        try:
            migrated = writer.create_tables()
            client = self.hook.get_conn()
            cap_report_share(client, float(self.budget_share))
            incremental = bool(self.incremental) and not self._full_refresh_due(writer, run_start, unfiltered)
            if self.incremental and not incremental:
                self.log.info(
                    "NextSign report: the last full run is older than full_refresh_every; running in full"
                )
            progress = ReportProgress.for_client(
                client,
                # The state knows every case, so it only predicts the size of an unfiltered report.
                expected_cases=(writer.known_count() or None) if unfiltered else None,
                interval=self.progress_interval,
                logger=self.log,
            )
            policy = SkipPolicy(_duration(self.refetch_after, "refetch_after"), bool(self.refetch_non_final))
            totals = WriteResult()
            timestamps = 0
            for frames in iter_case_frames(
                client,
                status=status,
                folder=folder,
                chunk_size=self.chunk_size,
                skip=(lambda items: writer.unchanged_ids(items, policy)) if incremental else None,
                progress=progress,
            ):
                totals += writer.write(frames)
                timestamps += frames.unparseable_timestamps
            # The walk was complete: an incomplete one (a repeated page, ...) raised before this line.
            swept = SweepResult()
            if unfiltered and not progress.cases_listed:
                self.log.warning("Case List returned no cases; not looking for deleted cases")
            else:
                swept = sweep_unlisted(
                    client,
                    writer,
                    since=run_start,
                    status=status,
                    folder=folder,
                    threshold=float(self.delete_threshold),
                    mark_deleted=bool(self.mark_deleted),
                    chunk_size=self.chunk_size,
                    progress=progress,
                    logger=self.log,
                )
                totals += swept.written
            if unfiltered and not incremental:
                writer.record_full_run(datetime.now(UTC))
            writer.finish()
        finally:
            writer.close()
        progress.maybe_log(force=True)
        summary = {
            "destination": where,
            "incremental": incremental,
            **progress.summary(),
            "inserted": totals.inserted,
            "updated": totals.updated,
            "rows_unchanged": totals.unchanged,
            "rows_older_not_written": totals.stale,
            "deleted": totals.deleted,
            **swept.summary(),
            "unparseable_timestamps": timestamps,
            "migrated": list(migrated),
        }
        self.log.info("NextSign case report done: %s", summary)
        return summary


def _duration(value: Any, name: str) -> timedelta | None:
    """A ``timedelta`` from a ``timedelta`` or a number of seconds (None stays None)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{name}: expected a timedelta or a number of seconds, got {value!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name}: expected a positive duration, got {value!r}")
    return timedelta(seconds=seconds)
