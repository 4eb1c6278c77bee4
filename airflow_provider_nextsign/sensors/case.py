"""Wait for NextSign cases to be signed: poke, reschedule or deferrable."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_nextsign.exceptions import NextSignCaseFailedException

FAILED_STATES = ("denied", "expired", "deleted")
#: Seconds a case may be missing from NextSign's reads after the wait starts before it can be "deleted".
DEFAULT_NOT_FOUND_GRACE = 300.0


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def normalize_case_ids(case_ids: Any) -> list[str]:
    """Turn one id, a list, or a resolved (possibly mapped) XCom into a de-duplicated list of ids."""
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
    """Succeed when every case is signed; fail (skip with ``soft_fail``) if one is denied/expired/deleted.

    ``case_ids`` takes one id, a list, or an XComArg (a mapped task's output gives a list). Poke and
    reschedule modes poll with batched Get Multiple; ``deferrable=True`` (default from
    ``[operators] default_deferrable``) hands the wait to :class:`NextSignCaseTrigger` with an absolute
    deadline of now + ``timeout``. Returns (XCom) ``{case_id: {"state", "signed_documents": [{"name",
    "file"}]}}``.

    Get Multiple is the cheap change detector; a case it shows only as a summary is read with Case Get
    when first seen and whenever its ``updatedAt`` moves. A case NextSign does not show yet counts as
    pending for ``not_found_grace`` from the start of the wait (production saw new cases missing for
    seconds); after that it fails as deleted only once Case Get confirms it with NextSign's documented
    not-found answer. A read that fails leaves its cases unknown for that poke, and the wait goes on.

    :param case_ids: the case id(s) to wait for (templated).
    :param nextsign_conn_id: the NextSign connection (templated).
    :param deferrable: wait in the triggerer, holding no worker slot.
    :param poke_interval: seconds between polls.
    :param not_found_grace: how long a case may be missing from NextSign's reads before it can count as
        deleted (seconds or a timedelta; default 5 minutes).
    """

    template_fields: Sequence[str] = ("case_ids", "nextsign_conn_id")
    ui_color = "#fef7e0"

    def __init__(
        self,
        *,
        case_ids: Any,
        nextsign_conn_id: str = "nextsign_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = 60,
        not_found_grace: float | timedelta = DEFAULT_NOT_FOUND_GRACE,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.case_ids = case_ids
        self.nextsign_conn_id = nextsign_conn_id
        self.deferrable = deferrable
        self.not_found_grace = _seconds(not_found_grace)
        self._watch: Any = None
        self._wait_started: float | None = None

    def _fail(self, case_id: str, state: str) -> None:
        if self.soft_fail:
            raise AirflowSkipException(f"NextSign case {case_id} is {state}; skipping (soft_fail)")
        raise NextSignCaseFailedException(case_id, state)

    def _grace_until(self, context: Any) -> float:
        if self._wait_started is None:
            started = getattr(context.get("ti") if isinstance(context, dict) else None, "start_date", None)
            self._wait_started = started.timestamp() if started is not None else time.time()
        return self._wait_started + self.not_found_grace

    def poke(self, context: Any) -> PokeReturnValue | bool:
        """One poll of every case: done when all are signed, raise when one has failed."""
        from airflow_provider_nextsign.api.watch import CaseWatch, drive
        from airflow_provider_nextsign.hooks.nextsign import NextSignHook

        ids = normalize_case_ids(self.case_ids)
        grace_until = self._grace_until(context)
        if self._watch is None:  # kept across pokes in poke mode: unchanged summaries cost nothing
            self._watch = CaseWatch()
        client = NextSignHook(self.nextsign_conn_id).client
        observations = drive(self._watch.poll(ids, in_grace=lambda _: time.time() < grace_until), client)
        return self._verdict(ids, observations)

    def _verdict(self, ids: list[str], observations: dict[str, Any]) -> PokeReturnValue | bool:
        from airflow_provider_nextsign.api.retry import TRANSIENT_ERRORS

        for case_id in ids:
            seen = observations[case_id]
            if seen.state in FAILED_STATES:
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
        self.log.info("%d of %d NextSign case(s) signed", signed, len(ids))
        if signed == len(ids):
            return PokeReturnValue(is_done=True, xcom_value={c: observations[c].summary() for c in ids})
        return False

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)  # no deferral round trip when everything is already signed
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        from airflow_provider_nextsign.triggers.case import NextSignCaseTrigger

        timeout = self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else float(self.timeout)
        interval = (
            self.poke_interval.total_seconds()
            if isinstance(self.poke_interval, timedelta)
            else float(self.poke_interval)
        )
        self.defer(
            trigger=NextSignCaseTrigger(
                case_ids=normalize_case_ids(self.case_ids),
                nextsign_conn_id=self.nextsign_conn_id,
                poll_interval=interval,
                end_time=time.time() + timeout,
                grace_until=self._grace_until(context),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Check the trigger's event: return the case states, or raise the matching error."""
        if not isinstance(event, dict) or "status" not in event:
            raise AirflowException(f"NextSignCaseSensor got an unexpected trigger event: {event!r}")
        status = event["status"]
        if status == "success":
            self.log.info(event.get("message", "all cases signed"))
            return dict(event.get("cases") or {})
        if status == "failed":
            self._fail(str(event.get("case_id")), str(event.get("state")))
        message = str(event.get("message") or status)
        if self.soft_fail:
            raise AirflowSkipException(f"{message}; skipping (soft_fail)")
        if status == "timeout":
            from airflow.providers.common.compat.sdk import AirflowSensorTimeout

            raise AirflowSensorTimeout(message)
        raise AirflowException(f"Waiting for NextSign cases failed: {message}")
