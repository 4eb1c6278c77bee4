"""The acceptance check for real: airflow standalone with the receiver, the sandbox, 3 signed cases."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "webhook_demo.py"


@pytest.mark.skipif(
    importlib.metadata.version("apache-airflow").startswith("2."),
    reason="the webhook receiver and asset-scheduled DAGs need Airflow 3",
)
def test_three_signed_cases_with_duplicate_deliveries_start_exactly_three_runs(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env["NEXTSIGN_WEBHOOK_DEMO_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    log = tmp_path / "home" / "standalone.log"
    assert result.returncode == 0, output[-4000:] + (log.read_text()[-4000:] if log.exists() else "")
    assert "webhook deliveries: 9 (9 x HTTP 200)" in output
    assert "DAG runs:           3" in output
    assert "-> exactly 3 runs, one per case." in output
