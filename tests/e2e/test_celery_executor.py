"""The provider on Airflow's CeleryExecutor, end to end, with one request budget across hosts.

A real deployment (tests/e2e/_celery_cluster.py): PostgreSQL metadata DB, Redis broker, API server,
scheduler, DAG processor, triggerer and two Celery workers, each worker and the triggerer a simulated
host with its own budget directory and TMPDIR. The DAG (celery_dags/) submits 8 mapped forms, waits for
the signatures in the triggerer (deferrable sensor) and stores the signed PDFs, against a sandbox that
allows 10 requests per API minute: the DAG asks for more than 3x that.

Run twice in one deployment: through the connection whose extra names the Redis connection (every case
signed and stored, one case per submission, 0 x 429), and through one without it, whose 429s are reported
beside. Needs NEXTSIGN_TEST_POSTGRES_URI and Redis (``.ci/run`` starts both); Airflow 3 only.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from tests.e2e._celery_cluster import CeleryCluster

POSTGRES_URI = os.environ.get("NEXTSIGN_TEST_POSTGRES_URI")
pytestmark = [
    pytest.mark.heavy,
    pytest.mark.skipif(
        not AIRFLOW_V_3_0_PLUS,
        reason="the CeleryExecutor end-to-end test runs the Airflow 3 deployment (API server, DAG processor)",
    ),
    pytest.mark.skipif(
        not POSTGRES_URI,
        reason="the CeleryExecutor test needs PostgreSQL: set NEXTSIGN_TEST_POSTGRES_URI "
        "(scripts/ci_postgres.sh starts one)",
    ),
]

DAG_FILE = Path(__file__).resolve().parent / "celery_dags" / "nextsign_celery_contracts.py"
DAG_ID = "nextsign_celery_contracts"
SUBMISSIONS = 8
LIMIT = 10  # requests per API minute the sandbox accepts
TIME_SCALE = 6  # one API minute = 10 real seconds
# The budget's 1% safety margin is 0.6 s of slack in NextSign's real 60-s window. Compressed six
# times, the same scheduling jitter on a busy CI machine (a request granted on time but handled late by
# the sandbox) needs six times the margin: the connections here budget 90% of the sandbox's limit.
# Two hosts without Redis still ask for 180% of it.
HEADROOM = 0.9
BROKER_DB, BUDGET_DB = 1, 2  # one Redis for both, as a Celery deployment would reuse its broker


@pytest.fixture
def metadata_db():
    """A fresh PostgreSQL database for Airflow's metadata, dropped afterwards."""
    import sqlalchemy

    name = f"airflow_celery_{uuid.uuid4().hex[:8]}"
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


