"""The acceptance check for real: airflow standalone with the receiver, the sandbox, 3 signed cases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_nextsign.compat import ASSET_STATE_STORE, PARTITIONED_ASSETS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "webhook_demo.py"


# One run per case needs partitions; the watcher demo reads the watcher's cursor from the state store.
@pytest.mark.skipif(not PARTITIONED_ASSETS.available, reason=PARTITIONED_ASSETS.message())
@pytest.mark.parametrize("profile", ["docs", "production"])
def test_three_signed_cases_with_duplicate_deliveries_start_exactly_three_runs(tmp_path, profile):
    output = run_demo(tmp_path, "webhook", profile)
    assert "webhook deliveries: 9 (9 x HTTP 200)" in output
    assert "DAG runs:           3" in output
    assert "-> exactly 3 runs, one per case." in output


@pytest.mark.skipif(not ASSET_STATE_STORE.available, reason=ASSET_STATE_STORE.message())
@pytest.mark.parametrize("profile", ["docs", "production"])
def test_asset_watcher_in_a_real_triggerer_reports_each_signed_case_once(tmp_path, profile):
    output = run_demo(tmp_path, "watcher", profile)
    assert "watcher cursor:     3 case id(s) reported, the signed ones among them: True" in output
    assert "signed PDFs:        3" in output
    assert "each stored once." in output


def run_demo(tmp_path, via: str, profile: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env["NEXTSIGN_WEBHOOK_DEMO_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--via", via, "--profile", profile],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    log = tmp_path / "home" / "standalone.log"
    assert result.returncode == 0, output[-4000:] + (log.read_text()[-4000:] if log.exists() else "")
    return output
