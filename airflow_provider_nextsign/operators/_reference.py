"""Helpers shared by the create operators: reference ids, create-once, XCom of the case."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import tenacity

from airflow_provider_nextsign.exceptions import (
    NextSignAmbiguousWriteError,
    NextSignError,
    NextSignInputError,
)
from airflow_provider_nextsign.links import XCOM_CASE_URL

if TYPE_CHECKING:
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

log = logging.getLogger(__name__)

#: XCom keys pushed by every operator that creates a case (read by :class:`NextSignCaseLink`).
XCOM_CASE_ID = "nextsign_case_id"

#: Margin for the difference between this machine's clock and NextSign's ``createdAt``.
CLOCK_SKEW = timedelta(minutes=10)
_sleep = time.sleep  # replaced in tests

#: The longest wait between two looks for the case of an unanswered create.
RECONCILE_MAX_WAIT = 15.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:+\[\]-]+")


def default_reference_id(context: Mapping[str, Any]) -> str:
    """Return ``airflow:<dag_id>:<task_id>[<map_index>]:<run_id>``, stable across retries of one task.

    The id is at most 200 characters: a long run id is shortened to a hash so two runs never share it.
    """
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    if map_index is None:
        map_index = -1
    task = f"{ti.task_id}[{map_index}]" if map_index >= 0 else ti.task_id
    run_id = str(context.get("run_id") or ti.run_id)
    ref = _UNSAFE.sub("_", f"airflow:{ti.dag_id}:{task}:{run_id}")
    if len(ref) > 200:
        digest = hashlib.sha256(ref.encode()).hexdigest()[:16]
        ref = f"{ref[:180]}~{digest}"
    return ref


def case_id_of(case: Mapping[str, Any]) -> str:
    """Return the ``_id`` of a created or found case, failing clearly when the body lacks one."""
    case_id = case.get("_id") or case.get("id")
    if not case_id:
        raise ValueError(f"NextSign returned a case without an _id (keys: {sorted(case)})")
    return str(case_id)


def run_started_at(context: Mapping[str, Any]) -> datetime | None:
    """The earliest moment this DAG run is known by: no attempt of its tasks created a case before it.

    The earliest of the run's ``run_after``, logical date, queue and start times and this task's start
    (a cleared run gets new start times but keeps ``run_after`` and its logical date).
    """
    moments: list[datetime] = []
    dag_run = context.get("dag_run")
    for owner, names in (
        (dag_run, ("run_after", "logical_date", "execution_date", "queued_at", "start_date")),
        (context.get("ti"), ("start_date",)),
    ):
        for name in names:
            try:
                value = getattr(owner, name, None)
            except Exception:  # a deprecated alias may warn or fail on some versions
                value = None
            if isinstance(value, datetime):
                moments.append(value if value.tzinfo else value.replace(tzinfo=UTC))
    return min(moments) if moments else None


def create_once(
    hook: NextSignHook,
    *,
    reference_id: str,
    try_number: int,
    create: Callable[[], dict[str, Any]],
    folder: str | None = None,
    title: str | None = None,
    run_started: datetime | None = None,
    reconcile_window: float | None = None,
    clock_skew: timedelta = CLOCK_SKEW,
    sleep: Callable[[float], Any] | None = None,
) -> dict[str, Any]:
    """Create a case at most once per ``reference_id``; never send a create twice in one attempt.

    - A retry (``try_number > 1``) first looks the case up (created since ``run_started``), completely:
      found, it is reused; a lookup that cannot complete raises, so the task retries instead of guessing.
    - A create whose answer was lost is reconciled: the lookup is repeated with backoff for
      ``reconcile_window`` seconds (default: the connection's, 3 x its timeout). Found, the case is used;
      not found, the attempt fails with :class:`NextSignAmbiguousWriteError` and creates nothing more.
      The next attempt looks up first.
    """
    if try_number > 1:
        since = run_started - clock_skew if run_started is not None else None
        existing = hook.find_case_by_reference(reference_id, folder=folder, title=title, since=since)
        if existing:
            log.info(
                "Retry %s: reusing case %s with referenceId %s", try_number, existing.get("_id"), reference_id
            )
            return existing
        log.info(
            "Retry %s: no case has referenceId %s (complete lookup); creating it", try_number, reference_id
        )
    started = datetime.now(UTC)
    try:
        return create()
    except NextSignAmbiguousWriteError as err:
        window = hook.reconcile_window if reconcile_window is None else float(reconcile_window)
        log.warning(
            "The create with referenceId %s ended without an answer (%s); looking for the case for up to "
            "%.0f s before giving up. No second create is sent in this attempt.",
            reference_id,
            err,
            window,
        )
        found = reconcile(
            hook,
            reference_id,
            since=started - clock_skew,
            title=title,
            folder=folder,
            window=window,
            sleep=sleep,
        )
        if found is not None:
            log.info("Found case %s created by the unanswered request; using it", found.get("_id"))
            return found
        raise NextSignAmbiguousWriteError(
            f"the create with referenceId {reference_id!r} got no answer and no case carrying that "
            f"referenceId appeared within {window:.0f} s, so nothing was sent again. The next task attempt "
            "looks it up before creating; if this task will not be retried, check the NextSign dashboard "
            f"for a case with referenceId {reference_id!r} before creating one by hand.",
            operation=err.operation,
        ) from err


def reconcile(
    hook: NextSignHook,
    reference_id: str,
    *,
    since: datetime,
    title: str | None,
    folder: str | None,
    window: float,
    sleep: Callable[[float], Any] | None = None,
) -> dict[str, Any] | None:
    """Look for the case of an unanswered create, with backoff, for ``window`` seconds.

    Each look goes through pending, signed and denied cases (a fast signer may have signed already),
    once: a look that does not see the case only means "not yet", since no create follows here. A look
    that fails counts as "not yet" too.
    """

    def look() -> dict[str, Any] | None:
        try:
            return hook.find_case_by_reference(
                reference_id, folder=folder, title=title, since=since, verify_absence=False
            )
        except NextSignInputError:
            raise
        except NextSignError as err:
            log.warning("Looking up referenceId %s failed (%s); looking again", reference_id, err)
            return None

    polls = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda found: found is None),
        # The attempt count keeps the window when `sleep` does not move the clock (tests).
        stop=tenacity.stop_after_delay(window) | tenacity.stop_after_attempt(_polls_within(window)),
        wait=tenacity.wait_exponential(multiplier=1, max=RECONCILE_MAX_WAIT),
        sleep=sleep or _sleep,
        retry_error_callback=lambda state: None,
    )
    return polls(look)


def _polls_within(window: float) -> int:
    """How many polls the backoff (1, 2, 4, ... capped) fits into ``window`` seconds."""
    polls, waited = 1, 0.0
    while waited < window:
        waited += min(2.0 ** (polls - 1), RECONCILE_MAX_WAIT)
        polls += 1
    return polls


def push_case(context: Mapping[str, Any], hook: NextSignHook, case_id: str) -> None:
    """Push the case id and its dashboard link to XCom at once, before anything else can fail."""
    ti = context["ti"]
    ti.xcom_push(key=XCOM_CASE_ID, value=case_id)
    try:
        url = hook.case_url(case_id)
    except Exception:  # the link is a convenience; never fail the task over it
        log.warning("Could not build the dashboard link for case %s", case_id, exc_info=True)
        return
    ti.xcom_push(key=XCOM_CASE_URL, value=url)
    log.info("NextSign case %s: %s", case_id, url)