@pytest.mark.nextsign_sandbox(requests_per_minute=LIMIT, time_scale=TIME_SCALE, sign_after=1.0)
def test_celery_workers_on_two_hosts_share_one_budget(
    nextsign_sandbox, metadata_db, redis_url, tmp_path, request, capsys
):
    import sqlalchemy

    from airflow_provider_nextsign.api.ratelimit_redis import RedisSettings

    redis = RedisSettings.from_url(redis_url)
    conn = nextsign_sandbox.connection
    conn = {**conn, "extra": {**conn["extra"], "requests_per_minute": LIMIT * TIME_SCALE * HEADROOM}}
    redis_conn = {"conn_type": "redis", "host": redis.host, "port": redis.port, "extra": {"db": BUDGET_DB}}
    if redis.password:
        redis_conn.update(login=redis.username or "", password=redis.password)
    output = tmp_path / "signed"
    cluster = CeleryCluster(
        home=tmp_path / "airflow",
        metadata_url=metadata_db,
        broker_url=redis_url.rsplit("/", 1)[0] + f"/{BROKER_DB}",
        connections={
            "AIRFLOW_CONN_NEXTSIGN_REDIS": json.dumps(
                {**conn, "extra": {**conn["extra"], "redis_conn_id": "budget_redis"}}
            ),
            "AIRFLOW_CONN_NEXTSIGN_HOSTS": json.dumps(conn),
            "AIRFLOW_CONN_BUDGET_REDIS": json.dumps(redis_conn),
        },
        extra_env={
            "NEXTSIGN_FORM_ID": nextsign_sandbox.form_id,
            "NEXTSIGN_E2E_SUBMISSIONS": str(SUBMISSIONS),
            "NEXTSIGN_E2E_OUTPUT": str(output),
        },
    )
    shutil.copy(DAG_FILE, cluster.home / "dags")
    cluster.airflow("db", "migrate", timeout=600)
    engine = sqlalchemy.create_engine(metadata_db)
    runs: dict[str, dict[str, Any]] = {}
    try:
        cluster.start()
        cluster.wait_for("the DAG processor to register the DAG", lambda: _dag_ready(engine), 240)
        for conn_id in ("nextsign_redis", "nextsign_hosts"):
            time.sleep(60 / TIME_SCALE)  # start each run on an empty rate-limit window
            runs[conn_id] = _run(cluster, engine, nextsign_sandbox, conn_id, output)
    finally:
        cluster.stop()
        engine.dispose()
    leftovers = cluster.leftovers()

    for conn_id, run in runs.items():
        line = (
            f"CeleryExecutor e2e, {'with Redis' if conn_id == 'nextsign_redis' else 'without Redis'}: "
            f"run {run['state']} in {run['seconds']:.0f} s, {run['stats']['requests']} requests, "
            f"{run['stats']['by_status'].get('429', 0)} x 429, {len(run['cases'])} cases, {run['pdfs']} PDFs"
        )
        with capsys.disabled():  # in the test log, with or without -s
            print(f"\n{line}", flush=True)
        request.node.user_properties.append((conn_id, line))

    assert leftovers == {}, f"processes left after stop: {leftovers}"
    shared = runs["nextsign_redis"]
    assert shared["state"] == "success", shared["failure"]
    assert shared["stats"]["requests"] >= 3 * LIMIT  # the DAG asks for 3x what the sandbox allows
    assert shared["stats"]["by_status"].get("429", 0) == 0, shared["stats"]
    emails = collections.Counter(r["email"] for case in shared["cases"] for r in case["recipients"])
    assert emails == {f"signer{n}@example.com": 1 for n in range(SUBMISSIONS)}  # one case per submission
    assert all(case["state"] == "signed" for case in shared["cases"])
    assert shared["pdfs_per_case"] == dict.fromkeys((c["_id"] for c in shared["cases"]), True)
    logs = {str(path): path.read_text(errors="replace") for path in cluster.home.rglob("*.log")}
    assert not [p for p, text in logs.items() if "is unreachable" in text]  # Redis served every token
    redis_run = {p: text for p, text in logs.items() if f"run_id={shared['run_id']}" in p}
    through_redis = [p for p, text in redis_run.items() if "through Redis at" in text]
    assert sum("task_id=submit" in p for p in through_redis) == SUBMISSIONS  # every task on the workers
    assert sum("task_id=store" in p for p in through_redis) == SUBMISSIONS
    # ...and the deferred wait: its first look on a worker. The triggerer's shared poller runs in a
    # context of its own, so its INFO budget line lands in no task's log; a fallback from Redis would
    # be a WARNING in the triggerer's own log, and the check above finds none in any log.
    assert any("task_id=wait" in p for p in through_redis)


def _dag_ready(engine: Any) -> bool:
    import sqlalchemy

    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sqlalchemy.text("SELECT 1 FROM dag WHERE dag_id = :d AND NOT is_paused"), {"d": DAG_ID}
            ).fetchall()
    except sqlalchemy.exc.DBAPIError:  # tables not there yet
        return False
    return bool(rows)


def _run(cluster: CeleryCluster, engine: Any, sandbox: Any, conn_id: str, output: Path) -> dict[str, Any]:
    """Trigger one run through ``conn_id``, wait for its end; what the sandbox and the disk show."""
    import sqlalchemy

    from airflow_provider_nextsign.api.cases import case_state

    run_id = f"e2e_{conn_id}_{uuid.uuid4().hex[:6]}"
    sandbox.reset_stats()
    started = time.monotonic()
    cluster.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps({"conn_id": conn_id}))

    def finished() -> str | None:
        with engine.connect() as conn:
            state = conn.execute(
                sqlalchemy.text("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r"),
                {"d": DAG_ID, "r": run_id},
            ).scalar()
        return state if state in ("success", "failed") else None

    state = cluster.wait_for(f"run {run_id} to finish", finished, 420)
    seconds = time.monotonic() - started
    with engine.connect() as conn:
        tasks = conn.execute(
            sqlalchemy.text(
                "SELECT task_id, map_index, state FROM task_instance WHERE run_id = :r ORDER BY 1, 2"
            ),
            {"r": run_id},
        ).fetchall()
    title = f"Celery e2e {conn_id}"
    cases = [
        {**case, "state": case_state(case).value} for case in sandbox.cases() if case.get("title") == title
    ]
    pdfs = {c["_id"]: any((output / conn_id / c["_id"]).glob("*.pdf")) for c in cases}
    return {
        "run_id": run_id,
        "state": state,
        "seconds": seconds,
        "stats": sandbox.stats(),
        "cases": cases,
        "pdfs": sum(len(list((output / conn_id / c["_id"]).glob("*.pdf"))) for c in cases),
        "pdfs_per_case": pdfs,
        "failure": "" if state == "success" else f"tasks: {tasks}\n{cluster.log_tails()}",
    }
