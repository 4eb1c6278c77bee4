"""End-to-end fixtures: a migrated Airflow DB (once per session) and loading example DAGs from file."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"

# Airflow 2's unit-test config picks LocalExecutor, which dag.test() refuses on SQLite.
if not AIRFLOW_V_3_0_PLUS:
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> None:
    """Run ``airflow db migrate`` once, in a subprocess with this session's AIRFLOW_HOME."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture
def load_dag():
    """Return a loader: execute an example DAG file (environment already set) and return its ``dag``."""

    def load(file_name: str) -> Any:
        return runpy.run_path(str(EXAMPLE_DAGS / file_name), run_name=f"example_{Path(file_name).stem}")[
            "dag"
        ]

    return load


def state_of(dag_run: Any) -> str:
    """The dag run's state as a plain string on Airflow 2.11 and 3.x."""
    state = dag_run.state
    return str(getattr(state, "value", state))


@pytest.fixture
def run_state():
    """Return :func:`state_of` (fixtures keep test modules free of conftest imports)."""
    return state_of


@pytest.fixture(params=["docs", "production"])
def nextsign_sandbox_profile(request: pytest.FixtureRequest) -> str:
    """Run the requesting test once per sandbox profile: as documented, and as production was seen."""
    return str(request.param)
