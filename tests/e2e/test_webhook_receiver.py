"""The webhook receiver fed by real sandbox deliveries, recording asset events in a migrated Airflow DB."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_nextsign.compat import API_SERVER_PLUGINS, PARTITIONED_ASSETS

pytestmark = pytest.mark.skipif(not API_SERVER_PLUGINS.available, reason=API_SERVER_PLUGINS.message())
PARTITIONS = pytest.mark.skipif(not PARTITIONED_ASSETS.available, reason=PARTITIONED_ASSETS.message())

DAG_ID = "example_nextsign_case_signed_webhook"
HEADER = "X-Webhook-Token"
# Retries 2 API minutes apart arrive in 0.2 s; each successful delivery is sent twice more.
FAST = pytest.mark.nextsign_sandbox(time_scale=600, duplicates=2)


class LoseResponses:
    """ASGI wrapper: the app handles the first ``count`` requests, but NextSign sees a 503 instead."""

    def __init__(self, app: Any, count: int) -> None:
        self.app = app
        self.count = count

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.count <= 0:
            await self.app(scope, receive, send)
            return
        self.count -= 1

        async def drop(message: dict) -> None:
            return None

        await self.app(scope, receive, drop)
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": b"response lost"})


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port, as the API server would."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def api_server_app() -> Any:
    """A parent app with the plugin's sub-apps mounted the way the Airflow API server mounts them."""
    from fastapi import FastAPI

    from airflow_provider_nextsign.webhooks.plugin import NextSignWebhookPlugin, _apps

    _apps.cache_clear()
    parent = FastAPI()
    for sub in NextSignWebhookPlugin().fastapi_apps:
        parent.mount(sub["url_prefix"], sub["app"])
    assert parent.routes, "the plugin mounted nothing: is [nextsign] webhook_receiver on?"
    return parent


@pytest.fixture
def secret(nextsign_sandbox, monkeypatch) -> str:
    """A NextSign connection with a webhook secret, the receiver on, the example DAG registered."""
    value = secrets.token_urlsafe(16)
    conn = json.loads(nextsign_sandbox.connection_json)
    conn["extra"] = {**conn.get("extra", {}), "webhook_secret": value}
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER", "True")
    monkeypatch.setenv("NEXTSIGN_COMPANY_ID", nextsign_sandbox.company_id)
    register_example_dag()
    return value


def register_example_dag() -> None:
    """Parse the asset-scheduled example DAG into the DB (as the DAG processor does) and unpause it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    try:
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow 3.1 keeps them in airflow.models.dagbag
        from airflow.models.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    from tests.e2e.conftest import EXAMPLE_DAGS

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(EXAMPLE_DAGS / f"{DAG_ID}.py"))
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == DAG_ID).values(is_paused=False))


def events_on(uri: str) -> list[Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        rows = session.scalars(query.where(AssetModel.uri == uri)).all()
        session.expunge_all()
        return list(rows)


def create_dag_runs() -> list[Any]:
    """One pass of the scheduler's step that turns queued asset partitions into DAG runs."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    runner = SchedulerJobRunner(job=Job(), num_runs=1)
    with create_session() as session:
        runner._create_dagruns_for_partitioned_asset_dags(session)
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == DAG_ID)).all()
        session.expunge_all()
        return list(runs)


