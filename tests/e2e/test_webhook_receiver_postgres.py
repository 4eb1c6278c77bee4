"""Dedupe across API-server processes: two receiver processes on one PostgreSQL metadata database.

Airflow's API server runs several worker processes, so the recorder's process lock is not enough;
on PostgreSQL the row lock on the asset makes check-then-write atomic across processes. Needs
NEXTSIGN_TEST_POSTGRES_URI (``.ci/run`` starts a loopback PostgreSQL).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from airflow_provider_nextsign.compat import API_SERVER_PLUGINS

POSTGRES_URI = os.environ.get("NEXTSIGN_TEST_POSTGRES_URI")
REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.skipif(not API_SERVER_PLUGINS.available, reason=API_SERVER_PLUGINS.message()),
    pytest.mark.skipif(
        not POSTGRES_URI,
        reason="PostgreSQL test: set NEXTSIGN_TEST_POSTGRES_URI (scripts/ci_postgres.sh starts one)",
    ),
]


@pytest.fixture
def metadata_db():
    """A fresh PostgreSQL database for Airflow's metadata, dropped afterwards."""
    import sqlalchemy

    name = f"airflow_receiver_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(POSTGRES_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(POSTGRES_URI).set(drivername="postgresql+psycopg2", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "receiver process exited"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("receiver process did not start")


@pytest.mark.nextsign_sandbox()
def test_copies_spread_over_two_receiver_processes_record_one_event(nextsign_sandbox, metadata_db, tmp_path):
    import sqlalchemy

    secret = secrets.token_urlsafe(16)
    conn = json.loads(nextsign_sandbox.connection_json)
    conn["extra"] = {**conn.get("extra", {}), "webhook_secret": secret}
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
        "AIRFLOW_CONN_NEXTSIGN_DEFAULT": json.dumps(conn),
        "AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER": "True",
        "NEXTSIGN_COMPANY_ID": nextsign_sandbox.company_id,
        "PYTHONPATH": str(REPO),
    }
    for args in (["-m", "airflow", "db", "migrate"], ["-m", "tests.e2e._receiver_process", "register"]):
        done = subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    (case_id,) = nextsign_sandbox.seed_cases(1)
    nextsign_sandbox.sign(case_id)
    body = json.dumps({"trigger": "case_signed", "case": nextsign_sandbox.cases()[0]})
    ports = [free_port(), free_port()]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.e2e._receiver_process", "serve", str(port)], env=env, cwd=REPO
        )
        for port in ports
    ]
    try:
        for port, worker in zip(ports, workers, strict=True):
            wait_until_listening(port, worker)

        def deliver(i: int) -> str:
            answer = requests.post(
                f"http://127.0.0.1:{ports[i % 2]}/nextsign/webhooks",
                data=body,
                headers={"Content-Type": "application/json", "X-Webhook-Token": secret},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            return answer.json()["status"]

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = sorted(pool.map(deliver, range(32)))
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)

    assert statuses == ["duplicate"] * 31 + ["recorded"]
    engine = sqlalchemy.create_engine(metadata_db)
    with engine.connect() as db:
        count = db.execute(
            sqlalchemy.text(
                "SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = :uri"
            ),
            {"uri": f"nextsign://{nextsign_sandbox.company_id}/case_signed"},
        ).scalar()
    engine.dispose()
    assert count == 1
