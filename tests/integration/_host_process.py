"""One process of a simulated host: reads through ``NextSignHook`` with the host's own budget directory.

Forked by ``multiprocessing`` from the cross-host budget test; the environment (connections, the
host's ``NEXTSIGN_RATE_LIMIT_DIR`` and ``TMPDIR``) is set before a hook or a budget is built.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any


def read_forms(env: dict[str, str], form_id: str, count: int, barrier: Any, results: Any) -> None:
    """Make ``count`` Forms Get reads after every process is ready; put what happened on ``results``."""
    os.environ.update(env)
    tempfile.tempdir = None  # read TMPDIR again: each host has its own
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    hook = NextSignHook()
    budget = hook.get_conn().budget
    failures: list[str] = []
    barrier.wait(timeout=180)
    for _ in range(count):
        try:
            hook.get_form(form_id)
        except Exception as err:  # reported, never raised: the parent asserts on the counts
            failures.append(f"{type(err).__name__}: {err}")
    results.put({"budget": type(budget).__name__, "stats": budget.stats, "failures": failures})