def wait_for_deliveries(sandbox, succeeded: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        deliveries = sandbox.webhook_deliveries()
        if sum(1 for d in deliveries if d["status_code"] == 200) >= succeeded:
            time.sleep(0.3)  # nothing more should come
            return sandbox.webhook_deliveries()
        assert time.monotonic() < deadline, deliveries
        time.sleep(0.05)


@PARTITIONS
@FAST
def test_three_signed_cases_with_lost_answers_and_duplicates_start_three_runs(nextsign_sandbox, secret):
    from airflow.models.asset import AssetPartitionDagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    case_ids = nextsign_sandbox.seed_cases(3)
    with serve(LoseResponses(api_server_app(), count=2)) as url:
        nextsign_sandbox.add_webhook(f"{url}/nextsign/webhooks", ["case_signed"], headers={HEADER: secret})
        for case_id in case_ids:
            nextsign_sandbox.sign(case_id)
        # 3 first answers (2 of them lost, so retried) + 2 duplicates each.
        deliveries = wait_for_deliveries(nextsign_sandbox, succeeded=3 + 3 * 2)

    assert sorted(d["status_code"] for d in deliveries if d["status_code"] != 200) == [503, 503]
    assert {d["case_id"] for d in deliveries if d["attempt"] == 2} <= set(case_ids)
    uri = f"nextsign://{nextsign_sandbox.company_id}/case_signed"
    events = events_on(uri)
    assert sorted(e.partition_key for e in events) == sorted(case_ids)
    assert sorted(e.extra["case_id"] for e in events) == sorted(case_ids)
    for event in events:
        assert event.extra["trigger"] == "case_signed"
        assert event.extra["dedupe_key"] == f"case_signed:{event.extra['case_id']}:{event.extra['updatedAt']}"
    with create_session() as session:
        queued = session.scalars(
            select(AssetPartitionDagRun.partition_key).where(AssetPartitionDagRun.target_dag_id == DAG_ID)
        ).all()
    assert sorted(set(queued) & set(case_ids)) == sorted(case_ids)
    assert len([key for key in queued if key in case_ids]) == 3

    runs = [run for run in create_dag_runs() if run.partition_key in case_ids]
    assert sorted(run.partition_key for run in runs) == sorted(case_ids)
    assert {str(run.run_type) for run in runs} == {"asset_triggered"}


@pytest.mark.skipif(PARTITIONED_ASSETS.available, reason="checks the receiver without partitions (3.1)")
@FAST
def test_without_partitions_signed_cases_record_one_event_each_and_queue_the_dag(nextsign_sandbox, secret):
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    case_ids = nextsign_sandbox.seed_cases(3)
    with serve(api_server_app()) as url:
        nextsign_sandbox.add_webhook(f"{url}/nextsign/webhooks", ["case_signed"], headers={HEADER: secret})
        for case_id in case_ids:
            nextsign_sandbox.sign(case_id)
        deliveries = wait_for_deliveries(nextsign_sandbox, succeeded=3 * 3)

    assert [d["status_code"] for d in deliveries] == [200] * 9  # each case delivered three times
    uri = f"nextsign://{nextsign_sandbox.company_id}/case_signed"
    events = events_on(uri)
    assert sorted(e.extra["case_id"] for e in events) == sorted(case_ids)  # duplicates recorded nothing
    assert not hasattr(AssetEvent, "partition_key")  # this Airflow has no partitions to give them
    with create_session() as session:
        queued = session.scalars(
            select(AssetDagRunQueue.target_dag_id)
            .join(AssetModel, AssetModel.id == AssetDagRunQueue.asset_id)
            .where(AssetModel.uri == uri)
        ).all()
    assert queued == [DAG_ID]  # the example DAG, on a plain asset schedule here, is queued to run


def post(url: str, body: Any, token: str | None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({HEADER: token} if token is not None else {})}
    return requests.post(url, data=data, headers=headers, timeout=10)


@pytest.mark.nextsign_sandbox(time_scale=600, max_attempts=2)
def test_wrong_secret_is_401_and_records_nothing(nextsign_sandbox, secret):
    (case_id,) = nextsign_sandbox.seed_cases(1)
    with serve(api_server_app()) as url:
        nextsign_sandbox.add_webhook(f"{url}/nextsign/webhooks", ["case_signed"], headers={HEADER: "guess"})
        nextsign_sandbox.sign(case_id)
        deadline = time.monotonic() + 10
        while len(nextsign_sandbox.webhook_deliveries()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        body = {"trigger": "case_signed", "case": nextsign_sandbox.cases()[0]}
        missing = post(f"{url}/nextsign/webhooks", body, None)
        right = post(f"{url}/nextsign/webhooks", body, secret)

    assert [d["status_code"] for d in nextsign_sandbox.webhook_deliveries()] == [401, 401]
    assert missing.status_code == 401
    assert missing.json() == {"message": f"missing or wrong {HEADER} header"}
    assert secret not in missing.text
    # The same body with the right secret is accepted: only the header was wrong.
    assert right.status_code == 200 and right.json()["status"] == "recorded"
    assert [
        e.extra["case_id"] for e in events_on(f"nextsign://{nextsign_sandbox.company_id}/case_signed")
    ] == [case_id]


@FAST
def test_malformed_bodies_are_400_and_record_nothing(nextsign_sandbox, secret):
    (case_id,) = nextsign_sandbox.seed_cases(1)
    case = nextsign_sandbox.cases()[0]
    bad = {
        b"{not json": "not JSON",
        json.dumps(["case_signed"]).encode(): "must be a JSON object",
        json.dumps({"trigger": "case_exploded", "case": case}).encode(): "'trigger' must be one of",
        json.dumps({"trigger": "case_signed"}).encode(): "needs a 'case' object",
        json.dumps({"trigger": "case_signed", "case": {"updatedAt": "x"}}).encode(): "'case._id'",
        json.dumps(
            {"trigger": "case_signed", "case": {"_id": case_id, "updatedAt": 5}}
        ).encode(): "'case.updatedAt'",
    }
    with serve(api_server_app()) as url:
        answers = {body: post(f"{url}/nextsign/webhooks", body, secret) for body in bad}
    for body, expected in bad.items():
        assert answers[body].status_code == 400, body
        assert expected in answers[body].json()["message"], answers[body].json()
    assert events_on(f"nextsign://{nextsign_sandbox.company_id}/case_signed") == []


@FAST
def test_routes_unknown_connection_missing_secret_and_unwatched_trigger(
    nextsign_sandbox, secret, monkeypatch
):
    (case_id,) = nextsign_sandbox.seed_cases(1)
    signed = {"trigger": "case_signed", "case": nextsign_sandbox.cases()[0]}
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_OTHER", os.environ["AIRFLOW_CONN_NEXTSIGN_DEFAULT"])
    conn = json.loads(nextsign_sandbox.connection_json)
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_NO_SECRET", json.dumps(conn))
    with serve(api_server_app()) as url:
        unknown = post(f"{url}/nextsign/webhooks/nope", signed, secret)
        no_secret = post(f"{url}/nextsign/webhooks/nextsign_no_secret", signed, secret)
        # case_denied: no DAG is scheduled on nextsign://<company>/case_denied.
        unwatched = post(f"{url}/nextsign/webhooks", {**signed, "trigger": "case_denied"}, secret)
        by_name = post(f"{url}/nextsign/webhooks/nextsign_other", signed, secret)
        again = post(f"{url}/nextsign/webhooks", signed, secret)

    # Unknown and secretless connections get the one 401 a wrong secret gets: nothing to probe.
    assert unknown.status_code == no_secret.status_code == 401
    assert unknown.json() == no_secret.json() == {"message": f"missing or wrong {HEADER} header"}
    assert unwatched.status_code == 200 and unwatched.json()["status"] == "no_asset"
    assert by_name.status_code == 200 and by_name.json()["status"] == "recorded"
    # Same company through the default route: the same delivery, so a duplicate.
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["key"] == f"case_signed:{case_id}:{signed['case']['updatedAt']}"
    assert len(events_on(f"nextsign://{nextsign_sandbox.company_id}/case_signed")) == 1


@PARTITIONS
@FAST
def test_events_carry_no_partition_key_when_partitioning_is_off(nextsign_sandbox, secret, monkeypatch):
    monkeypatch.setenv("AIRFLOW__NEXTSIGN__WEBHOOK_PARTITION_BY_CASE", "False")
    (case_id,) = nextsign_sandbox.seed_cases(1)
    with serve(api_server_app()) as url:
        answer = post(
            f"{url}/nextsign/webhooks",
            {"trigger": "case_signed", "case": nextsign_sandbox.cases()[0]},
            secret,
        )
    assert answer.json()["status"] == "recorded"
    (event,) = events_on(f"nextsign://{nextsign_sandbox.company_id}/case_signed")
    assert event.partition_key is None and event.extra["case_id"] == case_id


@pytest.mark.nextsign_sandbox(sign_after=None)
def test_example_dag_stores_the_signed_pdfs(nextsign_sandbox, load_dag, run_state, monkeypatch, tmp_path):
    monkeypatch.setenv("NEXTSIGN_COMPANY_ID", nextsign_sandbox.company_id)
    case_ids = nextsign_sandbox.seed_cases(2)
    for case_id in case_ids:
        nextsign_sandbox.sign(case_id)
    dag = load_dag(f"{DAG_ID}.py")
    run = dag.test(run_conf={"case_ids": case_ids, "destination": f"file://{tmp_path}/signed/"})

    assert run_state(run) == "success"
    pdfs = sorted((tmp_path / "signed").rglob("*.pdf"))
    assert sorted(p.parent.name for p in pdfs) == sorted(case_ids)
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)


@FAST
def test_concurrent_copies_of_one_delivery_record_one_event(nextsign_sandbox, secret):
    from concurrent.futures import ThreadPoolExecutor

    (case_id,) = nextsign_sandbox.seed_cases(1)
    nextsign_sandbox.sign(case_id)
    body = {"trigger": "case_signed", "case": nextsign_sandbox.cases()[0]}
    with serve(api_server_app()) as url, ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: post(f"{url}/nextsign/webhooks", body, secret), range(16)))

    statuses = sorted(answer.json()["status"] for answer in answers)
    assert statuses == ["duplicate"] * 15 + ["recorded"]
    assert len(events_on(f"nextsign://{nextsign_sandbox.company_id}/case_signed")) == 1


