"""The referenceId lookup on a large account: requests and memory of one lookup (issue 14).

A sandbox account holds 50,000 cases created a year ago, 200 of them still pending. A create whose
answer is lost then looks its case up by referenceId. The lookup reads only what a just-created case
can be (pending first, created since the attempt started), skips older pages of an oldest-first list,
and stops at the first match. Measured: requests (the sandbox's own count) and the lookup's peak
Python memory, for the case found, and for the complete "absent" verdict over every status.
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

TARGET_REQUESTS = 10
TARGET_MEMORY_MB = 50.0
RECIPIENTS = [{"name": "Jane Doe", "email": "jane@example.com", "signing": True}]


def _measure(sandbox: Any, client: Any, reference_id: str, since: datetime) -> dict[str, Any]:
    sandbox.reset_stats()
    tracemalloc.start()
    try:
        found = client.find_case_by_reference(reference_id, since=since, title="Lease")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "found": found is not None,
        "requests": sandbox.stats()["requests"],
        "peak_mb": round(peak / 2**20, 2),
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One lookup that finds the new case, and one that proves it absent, on a 50,000-case account."""
    from airflow_provider_nextsign.api.client import NextSignClient
    from nextsign_sandbox.server import SandboxServer

    total, pending = (5_000, 200) if quick else (50_000, 200)
    # auto_expire off: a year-old pending case would otherwise expire at once (its window is 10 days).
    with SandboxServer(0, profile="docs", rate_limit=False, auto_expire=False) as sandbox:
        sandbox.seed_cases(total - pending, status="signed", age_days=365)
        sandbox.seed_cases(pending, age_days=365)
        client = NextSignClient(
            sandbox.company_id, sandbox.api_key, host=sandbox.url, requests_per_minute=1e9
        )
        since = datetime.now(UTC) - timedelta(minutes=10)  # the attempt's start, less the clock-skew margin
        created = client.create_case(
            title="Lease",
            recipients=RECIPIENTS,
            documents=[{"name": "a.pdf", "file": _pdf(), "fileIsBlob": True}],
            settings={},
            referenceId="airflow:bench:create:manual__1",
        )
        found = _measure(sandbox, client, "airflow:bench:create:manual__1", since)
        absent = _measure(sandbox, client, "airflow:bench:create:manual__2", since)
        client.close()
    assert found["found"] and created
    label = f"{total:,} cases, {pending} pending"
    return [
        {
            "figure": f"lookup by referenceId, {label}: found, {found['peak_mb']} MB",
            "measured": found["requests"],
            "unit": "requests",
            "target": f"<= {TARGET_REQUESTS}, < {TARGET_MEMORY_MB:.0f} MB",
            "met": found["requests"] <= TARGET_REQUESTS and found["peak_mb"] < TARGET_MEMORY_MB,
            "details": found,
        },
        {
            "figure": f"lookup by referenceId, {label}: absent (all statuses, twice), {absent['peak_mb']} MB",
            "measured": absent["requests"],
            "unit": "requests",
            "target": f"reported; < {TARGET_MEMORY_MB:.0f} MB",
            "met": not absent["found"] and absent["peak_mb"] < TARGET_MEMORY_MB,
            "details": absent,
        },
    ]


def _pdf() -> str:
    import base64

    return base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
