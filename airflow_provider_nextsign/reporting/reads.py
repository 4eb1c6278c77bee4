"""Reading the full bodies of cases for the report, with what it cost and which ones are surely gone.

Case Get Multiple items may be summaries (the documented shape, nextsign-api.md §0 P10) or full cases,
so the report reads through the waiting core (:class:`~airflow_provider_nextsign.api.watch.CaseWatch`):
Get Multiple in batches, then Case Get for each summary item and for each id Get Multiple did not
show; when the connection's ``api_profile`` says Get Multiple answers summaries, Case Get for each id
at once. Only Case Get's documented not-found answer makes a case *absent*; any other failed read raises,
because it says nothing about whether the case exists. The requests are counted per kind, so the
progress log can say what a chunk cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DetailRead", "read_details"]


@dataclass
class DetailRead:
    """The outcome of reading some cases in full.

    :param bodies: the full case bodies, in the order asked.
    :param absent: ids NextSign confirmed do not exist (Case Get: ``{"message": "Case not found"}``).
    :param multiple_requests: Case Get Multiple requests made.
    :param case_gets: Case Get requests made (one per summary item or id Get Multiple did not show).
    """

    bodies: list[dict[str, Any]] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    multiple_requests: int = 0
    case_gets: int = 0


class _CountingReads:
    """The two reads :func:`~airflow_provider_nextsign.api.watch.drive` makes, counted per kind."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.multiple_requests = 0
        self.case_gets = 0

    def get_cases(self, case_ids: list[str]) -> list[dict[str, Any]]:
        self.multiple_requests += 1  # the watch asks one batch of the client's batch size at a time
        return list(self._client.get_cases(case_ids))

    def get_case(self, case_id: str) -> dict[str, Any]:
        self.case_gets += 1
        return dict(self._client.get_case(case_id))


def read_details(client: Any, case_ids: Sequence[str]) -> DetailRead:
    """Read ``case_ids`` in full through ``client`` (``get_cases`` and ``get_case``).

    :raises NextSignError: a read failed other than with NextSign's documented not-found answer.
    """
    from airflow_provider_nextsign.api.cases import CaseState
    from airflow_provider_nextsign.api.watch import BATCH_SIZE, read_in_full

    ids = list(dict.fromkeys(str(i) for i in case_ids))
    if not ids:
        return DetailRead()
    reads = _CountingReads(client)
    batch = int(getattr(client, "batch_size", None) or BATCH_SIZE)
    profile = getattr(client, "api_profile", None)  # a fake client in tests may have none
    # No grace window: the report asks about cases Case List already showed, so a case that Get
    # Multiple does not show is asked of Case Get at once.
    observations = read_in_full(
        ids,
        reads,
        batch_size=batch,
        in_grace=lambda _: False,
        get_multiple=not (profile is not None and profile.skips_get_multiple),
    )
    bodies = [seen.case for case_id in ids if (seen := observations[case_id]).case is not None]
    absent = [
        case_id
        for case_id in ids
        if observations[case_id].case is None and observations[case_id].state == CaseState.DELETED.value
    ]
    return DetailRead(bodies, absent, reads.multiple_requests, reads.case_gets)
