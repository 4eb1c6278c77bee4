"""One probe run: refuse a production host, sweep leftovers, run the checks, always clean up.

:func:`probe` works from a client's keyword arguments (no Airflow needed); :func:`run_probe` reads an
Airflow connection, prints the table and writes the JSON: the function behind the command line and the
example DAG.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from airflow_provider_nextsign.probe.assumptions import ASSUMPTIONS
from airflow_provider_nextsign.probe.checks import CHECKS
from airflow_provider_nextsign.probe.cleanup import ProbeAborted, clean_up, sweep
from airflow_provider_nextsign.probe.context import Clients, ProbeContext
from airflow_provider_nextsign.probe.guard import check_hosts
from airflow_provider_nextsign.probe.ledger import Ledger, default_state_dir
from airflow_provider_nextsign.probe.redaction import Redactor, host_of
from airflow_provider_nextsign.probe.report import ProbeReport, render_table
from airflow_provider_nextsign.probe.signals import Interrupted, shielded
from airflow_provider_nextsign.probe.transport import MAX_REQUESTS, ProbeSession

__all__ = ["CLEANUP_RESERVE", "SWEEP_BUDGET", "probe", "run_probe"]

#: Requests the sweep of earlier runs' leftovers may spend (one Case List page and some deletes).
SWEEP_BUDGET = 6
#: Requests kept back for deleting this run's case (a delete repeated while it is not readable yet).
CLEANUP_RESERVE = 6


def probe(
    client_kwargs: dict[str, Any],
    *,
    form_id: str | None = None,
    allow_production: bool = False,
    state_dir: str | Path | None = None,
    progress: TextIO | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> ProbeReport:
    """Probe the NextSign account of ``client_kwargs`` (as ``NextSignHook.client_kwargs`` returns them).

    :param form_id: a form of the account, for Forms Get and Forms Tags (None: not checked).
    :param allow_production: probe a host that is not the test environment or loopback.
    :param state_dir: where the ledger of created cases lives (default: :func:`default_state_dir`).
    :param progress: where a line per request goes (None: nowhere).
    :raises ProbeRefused: the host is not the test environment (nothing was sent).
    """
    session = ProbeSession(limit=0)
    clients = Clients.build(client_kwargs, session)
    endpoints = clients.main.endpoints
    files_checked, files_reason = check_hosts(
        endpoints.host, endpoints.files_host, allow_production=allow_production
    )
    run = f"{int(time.time())}-{os.getpid()}-{secrets.token_hex(3)}"
    ledger = Ledger(
        Path(state_dir) if state_dir else default_state_dir(), endpoints.host, endpoints.company_id, run
    )
    report = ProbeReport(hosts={"api": host_of(endpoints.host), "files": host_of(endpoints.files_host)})
    ctx = ProbeContext(
        clients=clients,
        session=session,
        report=report,
        ledger=ledger,
        redactor=Redactor(),
        form_id=form_id or None,
        files_checked=files_checked,
        files_reason=files_reason,
        progress=progress,
        sleep=sleep,
    )
    try:
        session.limit = SWEEP_BUDGET
        sweep(ctx)
        session.limit = MAX_REQUESTS - CLEANUP_RESERVE
        for check in CHECKS:
            check(ctx)
    except ProbeAborted as err:
        report.aborted = str(err)
    except (Interrupted, KeyboardInterrupt) as err:
        report.interrupted = str(err) or type(err).__name__
    finally:
        with shielded():
            session.limit = MAX_REQUESTS
            try:
                clean_up(ctx)
            finally:
                _finish(ctx)
                session.close()
    return report


def _finish(ctx: ProbeContext) -> None:
    report = ctx.report
    report.requests = ctx.session.sent
    if report.aborted:
        why = "not reached: the probe stopped early"
    elif report.interrupted:
        why = f"not reached: interrupted by {report.interrupted}"
    else:
        why = "not reached"
    for item in ASSUMPTIONS:
        ctx.skip(why if item.checked else "needs a signed case, and the probe never signs", item.id)


def run_probe(
    conn_id: str = "nextsign_default",
    *,
    form_id: str | None = None,
    json_file: str | Path | None = None,
    allow_production: bool = False,
    state_dir: str | Path | None = None,
    out: TextIO | None = None,
    progress: TextIO | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Probe the account of the Airflow connection ``conn_id``; print the table, return the JSON data.

    Usable from Python, from an Airflow task (see the example DAG ``example_nextsign_probe``) and behind
    ``python -m airflow_provider_nextsign.probe``.

    :param form_id: a form of the account, for Forms Get and Forms Tags.
    :param json_file: also write the report as JSON to this file.
    :param allow_production: probe a host that is not NextSign's test environment.
    :param state_dir: where the ledger of created cases lives.
    :param out: where the table goes (default: standard output).
    :param progress: where a line per request goes (default: standard error).
    :param quiet: no progress lines (the table is still printed).
    :raises ProbeRefused: the host is not the test environment (nothing was sent).
    """
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    conn = NextSignHook.get_connection(conn_id)
    report = probe(
        NextSignHook.client_kwargs(conn),
        form_id=form_id,
        allow_production=allow_production,
        state_dir=state_dir,
        progress=None if quiet else progress or sys.stderr,
    )
    stream = out or sys.stdout
    stream.write(render_table(report))
    stream.flush()
    if json_file:
        report.write_json(json_file)
    return report.to_dict()
