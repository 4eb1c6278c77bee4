"""After a complete Case List walk: find the stored cases the walk did not show and learn what became
of each, without ever taking doubt for a deletion.

NextSign deletes cases (on request or by its auto-delete setting) without a trace in Case List, so a
stored case the list no longer shows *may* be gone. It may also have been missed (pages shift when a
case is deleted mid-walk), or, in a filtered report, it may simply have left the filter (a pending case
that was signed). So:

* candidates are the stored, not deleted cases whose ``last_listed_at`` is older than the run's start
  (a timestamp, not a run token: a concurrent report of one folder only moves its cases' stamps
  forward, so it never makes them candidates of another run); in a filtered report only the
  non-final cases of that filter's scope;
* an unfiltered sweep with more candidates than ``threshold`` of the known cases (default 5%, at least
  one) is aborted before any request: a listing that lost that much is likelier broken than true;
* every candidate is read again (:func:`~.reads.read_details`): a case that still exists gets its rows
  refreshed; only Case Get's documented not-found answer marks one deleted; any other error raises,
  and nothing more is marked.

The candidates are found with ``NOT EXISTS`` (a linear anti-join), never ``NOT IN (subquery)``, which
PostgreSQL runs in quadratic time on large tables.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.reporting.common import ReportWriter, WriteResult
from airflow_provider_nextsign.reporting.frames import frames_of, warn_ids
from airflow_provider_nextsign.reporting.reads import read_details

if TYPE_CHECKING:
    from airflow_provider_nextsign.reporting.progress import ReportProgress

__all__ = ["DEFAULT_DELETE_THRESHOLD", "SweepResult", "allowed_deletions", "sweep_unlisted"]

log = logging.getLogger(__name__)

#: The largest share of the known cases one sweep may find missing before it is aborted.
DEFAULT_DELETE_THRESHOLD = 0.05


@dataclass
class SweepResult:
    """What a sweep found and did."""

    #: Stored cases in scope that Case List did not show.
    candidates: int = 0
    #: True when the sweep stopped without marking anything (too many candidates or deletions).
    aborted: bool = False
    #: Candidates that still exist (their rows were refreshed).
    still_there: int = 0
    #: Candidates Case Get confirmed deleted.
    confirmed_deleted: list[str] = field(default_factory=list)
    #: What writing the re-read cases and marking the deleted ones changed.
    written: WriteResult = field(default_factory=WriteResult)

    def summary(self) -> dict[str, Any]:
        """JSON-safe counters."""
        return {
            "sweep_candidates": self.candidates,
            "sweep_aborted": self.aborted,
            "sweep_still_there": self.still_there,
        }


def allowed_deletions(known: int, threshold: float) -> int:
    """How many cases one sweep may mark deleted out of ``known``: ``threshold`` of them, at least one."""
    return max(1, math.floor(threshold * known))


def sweep_unlisted(
    client: Any,
    writer: ReportWriter,
    *,
    since: datetime,
    status: str | None = None,
    folder: str | None = None,
    threshold: float = DEFAULT_DELETE_THRESHOLD,
    mark_deleted: bool = True,
    chunk_size: int = 500,
    progress: ReportProgress | None = None,
    logger: Any = None,
) -> SweepResult:
    """Re-read the stored cases in scope that Case List did not show since ``since``; mark the ones
    NextSign confirms deleted (unless ``mark_deleted`` is False). Call only after a complete walk.

    ``writer`` is any :class:`~.common.ReportWriter`.
    """
    logger = logger or (progress.log if progress is not None else log)
    unfiltered = status is None and folder is None
    non_final_only = not unfiltered
    result = SweepResult(
        candidates=writer.count_unlisted(since, status=status, folder=folder, non_final_only=non_final_only)
    )
    if not result.candidates:
        return result
    known = writer.known_count()
    allowed = allowed_deletions(known, threshold)
    if unfiltered:
        sample = writer.unlisted_ids(since, limit=10)
        warn_ids(
            logger,
            "{count} stored case(s) are missing from this run's complete Case List",
            sample,
            total=result.candidates,
        )
        if result.candidates > allowed:
            result.aborted = True
            logger.warning(
                "NextSign report: %d missing case(s) is more than delete_threshold=%.3g of the %d known "
                "(at most %d); the sweep is aborted and no case is marked deleted. If NextSign really "
                "deleted them, run once with a higher delete_threshold.",
                result.candidates,
                threshold,
                known,
                allowed,
            )
            return result
    ids = writer.unlisted_ids(since, status=status, folder=folder, non_final_only=non_final_only)
    for start in range(0, len(ids), chunk_size):
        batch = ids[start : start + chunk_size]
        read = read_details(client, batch)
        if progress is not None:
            progress.details_read(read.multiple_requests, read.case_gets, cases=len(batch), what="sweep")
        if read.bodies:
            result.written += writer.write(frames_of(read.bodies, logger=logger))
        result.still_there += len(read.bodies)
        result.confirmed_deleted += read.absent
    if unfiltered and result.still_there:
        logger.warning(
            "NextSign report: %d case(s) missing from Case List still exist (the list missed them, e.g. "
            "its pages shifted); their rows were refreshed, none is marked deleted",
            result.still_there,
        )
    gone = result.confirmed_deleted
    if not gone or not mark_deleted:
        return result
    if len(gone) > allowed:
        result.aborted = True
        warn_ids(
            logger,
            f"{{count}} case(s) are confirmed deleted, more than delete_threshold={threshold:.3g} allows "
            f"({allowed}); none is marked deleted. If NextSign really deleted them, run once with a higher "
            "delete_threshold",
            gone,
        )
        return result
    result.written.deleted += writer.mark_deleted(gone)
    warn_ids(
        logger, "{count} case(s) confirmed deleted by Case Get ('Case not found') are marked deleted", gone
    )
    return result
