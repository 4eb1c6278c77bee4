"""Deleting what the probe created: at the end of every run, and what earlier runs left behind.

- **This run's cases** (:func:`clean_up`): Case Delete, then Case Get to see it gone (the probe's checks
  of ``delete-answer`` and ``case-after-delete``). A case that is not readable yet (production saw new
  cases missing for seconds, §0 P8) answers not-found to the delete as well, so an unseen case is asked
  again at 1, 2, 4 and 8 s.
- **Earlier runs' cases** (:func:`sweep`, first thing of every run): the ledger files of runs that are
  gone (killed, crashed) name their cases; an entry without an id (killed between sending the create
  and reading its answer) is looked up by its referenceId. One Case List page also catches marked cases
  older than :data:`LIST_SWEEP_AGE` that no ledger here knows (a probe run on another machine).

An entry stays in the ledger until its case is surely gone, so a later run tries again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from airflow_provider_nextsign.api.classify import confirms_absence
from airflow_provider_nextsign.api.errors import (
    NextSignAuthError,
    NextSignConnectionError,
    NextSignNotFoundError,
    NextSignValidationError,
)
from airflow_provider_nextsign.api.lookup import created_at
from airflow_provider_nextsign.probe.assumptions import Verdict
from airflow_provider_nextsign.probe.checks import (
    VISIBILITY_SCHEDULE,
    judge_failed,
    judge_not_found,
    list_items_label,
)
from airflow_provider_nextsign.probe.context import Call, ProbeContext
from airflow_provider_nextsign.probe.document import MARKER, is_probe_case
from airflow_provider_nextsign.probe.ledger import Entry

__all__ = ["LIST_SWEEP_AGE", "ProbeAborted", "clean_up", "sweep"]

#: Seconds after its create at which a case still not readable is surely not coming any more.
SETTLED_AFTER = 600.0
#: A marked case in Case List older than this, unknown to every ledger here, is a leftover.
LIST_SWEEP_AGE = 900.0
#: Seconds after the first attempt at which a delete of a not-yet-readable case is repeated: the
#: schedule on which Case Get waits for a new case to become readable, for the same reason (P8).
DELETE_SCHEDULE = VISIBILITY_SCHEDULE


class ProbeAborted(Exception):
    """The connection does not work at all (key, company or host): nothing else is worth asking."""


def sweep(ctx: ProbeContext) -> None:
    """Delete what earlier probe runs left; first, one Case List page tells whether the connection works."""
    listing = ctx.call(
        "sweep_list",
        "Case List",
        lambda: ctx.client.list_cases_page(status="pending", page_size=100, index=0),
        items=list_items_label,
    )
    _abort_on(listing)
    known: set[str] = set()
    for path, entries in list(ctx.ledger.others()):
        kept = []
        for entry in entries:
            if entry.case_id:
                known.add(entry.case_id)
            if _remove(ctx, entry, check_names=("sweep_delete", "sweep_find")):
                ctx.swept += 1
            else:
                kept.append(entry)
        ctx.ledger.rewrite(path, kept)
    if listing.ok:
        _sweep_listed(ctx, listing.value, known)


def _abort_on(call: Call) -> None:
    err = call.error
    if isinstance(err, NextSignAuthError):
        raise ProbeAborted(
            "NextSign refused the connection's API key. Check the password field; keys belong to one "
            "environment, so a production key does not work on https://test.nextsign.dk."
        )
    if isinstance(err, (NextSignNotFoundError, NextSignValidationError)):
        raise ProbeAborted("NextSign does not accept the connection's company ID (login field).")
    if isinstance(err, NextSignConnectionError):
        raise ProbeAborted("NextSign could not be reached at the connection's host.")


def _sweep_listed(ctx: ProbeContext, items: Sequence[dict[str, Any]], known: set[str]) -> None:
    """Delete marked cases of the listed page that are old and unknown to the ledgers here."""
    own = {entry.case_id for entry in ctx.probe_cases}
    cutoff = datetime.now(UTC).timestamp() - LIST_SWEEP_AGE
    for item in items:
        case_id = item.get("_id")
        if not isinstance(case_id, str) or case_id in known or case_id in own or not is_probe_case(item):
            continue
        moment = created_at(item)
        if moment is None or moment.timestamp() > cutoff:
            continue  # maybe a probe running right now elsewhere
        if "referenceId" not in item:
            confirm = ctx.call("sweep_confirm", "Case Get", partial(ctx.client.get_case, case_id))
            reference = confirm.value.get("referenceId") if confirm.ok and confirm.value else None
            if not (isinstance(reference, str) and reference.startswith(MARKER)):
                continue
        entry = Entry(str(item.get("title")), moment.timestamp(), case_id, seen=True)
        if _remove(ctx, entry, check_names=("sweep_delete", "sweep_find")):
            ctx.swept += 1


def clean_up(ctx: ProbeContext) -> None:
    """Delete this run's cases (Case Delete, then Case Get), and record what happened in the report."""
    created = deleted = 0
    left: list[str] = []
    for entry in list(ctx.probe_cases):
        created += 1
        if _remove(ctx, entry, check_names=("case_delete", "find_by_reference"), judge=True):
            deleted += 1
            ctx.ledger.discard(entry)
        else:
            left.append(ctx.redactor.id_token(entry.case_id) if entry.case_id else "an unanswered create")
    if not ctx.probe_cases:
        ctx.skip("the probe created no case", "delete-answer", "case-after-delete")
    ctx.report.cleanup = {
        "created": created,
        "deleted": deleted,
        "left": left,
        "swept": ctx.swept,
        "ledger": "state file" if ctx.ledger.path is not None else f"memory only ({ctx.ledger.problem})",
    }


