"""pytest plugin (entry point ``pytest11``) offering the ``nextsign_sandbox`` fixture.

Importing this module must stay cheap and must not import airflow: pytest loads it before
any conftest has set ``AIRFLOW_HOME``. FastAPI and uvicorn are imported only when the fixture runs.

Usage::

    @pytest.mark.nextsign_sandbox(sign_after=0.5, requests_per_minute=1000, time_scale=60)
    def test_my_dag(nextsign_sandbox):
        case_id = ...
        nextsign_sandbox.sign(case_id)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

MARKER = "nextsign_sandbox"
#: Environment variable naming the default answer profile of the fixture's sandbox.
PROFILE_ENV = "NEXTSIGN_SANDBOX_PROFILE"
#: A fixture a test may request (and parametrize) to choose the sandbox's answer profile.
PROFILE_FIXTURE = "nextsign_sandbox_profile"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``nextsign_sandbox`` marker."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**kwargs): options of the nextsign_sandbox fixture "
        "(sign_after, requests_per_minute, time_scale, state_file, profile, and any SandboxServer.configure "
        "setting)",
    )


@pytest.fixture
def nextsign_sandbox(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A running ``SandboxServer`` on a free port; ``AIRFLOW_CONN_NEXTSIGN_DEFAULT`` points at it.

    Signing is on demand (``sign_after=None``) unless the marker says otherwise. The answer profile
    (``docs``, ``production`` or ``rich``) comes from, last wins: ``NEXTSIGN_SANDBOX_PROFILE``, a
    ``nextsign_sandbox_profile`` fixture the test requests (parametrize it to run a test once per
    profile), the marker's ``profile``.
    """
    from nextsign_sandbox.server import SandboxServer

    options: dict[str, Any] = {"sign_after": None}
    profile = os.environ.get(PROFILE_ENV)
    if PROFILE_FIXTURE in request.fixturenames:
        profile = request.getfixturevalue(PROFILE_FIXTURE)
    if profile:
        options["profile"] = profile
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        options.update(marker.kwargs)
    server = SandboxServer(0, **options)
    server.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", server.connection_json)
        yield server
    finally:
        server.stop()
