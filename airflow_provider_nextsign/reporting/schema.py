"""The declared, stable schema of the case report tables.

Three tables, each described once here and used by the flattener (pandas dtypes), the SQL writer
(SQLAlchemy column types) and the docs:

* ``cases``       one row per case, keyed on ``case_id``;
* ``recipients``  one row per recipient, keyed on ``(case_id, position)``;
* ``documents``   one row per document, keyed on ``(case_id, position)``.

This module imports neither pandas nor SQLAlchemy, so reading it is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_nextsign.api.cases import CaseState

#: Bump when a column is added, removed or changes meaning. It is stored in every row hash and in the
#: warehouse (``{prefix}report_meta``, the file state), so a new version migrates the stored tables
#: (:mod:`.migrate`) and re-fetches every case instead of leaving old rows beside new ones.
#: 2: ``cases.is_deleted`` and ``deleted_at`` (deletion keeps ``state``), ``recipient_group`` an integer.
SCHEMA_VERSION = 2

# pandas dtypes (declared, never inferred per chunk).
STRING = "string"
INT = "Int64"
BOOL = "boolean"
#: Microseconds, not pandas' default nanoseconds: Parquet readers such as Spark and Hive reject
#: ``timestamp[ns]``, and NextSign's times carry milliseconds.
TIMESTAMP = "datetime64[us, UTC]"

#: Derived states that no longer change (a deleted case is flagged by ``is_deleted`` instead).
FINAL_STATES = tuple(s.value for s in CaseState if s.is_terminal and s is not CaseState.DELETED)
#: Derived states by the Case List ``status`` filter value that lists them.
STATES_BY_LIST_STATUS = {
    "signed": ("signed",),
    "denied": ("denied",),
    "pending": ("pending", "in_progress", "expired"),
}


@dataclass(frozen=True)
class Column:
    """One column: its name, pandas dtype, whether it is part of the key, and what it means."""

    name: str
    dtype: str
    doc: str
    key: bool = False


@dataclass(frozen=True)
class Table:
    """A report table: its name (before any prefix) and its ordered columns."""

    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        """Column names in declared order."""
        return [c.name for c in self.columns]

    @property
    def key(self) -> list[str]:
        """Names of the key columns."""
        return [c.name for c in self.columns if c.key]

    @property
    def dtypes(self) -> dict[str, str]:
        """``{column: pandas dtype}`` in declared order."""
        return {c.name: c.dtype for c in self.columns}


CASES = Table(
    "cases",
    (
        Column("case_id", STRING, "NextSign case `_id` (24 hex)", key=True),
        Column("nextsign_key", STRING, "human-readable case key (`nextSignKey`)"),
        Column("reference_id", STRING, "your `referenceId`"),
        Column("title", STRING, "case title"),
        Column("folder", STRING, "folder name"),
        Column("case_type", STRING, "case `type`, e.g. 'Simple sign'"),
        Column(
            "state",
            STRING,
            "derived state: pending, in_progress, signed, denied, expired (the last one seen, also after "
            "deletion)",
        ),
        Column("is_expired", BOOL, "`settings.availability.isExpired`"),
        Column("owner_name", STRING, "`user_name` of the case creator"),
        Column("owner_email", STRING, "`user_email` of the case creator"),
        Column("created_at", TIMESTAMP, "`createdAt` (UTC)"),
        Column("updated_at", TIMESTAMP, "`updatedAt` (UTC)"),
        Column("signed_at", TIMESTAMP, "when the last signer signed, for signed cases (UTC)"),
        Column("recipient_count", INT, "number of recipients"),
        Column("signer_count", INT, "recipients with `signing: true`"),
        Column("signed_count", INT, "signers whose status is `signed`"),
        Column("document_count", INT, "documents to sign or read"),
        Column("signed_document_count", INT, "signed PDFs available"),
        Column("is_deleted", BOOL, "NextSign confirmed the case deleted (Case Get: 'Case not found')"),
        Column("deleted_at", TIMESTAMP, "when the report confirmed the deletion (UTC)"),
        Column("row_hash", STRING, "hash of this case's rows in all three tables (change detection)"),
    ),
)

RECIPIENTS = Table(
    "recipients",
    (
        Column("case_id", STRING, "the case", key=True),
        Column("position", INT, "0-based position in the case's recipients list", key=True),
        Column("name", STRING, "recipient name"),
        Column("email", STRING, "recipient e-mail"),
        Column("signing_order", INT, "`order`"),
        Column("recipient_group", INT, "`group` (an integer)"),
        Column("signing", BOOL, "whether the recipient signs (else only reads)"),
        Column("needs_cpr", BOOL, "`needsCpr`"),
        Column("status", STRING, "per-recipient `signed`: pending, signed, denied, ..."),
        Column("signed_at", TIMESTAMP, "`signedDateAndTime` (UTC)"),
    ),
)

DOCUMENTS = Table(
    "documents",
    (
        Column("case_id", STRING, "the case", key=True),
        Column("position", INT, "0-based position (documents first, then unmatched signed PDFs)", key=True),
        Column("name", STRING, "document name"),
        Column("document_id", STRING, "`document_id`"),
        Column("sign_obligated", BOOL, "whether it must be signed (null for an unmatched signed PDF)"),
        Column("signed", BOOL, "whether a signed PDF exists for it"),
        Column("file_url", STRING, "storage URL of the signed PDF (pass to Document Retrieve)"),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (CASES, RECIPIENTS, DOCUMENTS)}

#: Columns that file parts carry after each table's own: which run wrote the row, and when.
FILE_COLUMNS = (
    Column("extracted_at", TIMESTAMP, "when the run fetched the case (UTC); the newest row of a case wins"),
    Column("run_id", STRING, "the Airflow run that wrote the row"),
)


def file_table(table: Table) -> Table:
    """``table`` with the :data:`FILE_COLUMNS` appended, as file parts hold it."""
    return Table(table.name, table.columns + FILE_COLUMNS)


def schema_markdown() -> str:
    """Markdown tables of every column (the docs are generated from this)."""
    lines: list[str] = []
    for table in TABLES.values():
        lines += [f"### `{table.name}`", "", "| column | dtype | key | meaning |", "|---|---|---|---|"]
        lines += [f"| `{c.name}` | {c.dtype} | {'yes' if c.key else ''} | {c.doc} |" for c in table.columns]
        lines.append("")
    lines += ["### file parts only", "", "| column | dtype | meaning |", "|---|---|---|"]
    lines += [f"| `{c.name}` | {c.dtype} | {c.doc} |" for c in FILE_COLUMNS]
    lines.append("")
    return "\n".join(lines)
