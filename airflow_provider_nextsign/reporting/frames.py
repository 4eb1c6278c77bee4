"""Flatten NextSign case bodies into the report tables, chunk by chunk.

:func:`flatten_case` turns one Case Get body into plain row dicts (no pandas); :func:`to_frames` turns
rows into DataFrames with the declared dtypes of :mod:`.schema`; :func:`iter_case_frames` pages through
Case List, reads the cases in full (:func:`~.reads.read_details`: batched Get Multiple, plus Case Get
for summary items) and yields bounded :class:`CaseFrames` chunks, so a report over any number of cases
holds at most ``chunk_size`` cases in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.reporting.schema import (
    BOOL,
    CASES,
    DOCUMENTS,
    INT,
    RECIPIENTS,
    SCHEMA_VERSION,
    STRING,
    TIMESTAMP,
    Table,
)

if TYPE_CHECKING:
    import pandas as pd

    from airflow_provider_nextsign.reporting.progress import ReportProgress

log = logging.getLogger(__name__)

#: Values Case List accepts for its ``status`` filter (nextsign-api.md §3.4).
LIST_STATUSES = ("signed", "denied", "pending")

#: Given a chunk of Case List items, return the ids whose details need no fetch (incremental runs).
SkipPredicate = Callable[[Sequence[Mapping[str, Any]]], "set[str]"]

Row = dict[str, Any]


@dataclass
class CaseRows:
    """The flattened rows of one case: its ``cases`` row, its recipients and its documents."""

    case: Row
    recipients: list[Row]
    documents: list[Row]


@dataclass
class CaseFrames:
    """One chunk of the report: DataFrames of the fetched cases, plus what happened to the rest."""

    cases: pd.DataFrame
    recipients: pd.DataFrame
    documents: pd.DataFrame
    #: ``{case_id: updatedAt}`` as Case List showed it, for every case fetched in this chunk.
    listed_updated_at: dict[str, str] = field(default_factory=dict)
    #: Case List items in this chunk (after removing duplicates).
    listed: int = 0
    #: Their ids, in list order.
    listed_ids: list[str] = field(default_factory=list)
    #: Cases skipped because they had not changed since the last run.
    skipped: int = 0
    #: Ids listed, then confirmed deleted by Case Get's documented not-found answer (deleted in between).
    deleted: list[str] = field(default_factory=list)
    #: Requests the detail read made: Case Get Multiple batches and Case Gets (summaries, missing ids).
    multiple_requests: int = 0
    case_gets: int = 0
    #: Timestamps that were not ISO 8601 and are stored as null.
    unparseable_timestamps: int = 0

    @property
    def case_ids(self) -> list[str]:
        """Ids of the cases in :attr:`cases`."""
        return [str(v) for v in self.cases["case_id"].tolist()]


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _bool(value: Any, default: bool | None = None) -> bool | None:
    """``True``/``False`` from a JSON bool, number or text ("false", "0", "no" are False)."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        return default
    return bool(value)


