"""Helpers shared by the create operators: reference ids, create-once, XCom of the case."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.exceptions import NextSignAmbiguousWriteError
from airflow_provider_nextsign.links import XCOM_CASE_URL

if TYPE_CHECKING:
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

log = logging.getLogger(__name__)

#: XCom keys pushed by every operator that creates a case (read by :class:`NextSignCaseLink`).
XCOM_CASE_ID = "nextsign_case_id"

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


def create_once(
    hook: NextSignHook,
    *,
    reference_id: str,
    try_number: int,
    create: Callable[[], dict[str, Any]],
    folder: str | None = None,
) -> dict[str, Any]:
    """Create a case at most once per ``reference_id``.

    On a retry (``try_number > 1``) an existing case carrying ``reference_id`` is reused. When a create
    ends ambiguously (sent, outcome unknown) the case is looked up and only re-created when the lookup
    shows it is surely absent; a failing lookup propagates, so the task retries instead of guessing.
    """
    if try_number > 1:
        existing = hook.find_case_by_reference(reference_id, folder=folder)
        if existing:
            log.info(
                "Retry %s: reusing case %s with referenceId %s", try_number, existing.get("_id"), reference_id
            )
            return existing
    try:
        return create()
    except NextSignAmbiguousWriteError as err:
        log.warning("Create with referenceId %s ended ambiguously (%s); looking it up", reference_id, err)
        existing = hook.find_case_by_reference(reference_id, folder=folder)
        if existing:
            log.info("Found case %s created by the ambiguous request; reusing it", existing.get("_id"))
            return existing
        log.info("No case with referenceId %s exists; creating it again", reference_id)
        return create()


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