def test_record_asset_event_writes_once_per_dedupe_key_on_watched_uris_only(monkeypatch):
    from airflow_provider_nextsign.webhooks.asset_events import AssetEventOutcome, record_asset_event

    company = f"direct{secrets.token_hex(4)}"
    monkeypatch.setenv("NEXTSIGN_COMPANY_ID", company)
    register_example_dag()
    signed, denied = f"nextsign://{company}/case_signed", f"nextsign://{company}/case_denied"
    partition = "c1" if PARTITIONED_ASSETS.available else None

    first = record_asset_event(
        signed, {"case_id": "c1"}, dedupe_key="case_signed:c1:t1", partition_key=partition
    )
    again = record_asset_event(signed, {"case_id": "c1", "other": 1}, dedupe_key="case_signed:c1:t1")
    unwatched = record_asset_event(denied, {"case_id": "c1"}, dedupe_key="case_denied:c1:t1")

    assert first.status == "recorded" and len(first.event_ids) == 1
    assert again == AssetEventOutcome("duplicate", first.event_ids)
    assert unwatched == AssetEventOutcome("no_asset")
    (event,) = events_on(signed)
    assert event.id == first.event_ids[0]
    assert event.extra == {"case_id": "c1", "dedupe_key": "case_signed:c1:t1"}
    assert getattr(event, "partition_key", None) == partition
    assert events_on(denied) == []


