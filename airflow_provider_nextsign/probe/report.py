"""The probe's findings: one row per request, one verdict per assumption; as a table and as JSON.

Nothing here holds a value from a NextSign answer: rows carry HTTP statuses, key names, item shapes
and times; verdict details are the probe's own words (see :mod:`.redaction`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_nextsign import __version__
from airflow_provider_nextsign.probe.assumptions import ASSUMPTIONS, Verdict
from airflow_provider_nextsign.probe.transport import MAX_REQUESTS

__all__ = ["Finding", "ProbeReport", "Row", "render_table"]


@dataclass
class Row:
    """One request of the probe.

    :param check: which step sent it (``case_get+2s``, ``convert_v1``...).
    :param endpoint: the NextSign endpoint.
    :param status: the HTTP status (None: no answer, or not sent).
    :param envelope: the top-level keys of the answer.
    :param items: the shape of the case items in it (``summary``, ``full``, ``keys: ...``), if any.
    :param seconds: time to the answer.
    :param outcome: ``ok``, the provider's error class, or why nothing was sent.
    :param shape: the key structure of the answer, without values.
    :param verdicts: assumption id -> verdict, for the assumptions this answer showed.
    """

    check: str
    endpoint: str
    status: int | None
    envelope: list[str]
    items: str | None
    seconds: float
    outcome: str
    shape: str
    verdicts: dict[str, str] = field(default_factory=dict)


@dataclass
class Finding:
    """The verdict on one assumption, with what was seen (in the probe's words)."""

    assumption: str
    verdict: Verdict
    detail: str


@dataclass
class ProbeReport:
    """Everything one probe run found."""

    hosts: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    findings: dict[str, Finding] = field(default_factory=dict)
    api_profile: dict[str, str] = field(default_factory=dict)
    cleanup: dict[str, Any] = field(default_factory=dict)
    interrupted: str | None = None
    aborted: str | None = None
    requests: int = 0

    def finding(self, assumption_id: str) -> Finding:
        """The finding on one assumption (``not checked``, "not reached", when none was reached)."""
        found = self.findings.get(assumption_id)
        return found if found else Finding(assumption_id, Verdict.NOT_CHECKED, "not reached")

    def verdict(self, assumption_id: str) -> Verdict:
        """The verdict on one assumption (``not checked`` when none was reached)."""
        return self.finding(assumption_id).verdict

    def differences(self) -> dict[str, str]:
        """The assumptions this account answers differently: id -> ``differs`` or ``new``."""
        return {
            a.id: self.verdict(a.id).value
            for a in ASSUMPTIONS
            if self.verdict(a.id) in (Verdict.DIFFERS, Verdict.NEW)
        }

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``--json FILE`` writes)."""
        assumptions = []
        for item in ASSUMPTIONS:
            found = self.finding(item.id)
            assumptions.append(
                {
                    "id": item.id,
                    "evidence": item.evidence,
                    "endpoint": item.endpoint,
                    "verdict": found.verdict.value,
                    "detail": found.detail,
                }
            )
        return {
            "probe": "airflow-provider-nextsign probe",
            "provider_version": __version__,
            "hosts": dict(self.hosts),
            "requests": {"sent": self.requests, "cap": MAX_REQUESTS},
            "interrupted": self.interrupted,
            "aborted": self.aborted,
            "checks": [
                {
                    "check": row.check,
                    "endpoint": row.endpoint,
                    "http_status": row.status,
                    "envelope": row.envelope,
                    "items": row.items,
                    "seconds": round(row.seconds, 3),
                    "outcome": row.outcome,
                    "shape": row.shape,
                    "verdicts": dict(row.verdicts),
                }
                for row in self.rows
            ],
            "assumptions": assumptions,
            "differences": self.differences(),
            "api_profile": dict(self.api_profile),
            "cleanup": dict(self.cleanup),
        }

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    return lines


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(report: ProbeReport) -> str:
    """The report as plain-text tables: the requests, then the verdict on every assumption."""
    requests = [
        [
            row.check,
            row.endpoint,
            "-" if row.status is None else str(row.status),
            _cut(",".join(row.envelope) or "-", 34),
            _cut(row.items or "-", 30),
            f"{row.seconds:.2f}s",
            "; ".join(f"{k}: {v}" for k, v in row.verdicts.items()) or row.outcome,
        ]
        for row in report.rows
    ]
    lines = [
        f"NextSign probe of {report.hosts.get('api', '?')} (files: {report.hosts.get('files', '?')}), "
        f"{report.requests} of at most {MAX_REQUESTS} requests",
        "",
        *_table(["check", "endpoint", "HTTP", "envelope keys", "items", "time", "verdicts"], requests),
        "",
    ]
    verdicts = []
    for item in ASSUMPTIONS:
        found = report.finding(item.id)
        verdicts.append([item.id, item.evidence, found.verdict.value, found.detail])
    lines += _table(["assumption", "evidence", "verdict", "what the probe saw"], verdicts)
    lines.append("")
    differences = report.differences()
    lines.append(
        "Differences from docs/live-api.md: "
        + (", ".join(f"{k} ({v})" for k, v in differences.items()) if differences else "none")
    )
    if report.api_profile:
        lines.append(f"api_profile for the connection extra: {json.dumps(report.api_profile)}")
    cleanup = report.cleanup
    if cleanup:
        left = cleanup.get("left") or []
        lines.append(
            f"Clean-up: created {cleanup.get('created', 0)}, deleted {cleanup.get('deleted', 0)}, "
            f"swept from earlier runs {cleanup.get('swept', 0)}"
            + (f"; LEFT BEHIND {len(left)} (the next probe run retries)" if left else "")
        )
    if report.aborted:
        lines.append(f"Stopped early: {report.aborted}")
    if report.interrupted:
        lines.append(f"Interrupted by {report.interrupted}; the clean-up ran.")
    return "\n".join(lines) + "\n"
