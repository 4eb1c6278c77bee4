"""The Airflow CLI sees the provider and keeps the ``nextsign`` connection type."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

# One Fernet key for every CLI call, so what `add` encrypts `list` can decrypt.
_ENV = {**os.environ, "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode()}


def _airflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=_ENV, capture_output=True, text=True, timeout=300
    )


def _json_rows(stdout: str) -> list[dict]:
    """The JSON table the CLI prints, skipping any log lines around it."""
    (line,) = [line for line in stdout.splitlines() if line.startswith("[{")]
    return json.loads(line)


def test_providers_list_shows_the_package():
    result = _airflow("providers", "list", "--output", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    names = {p["package_name"] for p in _json_rows(result.stdout)}
    assert "airflow-provider-nextsign" in names


@pytest.mark.parametrize("conn_id", ["nextsign_cli_check"])
def test_connections_add_keeps_the_type(conn_id):
    added = _airflow(
        "connections",
        "add",
        conn_id,
        "--conn-type",
        "nextsign",
        "--conn-login",
        "6576e19662ec13c4faa7de7b",
        "--conn-password",
        "sk-cli-secret",
        "--conn-host",
        "https://test.nextsign.dk",
        "--conn-extra",
        json.dumps({"files_host": "https://api.nextsign.dk", "requests_per_minute": 100}),
    )
    assert added.returncode == 0, added.stderr[-2000:]
    # `connections get` reads secrets backends only in unit-test mode; `list` reads the metadata DB.
    listed = _airflow("connections", "list", "--output", "json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    types = {row["conn_id"]: row["conn_type"] for row in _json_rows(listed.stdout)}
    assert types[conn_id] == "nextsign"
