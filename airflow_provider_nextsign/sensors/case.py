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

from airflow_provider_nextsign.exceptions import NextSignCaseFailedError

FAILED_STATES = ("denied", "expired", "deleted")


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
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.case_ids = case_ids
        self.nextsign_conn_id = nextsign_conn_id
        self.deferrable = deferrable

    def _fail(self, case_id: str, state: str) -> None:
        if self.soft_fail:
            raise AirflowSkipException(f"NextSign case {case_id} is {state}; skipping (soft_fail)")
        raise NextSignCaseFailedError(case_id, state)

    def poke(self, context: Any) -> PokeReturnValue | bool:
        """Fetch every case in batches; done when all are signed, raise when one has failed."""
        from airflow_provider_nextsign.hooks.nextsign import NextSignHook
        from airflow_provider_nextsign.triggers.case import case_summary

        ids = normalize_case_ids(self.case_ids)
        found = {str(c.get("_id")): c for c in NextSignHook(self.nextsign_conn_id).get_cases(ids)}
        summary = {case_id: case_summary(found.get(case_id)) for case_id in ids}
        for case_id, info in summary.items():
            if info["state"] in FAILED_STATES:
                self._fail(case_id, info["state"])
        signed = sum(1 for info in summary.values() if info["state"] == "signed")
        self.log.info("%d of %d NextSign case(s) signed", signed, len(ids))
        if signed == len(ids):
            return PokeReturnValue(is_done=True, xcom_value=summary)
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