def parse_timestamp(value: Any) -> datetime | None:
    """Parse an ISO 8601 time (``Z`` allowed) to an aware UTC datetime; None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _signed_at(recipients: list[Row]) -> str | None:
    """The latest signing time among signers (as given), or None if any signer has none."""
    times = [(parse_timestamp(r["signed_at"]), r["signed_at"]) for r in recipients if r["signing"]]
    if not times or any(parsed is None for parsed, _ in times):
        return None
    return max(times, key=lambda pair: pair[0])[1]  # type: ignore[arg-type, return-value]


def _documents(case: Mapping[str, Any]) -> list[Row]:
    """Documents, each matched to its signed PDF, then the signed PDFs that match no document.

    A signed PDF matches the document of the same name. The rest are matched in order: to the
    unmatched sign-obligated documents (production: only those get a signed copy, nextsign-api.md §0
    P4), or, when no document says whether it is sign-obligated, to the unmatched documents if there
    are as many of them as unmatched PDFs.
    """
    from airflow_provider_nextsign.api.cases import signed_documents

    docs = [d for d in case.get("documents") or [] if isinstance(d, Mapping)]
    signed = signed_documents(case)
    obligated = [_bool(d.get("sign_obligated", d.get("signObligated"))) for d in docs]
    match: dict[int, int] = {}  # document index -> signed PDF index
    free = list(range(len(signed)))
    for i, doc in enumerate(docs):
        name = _text(doc.get("name"))
        k = next((k for k in free if signed[k]["name"] == name), None) if name is not None else None
        if k is not None:
            match[i] = k
            free.remove(k)
    unmatched = [i for i in range(len(docs)) if i not in match]
    if any(flag is not None for flag in obligated):
        pool = [i for i in unmatched if obligated[i]]
    else:
        pool = unmatched if len(unmatched) == len(free) else []
    for i, k in zip(pool, list(free), strict=False):
        match[i] = k
        free.remove(k)
    rows: list[Row] = []
    for i, doc in enumerate(docs):
        pdf = signed[match[i]] if i in match else None
        rows.append(
            {
                "case_id": None,
                "position": i,
                "name": _text(doc.get("name")),
                "document_id": _text(doc.get("document_id") or doc.get("_id")),
                "sign_obligated": obligated[i],
                "signed": pdf is not None,
                "file_url": pdf["file"] if pdf else None,
            }
        )
    for j, k in enumerate(free):
        rows.append(
            {
                "case_id": None,
                "position": len(docs) + j,
                "name": signed[k]["name"],
                "document_id": None,
                "sign_obligated": None,
                "signed": True,
                "file_url": signed[k]["file"],
            }
        )
    return rows


def flatten_case(case: Mapping[str, Any]) -> CaseRows:
    """Flatten one Case Get body into its rows of ``cases``, ``recipients`` and ``documents``."""
    from airflow_provider_nextsign.api.cases import case_state

    case_id = _text(case.get("_id"))
    if case_id is None:
        raise ValueError("case body without '_id': pass Case Get / Get Multiple bodies, not list items")
    recipients: list[Row] = []
    for i, rec in enumerate(r for r in case.get("recipients") or [] if isinstance(r, Mapping)):
        recipients.append(
            {
                "case_id": case_id,
                "position": i,
                "name": _text(rec.get("name")),
                "email": _text(rec.get("email")),
                "signing_order": _int(rec.get("order")),
                "recipient_group": _int(rec.get("group")),
                "signing": _bool(rec.get("signing"), default=True),
                "needs_cpr": _bool(rec.get("needsCpr")),
                "status": _text(rec.get("signed")) or "pending",
                "signed_at": _text(rec.get("signedDateAndTime")),
            }
        )
    documents = _documents(case)
    for doc in documents:
        doc["case_id"] = case_id
    state = case_state(case)
    signers = [r for r in recipients if r["signing"]]
    availability = ((case.get("settings") or {}).get("availability")) or {}
    row: Row = {
        "case_id": case_id,
        "nextsign_key": _text(case.get("nextSignKey")),
        "reference_id": _text(case.get("referenceId")),
        "title": _text(case.get("title")),
        "folder": _text(case.get("folder")),
        "case_type": _text(case.get("type")),
        "state": state.value,
        "is_expired": _bool(availability.get("isExpired")),
        "owner_name": _text(case.get("user_name")),
        "owner_email": _text(case.get("user_email")),
        "created_at": _text(case.get("createdAt")),
        "updated_at": _text(case.get("updatedAt")),
        "signed_at": _signed_at(recipients) if state.value == "signed" else None,
        "recipient_count": len(recipients),
        "signer_count": len(signers),
        "signed_count": sum(1 for r in signers if r["status"] == "signed"),
        "document_count": sum(1 for d in case.get("documents") or [] if isinstance(d, Mapping)),
        "signed_document_count": sum(1 for d in documents if d["signed"]),
        "is_deleted": False,
        "deleted_at": None,
    }
    digest = hashlib.sha256(
        json.dumps([SCHEMA_VERSION, row, recipients, documents], sort_keys=True, default=str).encode()
    )
    row["row_hash"] = digest.hexdigest()[:32]
    return CaseRows(row, recipients, documents)


class TimestampIssues:
    """Counts the timestamps that were not ISO 8601 (stored as null), with an example of each column."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: dict[str, str] = {}

    def add(self, column: str, count: int, example: Any) -> None:
        """Record ``count`` unparseable values of ``column``."""
        self.count += count
        self.examples.setdefault(column, repr(example)[:60])


