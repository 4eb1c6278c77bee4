"""Wait for NextSign cases to be signed: poke, reschedule or deferrable."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_nextsign.api.errors import NextSignError
from airflow_provider_nextsign.exceptions import NextSignCaseFailedException

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

__all__ = ["DEFAULT_NOT_FOUND_GRACE", "NextSignCaseSensor", "normalize_case_ids"]

#: Seconds a case may be missing from NextSign's reads after the wait starts before it can be "deleted".
DEFAULT_NOT_FOUND_GRACE = 300.0
#: Extra seconds the deferral's own timeout gives the trigger for its last look after the deadline.
FINAL_LOOK_MARGIN = 120.0
#: Seconds a poke-mode wait keeps one hook before reading the connection again (as the trigger's poller).
HOOK_MAX_AGE = 300.0


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def normalize_case_ids(case_ids: Any) -> list[str]:
    """Turn one id, a list, or a resolved (possibly mapped) XCom into a de-duplicated list of ids.

    :raises ValueError: ``case_ids`` holds no id, or is not an id, a list or an XCom value.
    """
    if isinstance(case_ids, str):
        ids = [case_ids]
    elif isinstance(case_ids, Iterable):
        ids = []
        for item in case_ids:
            if isinstance(item, str):
                ids.append(item)
            elif isinstance(item, Iterable):  # a mapped task that returned lists
                ids.extend(str(x) for x in item)
            elif item is not None:
                ids.append(str(item))
    else:
        raise ValueError(f"case_ids must be a case id, a list of ids or an XComArg, got {case_ids!r}")
    ids = [i.strip() for i in ids if i and i.strip()]
    if not ids:
        raise ValueError("case_ids is empty: pass the id(s) returned by a NextSign create/submit task")
    return list(dict.fromkeys(ids))


class NextSignCaseSensor(BaseSensorOperator):
    """Succeed when every case is signed; fail at once (no retries) when one is denied, expired or deleted.

    ``case_ids`` takes one id, a list, or an XComArg (a mapped task's output gives a list). Poke and
    reschedule modes poll with batched Get Multiple; ``deferrable=True`` (default from
    ``[operators] default_deferrable``) hands the wait to :class:`NextSignCaseTrigger`, whose shared
    poller looks at each case at ``poke_interval`` (floored by ``[nextsign] min_poll_interval``), less
    often as the case ages, up to ``max_interval``. Returns (XCom) ``{case_id: {"state",
    "signed_documents": [{"name", "file"}]}}``.

    Get Multiple is the cheap change detector; a case it shows only as a summary is read with Case Get
    when its ``updatedAt`` moves. A case NextSign does not show yet counts as pending for
    ``not_found_grace`` from the start of the wait (production saw new cases missing for seconds); after
    that it fails as deleted only once Case Get confirms it with NextSign's documented not-found
    answer. A read that fails transiently leaves its cases unknown for that look, and the wait goes on.

    ``soft_fail`` skips instead of failing when a case fails or the wait times out, in every mode; an
    error that is not about the cases (a refused API key, an unreadable answer) always fails.

    :param case_ids: the case id(s) to wait for (templated).
    :param nextsign_conn_id: the NextSign connection (templated).
    :param deferrable: wait in the triggerer, holding no worker slot.
    :param poke_interval: seconds between looks (must be positive).
    :param max_interval: deferrable mode: the longest wait between two looks at an old case
        (default 15 minutes); a signature is noticed within ``max(poke_interval, 10% of the case's age)``.
    :param not_found_grace: how long a case may be missing from NextSign's reads before it can count as
        deleted (seconds or a timedelta; default 5 minutes).
    """

    template_fields: Sequence[str] = ("case_ids", "nextsign_conn_id")
    ui_color = "#fef7e0"
    #: Seconds one hook (one HTTP session) serves a poke-mode wait; then the connection is read again, so
    #: a rotated API key or an edited connection reaches a wait of hours.
    hook_max_age: float = HOOK_MAX_AGE

    def __init__(
        self,
        *,
        case_ids: Any,
        nextsign_conn_id: str = "nextsign_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = 60,
        max_interval: float | timedelta = 900,
        not_found_grace: float | timedelta = DEFAULT_NOT_FOUND_GRACE,
        **kwargs: Any,
    ) -> None:
        if _seconds(poke_interval) <= 0:
            raise ValueError(f"poke_interval must be a positive number of seconds, got {poke_interval!r}")
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.case_ids = case_ids
        self.nextsign_conn_id = nextsign_conn_id
        self.deferrable = deferrable
        self.max_interval = _seconds(max_interval)
        self.not_found_grace = _seconds(not_found_grace)
        self._watch: Any = None
        self._wait_started: float | None = None
        self._hook: NextSignHook | None = None
        self._hook_built = 0.0

    @property
    def hook(self) -> NextSignHook:
        """The :class:`~airflow_provider_nextsign.hooks.nextsign.NextSignHook` of ``nextsign_conn_id``,
        built on first use and kept across pokes for ``hook_max_age`` seconds."""
        if self._hook is None or time.monotonic() - self._hook_built >= self.hook_max_age:
            from airflow_provider_nextsign.hooks.nextsign import NextSignHook

            self._hook = NextSignHook(nextsign_conn_id=self.nextsign_conn_id)
            self._hook_built = time.monotonic()
        return self._hook

    # Checking input and outcomes

    def _ids(self) -> list[str]:
        try:
            return normalize_case_ids(self.case_ids)
        except ValueError as err:  # bad input: retrying cannot help
            raise AirflowFailException(f"NextSignCaseSensor: {err}") from None

    def _fail(self, case_id: str, state: str) -> None:
        if self.soft_fail:
            raise AirflowSkipException(f"NextSign case {case_id} is {state}; skipping (soft_fail)")
        raise NextSignCaseFailedException(case_id, state)

    def _grace_until(self, context: Context) -> float:
        if self._wait_started is None:
            self._wait_started = _wait_started(context)
        return self._wait_started + self.not_found_grace

    # Poke and reschedule modes

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """One look at every case: done when all are signed, raise when one has failed."""
        from airflow_provider_nextsign.api.watch import CaseWatch, drive

        ids = self._ids()
        grace_until = self._grace_until(context)
        if self._watch is None:  # kept across pokes in poke mode: unchanged summaries cost nothing
            self._watch = CaseWatch()
        client = self.hook.client
        observations = drive(self._watch.poll(ids, in_grace=lambda _: time.time() < grace_until), client)
        return self._verdict(ids, observations)

    def _verdict(self, ids: list[str], observations: dict[str, Any]) -> PokeReturnValue | bool:
        from airflow_provider_nextsign.api.cases import CaseState
        from airflow_provider_nextsign.api.retry import TRANSIENT_ERRORS

        for case_id in ids:
            seen = observations[case_id]
            if seen.error is None and CaseState(seen.state).is_failure:
                self._fail(case_id, seen.state)
            if seen.error is not None and not isinstance(seen.error, TRANSIENT_ERRORS):
                raise seen.error
        unknown = [c for c in ids if observations[c].error is not None]
        if unknown:
            self.log.warning(
                "Could not read %d of %d NextSign case(s) this time (%s); waiting on",
                len(unknown),
                len(ids),
                observations[unknown[0]].error,
            )
        hidden = [c for c in ids if not observations[c].visible and observations[c].state == "pending"]
        if hidden:
            self.log.info("%d case(s) not visible in NextSign yet (within the grace window)", len(hidden))
        signed = sum(1 for c in ids if observations[c].state == "signed")
        if len(unknown) < len(ids):
            self.log.info("%d of %d NextSign case(s) signed", signed, len(ids))
        if signed == len(ids):
            return PokeReturnValue(is_done=True, xcom_value={c: observations[c].summary() for c in ids})
        return False

    # Deferrable mode

    def execute(self, context: Context) -> Any:
        """Poke or reschedule as a plain sensor; or look once, then defer to the triggerer."""
        ids = self._ids()  # bad input fails here, before any request and without retries
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)  # no deferral round trip when everything is already signed
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        from airflow_provider_nextsign.triggers.case import NextSignCaseTrigger

        timeout = _seconds(self.timeout)
        self.defer(
            trigger=NextSignCaseTrigger(
                case_ids=ids,
                nextsign_conn_id=self.nextsign_conn_id,
                poll_interval=_seconds(self.poke_interval),
                end_time=time.time() + timeout,
                grace_until=self._grace_until(context),
                max_interval=self.max_interval,
            ),
            method_name="execute_complete",
            # The trigger ends the wait itself at the deadline, after one last look; Airflow's own
            # timeout only catches a triggerer that is gone for good.
            timeout=timedelta(seconds=timeout + FINAL_LOOK_MARGIN),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Check the trigger's event: return the case states, or raise the matching error."""
        if not isinstance(event, dict) or "status" not in event:
            raise NextSignError(f"NextSignCaseSensor got an unexpected trigger event: {event!r}")
        status = event["status"]
        message = str(event.get("message") or status)
        if status == "success":
            self.log.info(message)
            return dict(event.get("cases") or {})
        if status == "failed":
            self._fail(str(event.get("case_id")), str(event.get("state")))
        if status == "timeout":
            if self.soft_fail:
                raise AirflowSkipException(f"{message}; skipping (soft_fail)")
            raise AirflowSensorTimeout(message)
        # Not about the cases (e.g. the API key was refused): fails in every mode, soft_fail or not.
        raise NextSignError(f"waiting for the cases failed: {message}")

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """When Airflow ends the deferral at its timeout (a triggerer gone past the deadline), take one
        last look before timing out."""
        error = str((next_kwargs or {}).get("error") or "").lower()
        if next_method == "__fail__" and "timeout" in error:
            self.log.info("The deferral timed out; one last look at the cases before giving up")
            done = self.poke(context)
            if isinstance(done, PokeReturnValue) and done.is_done:
                return done.xcom_value
        return super().resume_execution(next_method, next_kwargs, context)


def _wait_started(context: Any) -> float:
    """When this wait started: the first reschedule's (or this try's) start, else now."""
    ti = context.get("ti") if hasattr(context, "get") else None
    first = None
    getter = getattr(ti, "get_first_reschedule_date", None)
    if callable(getter):
        try:
            first = getter(context)
        except Exception:  # not in a real task run (tests, dag.test on old versions)
            first = None
    first = first or getattr(ti, "start_date", None)
    return first.timestamp() if first is not None else time.time()
