"""A live conformance probe: how a NextSign account answers, compared with what the provider assumes.

``python -m airflow_provider_nextsign.probe --conn-id nextsign_test`` (or :func:`run_probe` from Python
or an Airflow task) calls each NextSign endpoint once through the provider's own client, against the
test environment only unless told otherwise, and prints a verdict per assumption of
:data:`~.assumptions.ASSUMPTIONS` (``docs/live-api.md``): matches, differs, new or not checked. It
creates one marked case and always deletes it, spends at most 30 requests, and prints key names only.
"""

from __future__ import annotations

from airflow_provider_nextsign.probe.assumptions import ASSUMPTIONS, Assumption, Verdict
from airflow_provider_nextsign.probe.guard import ProbeRefused
from airflow_provider_nextsign.probe.report import ProbeReport, render_table
from airflow_provider_nextsign.probe.runner import probe, run_probe

__all__ = [
    "ASSUMPTIONS",
    "Assumption",
    "ProbeRefused",
    "ProbeReport",
    "Verdict",
    "probe",
    "render_table",
    "run_probe",
]