def _timestamps(values: pd.Series, column: str, issues: TimestampIssues | None) -> pd.Series:
    import pandas as pd

    texts = values.astype(object).map(lambda v: v if isinstance(v, str) and v else None)
    parsed = pd.to_datetime(texts, utc=True, format="ISO8601", errors="coerce").astype(TIMESTAMP)
    bad = values.notna() & parsed.isna()
    if issues is not None and bool(bad.any()):
        issues.add(column, int(bad.sum()), values[bad].iloc[0])
    return parsed


def to_frame(table: Table, rows: Iterable[Row], *, issues: TimestampIssues | None = None) -> pd.DataFrame:
    """Build a DataFrame of ``table`` from row dicts, with the declared dtype on every column.

    A timestamp that is not ISO 8601 becomes null; ``issues`` (if given) counts them.
    """
    import pandas as pd

    frame = pd.DataFrame.from_records(list(rows), columns=table.column_names)
    for column in table.columns:
        values = frame[column.name]
        if column.dtype == TIMESTAMP:
            frame[column.name] = _timestamps(values, f"{table.name}.{column.name}", issues)
        elif column.dtype in (STRING, INT, BOOL):
            frame[column.name] = values.astype(object).where(values.notna(), None).astype(column.dtype)
        else:  # pragma: no cover - schema only uses the dtypes above
            raise TypeError(f"unsupported dtype {column.dtype} for {table.name}.{column.name}")
    return frame


