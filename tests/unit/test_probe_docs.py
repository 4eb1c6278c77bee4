"""docs/live-api.md shows exactly the probe's assumptions; the account page every verdict and key."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from airflow_provider_nextsign.api.settings import ApiProfile
from airflow_provider_nextsign.probe.assumptions import ASSUMPTIONS, Verdict

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _row(assumption) -> str:
    variants = "; ".join(assumption.known_variants) or "none known"
    name = f"`{assumption.id}`" + ("" if assumption.checked else " (not probed)")
    return (
        f"| {name} | {assumption.evidence} | {assumption.endpoint} | {assumption.assumed} | {variants} | "
        f"{assumption.copes} |"
    )


def test_the_live_api_page_shows_every_assumption_as_the_probe_checks_it():
    page = (DOCS / "live-api.md").read_text(encoding="utf-8")
    section = page.split("## Our assumptions", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]

    assert rows == [_row(a) for a in ASSUMPTIONS]


def test_the_account_page_explains_every_verdict_and_every_api_profile_key():
    page = (DOCS / "check-your-account.md").read_text(encoding="utf-8")

    assert all(f"| `{verdict.value}` |" in page for verdict in Verdict)
    assert all(f"| `{field.name}` |" in page for field in fields(ApiProfile))
