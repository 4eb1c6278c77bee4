"""Test-wide setup: an isolated Airflow home, set before anything imports airflow."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="nextsign-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "example_dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
# Each test session gets its own request-budget state, so runs never wait on each other's budgets.
# The shared poller's interval floor (default 5 s) would make every deferrable test wait; tests that
# check the floor set it themselves.
os.environ["AIRFLOW__NEXTSIGN__MIN_POLL_INTERVAL"] = "0.001"
os.environ["NEXTSIGN_RATE_LIMIT_DIR"] = tempfile.mkdtemp(prefix="nextsign-ratelimit-")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL for the cross-host budget tests (see tests/redis_server.py); skips without Redis."""
    from tests.redis_server import redis_url as start

    with start() as url:
        yield url
