"""Never two signing requests: whatever happens to a create's answer, one case per referenceId.

Each fault hits the first create or submit; attempt 1 runs, and when it fails, attempt 2 (as Airflow's
retry would). The sandbox's own listing and counters are the judge: exactly one case carries the
referenceId, and no attempt sent a second create after losing an answer.
"""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_nextsign.exceptions import NextSignAmbiguousWriteError, NextSignError
from airflow_provider_nextsign.operators.cases import NextSignCreateCaseOperator
from airflow_provider_nextsign.operators.forms import NextSignSubmitFormOperator

RECIPIENTS = [{"name": "Jane Doe", "email": "jane@example.com", "signing": True}]
TIMEOUT = 1.0  # the client's request timeout: the late and slow writes take longer
# A generous request budget: these tests are about answers, not pacing.
pytestmark = pytest.mark.nextsign_sandbox(requests_per_minute=100_000)
OPERATION = {"create": "case_create", "submit": "forms_submit"}


class TI:
    def __init__(self, try_number: int) -> None:
        self.dag_id, self.task_id, self.run_id = "once", "create", "manual__once"
        self.try_number, self.map_index = try_number, -1
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value


@pytest.fixture
def short_timeout(nextsign_sandbox, monkeypatch):
    """The sandbox connection with a 1 s request timeout and no client-side retry waits."""
    from airflow_provider_nextsign.api.client import NextSignClient

    conn = nextsign_sandbox.connection
    conn["extra"] = {**conn["extra"], "timeout": TIMEOUT}
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(conn))
    monkeypatch.setitem(NextSignClient.__init__.__kwdefaults__, "sleep", lambda seconds: None)
    return nextsign_sandbox


def _operator(kind: str, sandbox, window: float):
    if kind == "create":
        return NextSignCreateCaseOperator(
            task_id="create",
            title="Lease",
            recipients=RECIPIENTS,
            documents=[b"%PDF-1.4 tiny"],
            reconcile_window=window,
        )
    return NextSignSubmitFormOperator(
        task_id="create",
        form_id=sandbox.form_id,
        tags={"customer_name": "Holm", "customer_zip": "8000"},
        recipients=RECIPIENTS,
        reconcile_window=window,
    )


def _attempt(kind: str, sandbox, try_number: int, window: float) -> tuple[str | None, Exception | None]:
    sandbox.reset_stats()
    try:
        return _operator(kind, sandbox, window).execute(
            {"ti": TI(try_number), "run_id": "manual__once"}
        ), None
    except NextSignError as err:
        return None, err
    finally:
        creates = sandbox.stats()["by_operation"].get(OPERATION[kind], 0)
        assert creates <= 1, f"attempt {try_number} sent {creates} creates"


def _one_case_per_reference(sandbox) -> str:
    (case,) = sandbox.cases()
    assert case["referenceId"] == "airflow:once:create:manual__once"
    return str(case["_id"])


@pytest.mark.parametrize("kind", ["create", "submit"])
@pytest.mark.parametrize(
    ("fault", "options", "window", "found_in_attempt"),
    [
        ("lost_response", {}, 2.0, 1),  # applied, the answer dropped: found at once
        ("late_write", {"seconds": 2.0}, 4.0, 1),  # applied 2 s later, never answered: found reconciling
        ("slow", {"seconds": 2.0}, 4.0, 1),  # the server works past the client's timeout, then applies it
        ("server_error", {"after_write": True}, 2.0, 1),  # applied, then a 500
        ("server_error", {}, 1.0, 2),  # a 500 before anything was applied: attempt 2 creates it
    ],
)
def test_one_case_per_reference_whatever_happens_to_the_answer(
    short_timeout, kind, fault, options, window, found_in_attempt
):
    sandbox = short_timeout
    sandbox.inject_fault(OPERATION[kind], fault, **options)
    first, error = _attempt(kind, sandbox, 1, window=window)
    if found_in_attempt == 1:
        assert error is None and first == _one_case_per_reference(sandbox)
        return
    assert isinstance(error, NextSignAmbiguousWriteError)
    assert "airflow:once:create:manual__once" in str(error)
    assert sandbox.cases() == []
    second, error = _attempt(kind, sandbox, 2, window=window)
    assert error is None and second == _one_case_per_reference(sandbox)


@pytest.mark.parametrize("kind", ["create", "submit"])
def test_a_write_applied_after_the_window_is_found_by_the_next_attempt(short_timeout, kind):
    sandbox = short_timeout
    sandbox.inject_fault(OPERATION[kind], "late_write", seconds=3.0)
    _, error = _attempt(kind, sandbox, 1, window=0.5)
    assert isinstance(error, NextSignAmbiguousWriteError)  # not seen within the window: no second create
    deadline = time.monotonic() + 10
    while not sandbox.cases() and time.monotonic() < deadline:
        time.sleep(0.1)
    second, error = _attempt(kind, sandbox, 2, window=0.5)  # (the retry_delay passed)
    assert error is None and second == _one_case_per_reference(sandbox)
    assert sandbox.stats()["by_operation"].get(OPERATION[kind], 0) == 0  # reused, not created


@pytest.mark.parametrize("kind", ["create", "submit"])
def test_an_unreadable_account_ends_in_an_error_and_no_second_create(short_timeout, kind):
    sandbox = short_timeout
    sandbox.inject_fault(OPERATION[kind], "lost_response")
    sandbox.inject_fault("cases_list", "server_error", count=10_000)
    _, error = _attempt(kind, sandbox, 1, window=1.0)
    assert isinstance(error, NextSignAmbiguousWriteError)
    _, error = _attempt(kind, sandbox, 2, window=1.0)
    assert error is not None and not isinstance(error, NextSignAmbiguousWriteError)  # the lookup failed
    assert len(sandbox.cases()) == 1  # the one the lost answer made; never a second


@pytest.mark.nextsign_sandbox(profile="production", visibility_delay=2.0)
@pytest.mark.parametrize("kind", ["create", "submit"])
def test_production_shapes_and_a_case_invisible_at_first(short_timeout, kind):
    """data envelopes, list items with referenceId, a new case invisible for 2 s: still one case."""
    sandbox = short_timeout
    sandbox.inject_fault(OPERATION[kind], "lost_response")
    first, error = _attempt(kind, sandbox, 1, window=6.0)
    assert error is None and first == _one_case_per_reference(sandbox)
