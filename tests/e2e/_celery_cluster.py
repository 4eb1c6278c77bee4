"""A real Airflow 3 deployment on the CeleryExecutor, on one machine: PostgreSQL metadata DB, Redis broker,
API server, scheduler, DAG processor, triggerer and two Celery workers.

Each worker (and the triggerer) is a simulated host: its own ``NEXTSIGN_RATE_LIMIT_DIR`` and ``TMPDIR``,
so the only budget they can share is the Redis one. Every process starts in a process group of its own;
:meth:`CeleryCluster.stop` ends each group and :meth:`CeleryCluster.leftovers` lists any process still
alive in them (read from ``/proc``, zombies excluded).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER_CONCURRENCY = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """One started Airflow command: its name, process and log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class CeleryCluster:
    """The deployment's settings and processes (``start`` / ``stop``)."""

    home: Path
    metadata_url: str  # postgresql+psycopg2://...
    broker_url: str  # redis://host:port/db
    connections: Mapping[str, str]  # AIRFLOW_CONN_<ID> -> JSON
    extra_env: Mapping[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = free_port()
        self.queue = f"nextsign-e2e-{secrets.token_hex(4)}"  # no stale task of an earlier run is picked up
        (self.home / "dags").mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NEXTSIGN_RATE"))}
        self.env: dict[str, str] = {
            **inherited,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.metadata_url}",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **dict(self.connections),
            **dict(self.extra_env),
        }

    # -- commands ------------------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run an ``airflow`` CLI command to completion; its output, or AssertionError with it."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{output[-4000:]}"
        return output

    def host_env(self, host: str) -> dict[str, str]:
        """The environment of a process on simulated host ``host``: its own budget directory and TMPDIR."""
        root = self.home / "hosts" / host
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        return {"NEXTSIGN_RATE_LIMIT_DIR": str(root / "nextsign-ratelimit"), "TMPDIR": str(root / "tmp")}

    def start(self) -> None:
        """Start API server, scheduler, DAG processor, triggerer and two Celery workers."""
        self._spawn("api-server", ["api-server", "--port", str(self.port), "--host", "127.0.0.1"], "api")
        self._spawn("scheduler", ["scheduler"], "scheduler")
        self._spawn("dag-processor", ["dag-processor"], "scheduler")
        self._spawn("triggerer", ["triggerer", "--skip-serve-logs"], "triggerer")
        for n in (1, 2):
            self._spawn(
                f"worker-{n}",
                [
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"worker{n}@nextsign-e2e",
                    "--concurrency",
                    str(WORKER_CONCURRENCY),
                    "--queues",
                    self.queue,
                    "--skip-serve-logs",
                    "--without-mingle",
                    "--without-gossip",
                ],
                f"worker-{n}",
            )
        self.wait_for("the API server", self._api_up, 240)

    def _spawn(self, name: str, args: list[str], host: str) -> None:
        log = self.home / "logs" / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env={**self.env, **self.host_env(host)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: stop() ends it with its children
            )
        self.services.append(Service(name, process, log))

    def _api_up(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/api/v2/monitor/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_for(self, what: str, check: Callable[[], Any], seconds: float) -> Any:
        """Poll ``check`` until it is truthy; fail with the log tails when time runs out or a service dies."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            dead = [s.name for s in self.services if s.process.poll() is not None]
            if dead:
                raise AssertionError(f"{', '.join(dead)} exited while waiting for {what}\n{self.log_tails()}")
            time.sleep(1)
        raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}\n{self.log_tails()}")

    def log_tails(self, chars: int = 2500) -> str:
        """The end of every service's log."""
        parts = []
        for service in self.services:
            text = service.log.read_text(errors="replace") if service.log.exists() else ""
            parts.append(f"--- {service.name} ({service.log}) ---\n{text[-chars:]}")
        return "\n".join(parts)

    # -- ending ----------------------------------------------------------------------------------------

    def stop(self, grace: float = 45.0) -> None:
        """SIGTERM every process group, wait, SIGKILL what is left; reap the group leaders."""
        for service in self.services:
            _signal_group(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive_in_group(s.process.pid) for s in self.services):
            for service in self.services:
                service.process.poll()
            time.sleep(0.5)
        for service in self.services:
            if alive_in_group(service.process.pid):
                _signal_group(service.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=10)

    def leftovers(self) -> dict[str, list[int]]:
        """Processes still alive in each service's process group (should be none after :meth:`stop`)."""
        found = {s.name: alive_in_group(s.process.pid) for s in self.services}
        return {name: pids for name, pids in found.items() if pids}


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def alive_in_group(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes whose process group is ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses: split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids
