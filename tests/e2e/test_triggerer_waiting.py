"""Waiting inside a real triggerer: airflow standalone, four deferred sensors, a restart mid-wait.

Each waiter gets its own outcome: the slow one (one look an hour) is read along with the fast one and
succeeds long before its hour; the denied one fails without retries; the missing one fails as deleted
once its grace window passed, without retries; the fast one, still deferred when the whole Airflow
stops, is signed after it restarts and succeeds. Every task's log names only its own case.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_nextsign.compat import API_SERVER_PLUGINS

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

pytestmark = [
    pytest.mark.skipif(not API_SERVER_PLUGINS.available, reason="needs Airflow 3 (standalone)"),
    pytest.mark.heavy,
]


def _states(home: Path) -> dict[str, tuple[str, int]]:
    from webhook_demo import AirflowDB

    rows = AirflowDB(home).query(
        "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ?", "nextsign_wait_mix"
    )
    return {task: (str(state), int(tries or 0)) for task, state, tries in rows}


def _registered(home: Path) -> bool:
    from webhook_demo import AirflowDB

    return bool(AirflowDB(home).query("SELECT 1 FROM dag WHERE dag_id = ?", "nextsign_wait_mix"))


def _trigger(home: Path, env: dict[str, str]) -> None:
    import subprocess

    full = {**os.environ, **env, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags")}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "trigger", "nextsign_wait_mix"],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def _wait(what: str, check, seconds: float, home: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    log = (home / "standalone.log").read_text(errors="replace")[-4000:]
    raise AssertionError(f"timed out waiting for {what}: {_states(home)}\n{log}")


def test_each_deferred_waiter_gets_its_own_outcome_across_a_restart(tmp_path, monkeypatch):
    from _standalone import standalone

    for key in [k for k in os.environ if k.startswith("AIRFLOW")]:  # this test session's own Airflow
        monkeypatch.delenv(key)

    from nextsign_sandbox.server import SandboxServer

    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "e2e" / "triggerer_dags" / "nextsign_wait_mix.py", home / "dags")
    with SandboxServer(0, requests_per_minute=6000) as sandbox:
        fast, slow, denied = sandbox.seed_cases(3)
        cases = {"fast": fast, "slow": slow, "denied": denied, "missing": "0000000000000000000000aa"}
        env = {
            "AIRFLOW_CONN_NEXTSIGN_DEFAULT": sandbox.connection_json,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__NEXTSIGN__MIN_POLL_INTERVAL": "1",
            "NEXTSIGN_WAIT_CASES": json.dumps(cases),
        }
        deferred = {"wait_fast", "wait_slow", "wait_denied"}
        with standalone(home, env):
            _wait("the DAG to be registered", lambda: _registered(home), 180, home)
            _trigger(home, env)
            _wait(
                "three sensors deferred",
                lambda: deferred <= {t for t, (s, _) in _states(home).items() if s == "deferred"},
                240,
                home,
            )
            # Let the executor report the deferrals first: Airflow 3.3's LocalExecutor takes a trigger
            # that fires within a second or two of its deferral for a task that changed state
            # externally, and retries it (not what this test is about).
            time.sleep(10)
            sandbox.sign(slow)
            sandbox.deny(denied)
            _wait(
                "the slow, denied and missing waits to end",
                lambda: (
                    _states(home).get("wait_denied", ("",))[0] == "failed"
                    and _states(home).get("wait_slow", ("",))[0] == "success"
                    and _states(home).get("wait_missing", ("",))[0] == "failed"
                ),
                90,
                home,
            )
        # Airflow is down: the fast wait is still deferred. It resumes when Airflow is back.
        assert _states(home)["wait_fast"][0] == "deferred"
        with standalone(home, env):
            time.sleep(5)
            sandbox.sign(fast)
            _wait(
                "the fast wait to succeed",
                lambda: _states(home).get("wait_fast", ("",))[0] == "success",
                120,
                home,
            )

    states = _states(home)
    assert states["wait_denied"] == ("failed", 1)  # no retry: a denied case stays denied
    assert states["wait_missing"][0] == "failed" and states["wait_missing"][1] == 1
    logs = {path: path.read_text(errors="replace") for path in (home / "logs").rglob("*.log")}
    for name in cases:
        own = [text for path, text in logs.items() if f"task_id=wait_{name}" in str(path)]
        assert own, f"no log for wait_{name}"
        others = [c for other, c in cases.items() if other != name]
        for text in own:
            assert not [c for c in others if c in text], f"wait_{name}'s log names another task's case"
    assert any("is denied" in text for path, text in logs.items() if "task_id=wait_denied" in str(path))