@FAST
def test_oversized_bodies_are_413_with_or_without_content_length(nextsign_sandbox, secret):
    big = b'{"trigger": "case_signed", "case": {"_id": "x", "pad": "' + b"a" * 1_100_000 + b'"}}'
    headers = {"Content-Type": "application/json", HEADER: secret}
    with serve(api_server_app()) as url:
        sized = requests.post(f"{url}/nextsign/webhooks", data=big, headers=headers, timeout=10)
        chunked = requests.post(
            f"{url}/nextsign/webhooks",
            data=(big[i : i + 65536] for i in range(0, len(big), 65536)),
            headers=headers,
            timeout=10,
        )
    assert "content-length" not in {k.lower() for k in chunked.request.headers}
    assert (sized.status_code, chunked.status_code) == (413, 413)
    assert events_on(f"nextsign://{nextsign_sandbox.company_id}/case_signed") == []


@FAST
def test_the_allow_list_limits_the_connections_served(nextsign_sandbox, secret, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_OTHER", os.environ["AIRFLOW_CONN_NEXTSIGN_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_THIRD", os.environ["AIRFLOW_CONN_NEXTSIGN_DEFAULT"])
    monkeypatch.setenv("AIRFLOW__NEXTSIGN__WEBHOOK_ALLOWED_CONN_IDS", "nextsign_other, unused")
    nextsign_sandbox.seed_cases(1)
    signed = {"trigger": "case_signed", "case": nextsign_sandbox.cases()[0]}
    with serve(api_server_app()) as url:
        third = post(f"{url}/nextsign/webhooks/nextsign_third", signed, secret)
        other = post(f"{url}/nextsign/webhooks/nextsign_other", signed, secret)
        default = post(f"{url}/nextsign/webhooks", signed, secret)  # webhook_conn_id is always served
    assert third.status_code == 401
    assert other.json()["status"] == "recorded" and default.json()["status"] == "duplicate"


def _memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of a process, in KiB."""
    from pathlib import Path

    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(dict(line.split(":", 1) for line in lines)[field].split()[0])


def _reset_peak_rss(pid: int) -> int:
    """Restart the peak (VmHWM) from the current resident size (Linux); return that size in KiB."""
    from pathlib import Path

    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _memory_kib(pid, "VmRSS")


def _send_chunked(port: int, path: str, headers: dict[str, str], total: int) -> tuple[int | None, int]:
    """POST ``total`` bytes chunked, stopping once the server answers; return (status, bytes sent)."""
    import select

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    chunk = b'{"pad": "' + b"a" * (1 << 16) + b'"}'
    sent = 0
    with sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        while sent < total and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        else:
            if sent >= total:
                sock.sendall(b"0\r\n\r\n")
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            return None, sent
    return (int(answer.split(b" ", 2)[1]) if answer else None), sent


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc peak-RSS reset")
def test_large_chunked_bodies_cost_the_api_server_under_5_mb(nextsign_sandbox, secret, tmp_path):
    """64 MiB chunked bodies without, with a wrong and with the right secret, against a receiver process."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e._receiver_process", "serve", str(port)],
        cwd=REPO_ROOT,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                warm = post(f"http://127.0.0.1:{port}/nextsign/webhooks", b"{}", secret)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "receiver did not start"
                time.sleep(0.2)
        assert warm.status_code == 400
        for token in (None, "guess", secret):  # warm every path once before measuring
            _send_chunked(port, "/nextsign/webhooks", {HEADER: token} if token else {}, 2 << 20)
        baseline_kib = _reset_peak_rss(server.pid)
        answers = [
            _send_chunked(port, "/nextsign/webhooks", headers, 64 << 20)
            for headers in ({}, {HEADER: "guess"}, {HEADER: secret})
        ]
        growth_kib = _memory_kib(server.pid, "VmHWM") - baseline_kib
    finally:
        server.terminate()
        server.wait(30)
    print(f"receiver process: peak RSS grew by {growth_kib} KiB over three 64 MiB bodies")
    assert growth_kib < 5 * 1024, f"peak RSS grew by {growth_kib} KiB"
    assert [status for status, _ in answers] == [401, 401, 413], answers
    assert all(sent < 16 << 20 for _, sent in answers), answers  # refused long before the 64 MiB
