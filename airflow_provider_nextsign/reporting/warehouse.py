"""Writers of the report: a SQL warehouse (upsert on the case id) and files (Parquet or CSV).

Both take :class:`~.frames.CaseFrames` chunks and keep the per-case state an incremental run and the
delete sweep need (the ``updatedAt`` Case List showed when the case was last fetched, when it was
fetched, when Case List last showed it):

* SQL (:mod:`.sql`): in the table ``{prefix}report_state``, written in the same transaction as the
  chunk's rows; the schema version in ``{prefix}report_meta`` (:mod:`.migrate`);
* files (:mod:`.files`): in ``_nextsign_report_state.json`` beside the table folders, written after
  the last chunk.

This module gathers their public names.
"""

from __future__ import annotations

from airflow_provider_nextsign.reporting.common import SkipPolicy, StoredCase, WriteResult
from airflow_provider_nextsign.reporting.files import (
    CSV_ENCODINGS,
    FORMATS,
    STATE_FILE,
    FileReportWriter,
    read_file_report,
)
from airflow_provider_nextsign.reporting.sql import SqlReportWriter

__all__ = [
    "CSV_ENCODINGS",
    "FORMATS",
    "STATE_FILE",
    "FileReportWriter",
    "SkipPolicy",
    "SqlReportWriter",
    "StoredCase",
    "WriteResult",
    "read_file_report",
]