def to_frames(
    cases: Iterable[Mapping[str, Any]], *, issues: TimestampIssues | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Flatten case bodies into ``(cases, recipients, documents)`` DataFrames with declared dtypes."""
    case_rows: list[Row] = []
    recipient_rows: list[Row] = []
    document_rows: list[Row] = []
    for body in cases:
        rows = flatten_case(body)
        case_rows.append(rows.case)
        recipient_rows += rows.recipients
        document_rows += rows.documents
    return (
        to_frame(CASES, case_rows, issues=issues),
        to_frame(RECIPIENTS, recipient_rows, issues=issues),
        to_frame(DOCUMENTS, document_rows, issues=issues),
    )


def check_list_status(status: str | None) -> None:
    """Fail before any request when ``status`` is not a Case List filter value."""
    if status is not None and status not in LIST_STATUSES:
        raise ValueError(
            f"status: {status!r} is not a Case List filter; use one of {', '.join(LIST_STATUSES)} or None "
            "(the derived states in_progress/expired are columns of the report, not filters)"
        )


def _client_of(source: Any) -> Any:
    """A hook gives its client through ``get_conn()``; a client is used as is."""
    get_conn = getattr(source, "get_conn", None)
    return get_conn() if callable(get_conn) else source


def iter_case_frames(
    source: Any,
    *,
    status: str | None = None,
    folder: str | None = None,
    chunk_size: int = 500,
    page_size: int = 100,
    skip: SkipPredicate | None = None,
    progress: ReportProgress | None = None,
) -> Iterator[CaseFrames]:
    """Page through Case List and yield the report in chunks of at most ``chunk_size`` listed cases.

    ``source`` is a :class:`~airflow_provider_nextsign.hooks.nextsign.NextSignHook` or a client. For each
    chunk of list items, ``skip`` (if given) names the ids whose details are not fetched (incremental
    runs); the rest are read in full (:func:`~.reads.read_details`) and flattened. Cases that Case Get
    confirmed deleted between the list and the read are in :attr:`CaseFrames.deleted`.

    :raises NextSignIncompleteListingError: Case List could not be read completely.
    :raises NextSignError: a read failed (never taken as "deleted").
    """
    check_list_status(status)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive integer, got {chunk_size!r}")
    client = _client_of(source)
    buffer: dict[str, Mapping[str, Any]] = {}
    for item in client.list_cases(status=status, folder=folder, page_size=page_size):
        case_id = _text(item.get("_id"))
        if case_id is None:
            continue
        if progress is not None:
            progress.listed(1)
        buffer[case_id] = item
        if len(buffer) >= chunk_size:
            yield _fetch_chunk(client, list(buffer.values()), skip, progress)
            buffer = {}
    if buffer:
        yield _fetch_chunk(client, list(buffer.values()), skip, progress)


def frames_of(
    bodies: Sequence[Mapping[str, Any]],
    *,
    listed_updated_at: Mapping[str, str] | None = None,
    logger: logging.Logger | None = None,
) -> CaseFrames:
    """A :class:`CaseFrames` of full ``bodies``; unparseable timestamps are counted and warned about."""
    issues = TimestampIssues()
    cases, recipients, documents = to_frames(bodies, issues=issues)
    if issues.count:
        (logger or log).warning(
            "%d timestamp(s) of NextSign cases are not ISO 8601 and are stored as null (%s)",
            issues.count,
            ", ".join(f"{column} e.g. {example}" for column, example in issues.examples.items()),
        )
    fetched = {str(b["_id"]) for b in bodies}
    listed = listed_updated_at or {}
    return CaseFrames(
        cases,
        recipients,
        documents,
        listed_updated_at={i: str(listed.get(i) or "") for i in fetched},
        unparseable_timestamps=issues.count,
    )


def _fetch_chunk(
    client: Any,
    items: list[Mapping[str, Any]],
    skip: SkipPredicate | None,
    progress: ReportProgress | None,
) -> CaseFrames:
    from airflow_provider_nextsign.reporting.reads import read_details

    skipped = skip(items) if skip is not None else set()
    wanted = {str(i["_id"]): str(i.get("updatedAt") or "") for i in items if str(i["_id"]) not in skipped}
    read = read_details(client, list(wanted))
    logger = progress.log if progress is not None else log
    frames = frames_of(read.bodies, listed_updated_at=wanted, logger=logger)
    frames.listed = len(items)
    frames.listed_ids = [str(i["_id"]) for i in items]
    frames.skipped = len(items) - len(wanted)
    frames.deleted = read.absent
    frames.multiple_requests, frames.case_gets = read.multiple_requests, read.case_gets
    if read.absent:
        warn_ids(
            logger,
            "{count} listed case(s) were deleted before their details were read (Case Get: 'Case not "
            "found'); they are marked deleted",
            read.absent,
        )
    if progress is not None:
        progress.chunk_done(
            fetched=len(frames.cases),
            skipped=frames.skipped,
            missing=len(frames.deleted),
            multiple_requests=frames.multiple_requests,
            case_gets=frames.case_gets,
            detail_ids=len(wanted),
        )
    return frames


def warn_ids(
    logger: Any, message: str, ids: Sequence[str], *, total: int | None = None, shown: int = 10
) -> None:
    """Log ``message`` at WARNING (``{count}``: ``total``, default ``len(ids)``) and up to ``shown`` ids."""
    count = len(ids) if total is None else total
    more = f" and {count - min(shown, len(ids))} more" if count > min(shown, len(ids)) else ""
    logger.warning("%s: %s%s", message.format(count=count), ", ".join(ids[:shown]), more)
