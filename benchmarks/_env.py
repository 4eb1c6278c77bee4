"""The environment every benchmark runs in: a throwaway Airflow home and request-budget state."""

from __future__ import annotations

import os
import tempfile


def isolate_airflow() -> None:
    """A throwaway Airflow home and request-budget state, set before anything imports airflow."""
    defaults = {
        "AIRFLOW_HOME": lambda: tempfile.mkdtemp(prefix="nextsign-bench-airflow-"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": lambda: "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": lambda: "WARNING",
        "NEXTSIGN_RATE_LIMIT_DIR": lambda: tempfile.mkdtemp(prefix="nextsign-bench-budget-"),
        # The waiting benchmark polls every 0.2 s on a time-scaled sandbox: below the 5 s default floor.
        "AIRFLOW__NEXTSIGN__MIN_POLL_INTERVAL": lambda: "0.01",
    }
    for name, value in defaults.items():
        if not os.environ.get(name):  # unset or empty
            os.environ[name] = value()