def _remove(ctx: ProbeContext, entry: Entry, *, check_names: tuple[str, str], judge: bool = False) -> bool:
    """Delete the case of ``entry``; True when it is surely gone (then the ledger may forget it)."""
    delete_name, find_name = check_names
    if entry.case_id is None:
        found = _find(ctx, entry, find_name)
        if found is None:
            return False  # the lookup failed: whether the create landed is unknown
        if not found:
            return _settled(entry)  # surely absent, unless it may still become visible
    case_id = str(entry.case_id)
    first: Call | None = None
    answered: Call | None = None
    removed = False
    started = ctx.clock()
    schedule = DELETE_SCHEDULE if not entry.seen and not _settled(entry) else DELETE_SCHEDULE[:1]
    for _ in ctx.at_times(schedule, started):
        call = ctx.call(delete_name, "Case Delete", lambda: ctx.client.delete_case(case_id))
        first = first or call
        if call.ok or call.not_sent:
            removed = call.ok
            answered = call if call.ok else None
            break
        if call.error is not None and confirms_absence(call.error) and (entry.seen or _settled(entry)):
            removed = True  # it was readable before (or long ago created), so it is gone now
            break
    if judge and (answered or first) is not None:
        _judge_delete(ctx, answered or first)  # type: ignore[arg-type]
    if not judge or not removed:
        return removed
    after = ctx.call("case_get_after_delete", "Case Get", lambda: ctx.client.get_case(case_id))
    judge_not_found(ctx, "case-after-delete", after, "the deleted case")
    return not after.ok


def _find(ctx: ProbeContext, entry: Entry, check: str) -> bool | None:
    """Look up the case of an unanswered create by its referenceId.

    :returns: True when its id is now known, False when the complete lookup found no such case, None
        when the lookup failed (an error, an incomplete list, the request cap).
    """
    since = datetime.fromtimestamp(entry.sent_at - 300, UTC)
    call = ctx.call(
        check,
        "Case List",
        lambda: ctx.client.find_case_by_reference(
            entry.reference_id, since=since, title=entry.reference_id, statuses=("pending",)
        ),
    )
    if not call.ok:
        return None
    found = call.value
    if not found or not found.get("_id"):
        return False
    entry.case_id = str(found["_id"])
    entry.seen = True
    ctx.ledger.save()
    return True


def _settled(entry: Entry) -> bool:
    """True when the create of ``entry`` is so long ago that a case not readable now never will be."""
    return time.time() - entry.sent_at > SETTLED_AFTER


def _judge_delete(ctx: ProbeContext, call: Call) -> None:
    body = call.body if isinstance(call.body, dict) else {}
    answer = body.get("return")
    if not call.ok:
        if not call.not_sent and call.error is not None and confirms_absence(call.error):
            detail = f"HTTP {call.status} with NextSign's not-found body: the case was not readable yet"
            ctx.judge("delete-answer", Verdict.NOT_CHECKED, detail, call)
        else:
            judge_failed(ctx, "delete-answer", call, "Case Delete")
    elif (
        body.get("status") == "removed"
        and isinstance(answer, dict)
        and {"acknowledged", "deletedCount"} <= set(answer)
    ):
        ctx.judge(
            "delete-answer", Verdict.MATCHES, "removed, with return.acknowledged and deletedCount", call
        )
    else:
        keys = ", ".join(ctx.redactor.key_names(call.body))
        ctx.judge("delete-answer", Verdict.DIFFERS, f"an answer with {{{keys}}}", call)
