"""A probe stopped mid-way leaves no case: a signal runs its clean-up, SIGKILL's leftover goes next start.

The probe runs as ``python -m airflow_provider_nextsign.probe`` in a subprocess against the sandbox of this
test; a ``slow`` fault holds its Get Multiple (after its case exists) while the signal arrives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_nextsign.probe import run_probe
from airflow_provider_nextsign.probe.document import MARKER

FAST = pytest.mark.nextsign_sandbox(requests_per_minute=6000)


def _marked(sandbox) -> list[dict]:
    return [case for case in sandbox.cases() if str(case.get("title", "")).startswith(MARKER)]


def _start_probe(tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_nextsign.probe",
            "--conn-id",
            "nextsign_default",
            "--state-dir",
            str(tmp_path / "state"),
            "--json",
            str(tmp_path / "probe.json"),
        ],
        stdout=(tmp_path / "stdout.txt").open("w"),
        stderr=(tmp_path / "stderr.txt").open("w"),
        env=dict(os.environ),
    )


def _start_held_probe(sandbox, tmp_path: Path) -> subprocess.Popen:
    """Start the probe and return once it waits inside Get Multiple, its case created."""
    sandbox.inject_fault("cases_get_multiple", "slow", seconds=60)
    proc = _start_probe(tmp_path)
    deadline = time.monotonic() + 120
    while not sandbox.sandbox.sleeping:  # the held Get Multiple
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError((tmp_path / "stderr.txt").read_text()[-3000:])
        time.sleep(0.05)
    assert len(_marked(sandbox)) == 1
    return proc


@FAST
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_way_deletes_the_probe_case(nextsign_sandbox, tmp_path, signum):
    proc = _start_held_probe(nextsign_sandbox, tmp_path)

    proc.send_signal(signum)
    code = proc.wait(timeout=60)

    assert code == 128 + signum, (tmp_path / "stderr.txt").read_text()[-3000:]
    _assert_cleaned_up(nextsign_sandbox, tmp_path, signal.Signals(signum).name)


def _assert_cleaned_up(sandbox, tmp_path: Path, name: str) -> None:
    assert _marked(sandbox) == []
    assert list((tmp_path / "state").glob("probe-*.json")) == []
    report = json.loads((tmp_path / "probe.json").read_text())
    assert report["interrupted"] == name
    assert report["cleanup"]["deleted"] == report["cleanup"]["created"] == 1
    assert f"Interrupted by {name}; the clean-up ran." in (tmp_path / "stdout.txt").read_text()


@pytest.mark.nextsign_sandbox(requests_per_minute=6000, profile="production")
def test_sigterm_before_the_case_is_readable_deletes_it_once_it_is(nextsign_sandbox, tmp_path):
    """Production hides a new case for seconds, and its delete answers not-found meanwhile: asked again."""
    proc = _start_probe(tmp_path)
    deadline = time.monotonic() + 120
    while "case_get+0s" not in (tmp_path / "stderr.txt").read_text():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr.txt").read_text()
        time.sleep(0.05)

    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)

    assert code == 128 + signal.SIGTERM
    _assert_cleaned_up(nextsign_sandbox, tmp_path, "SIGTERM")
    deletes = [line for line in (tmp_path / "stderr.txt").read_text().splitlines() if "case_delete" in line]
    assert len(deletes) >= 2  # not found while hidden, then removed


@FAST
def test_a_case_left_by_sigkill_is_deleted_at_the_next_start(nextsign_sandbox, tmp_path):
    proc = _start_held_probe(nextsign_sandbox, tmp_path)

    proc.kill()
    proc.wait(timeout=30)
    (left,) = _marked(nextsign_sandbox)
    (ledger,) = (tmp_path / "state").glob("probe-*.json")
    assert json.loads(ledger.read_text())["cases"][0]["case_id"] == left["_id"]

    report = run_probe("nextsign_default", state_dir=tmp_path / "state", quiet=True)

    assert report["cleanup"]["swept"] == 1
    assert _marked(nextsign_sandbox) == []
    assert list((tmp_path / "state").glob("probe-*.json")) == []
