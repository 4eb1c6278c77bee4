"""`make demo-webhooks`: signed cases start the event-driven example DAGs in a real Airflow 3.

``--via webhook`` (default): the NextSign sandbox sends every ``case_signed`` webhook three times (one
delivery and two duplicates) to the provider's receiver on ``airflow standalone``'s API server; three
signed cases must give exactly three asset events and three runs of
``example_nextsign_case_signed_webhook``, each run storing its own case's signed PDF.

``--via watcher``: no webhooks; the triggerer runs ``NextSignCaseEventTrigger`` for
``example_nextsign_case_signed_watcher`` with its cursor in the asset state store; three signed cases
must be reported once (the watcher sends one event per poll, listing the cases it found) and each
case's PDF stored once.

Prints what happened and exits non-zero on any mismatch. Files live under ./.demo/<via> (or
$NEXTSIGN_WEBHOOK_DEMO_HOME).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _standalone import standalone

REPO = Path(__file__).resolve().parent.parent
CASES = 3
DUPLICATES = 2
HEADER = "X-Webhook-Token"
DAG_OF = {
    "webhook": "example_nextsign_case_signed_webhook",
    "watcher": "example_nextsign_case_signed_watcher",
}


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


class AirflowDB:
    """Read-only look at the standalone's SQLite metadata database."""

    def __init__(self, home: Path) -> None:
        self.path = home / "airflow.db"

    def query(self, sql: str, *args: object) -> list[tuple]:
        if not self.path.exists():
            return []
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10) as conn:
            try:
                return conn.execute(sql, args).fetchall()
            except sqlite3.OperationalError:  # tables not migrated yet
                return []


def wait_for(what: str, check: Callable[[], Any], seconds: float, log: Path) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    raise SystemExit(f"DEMO FAILED: timed out after {seconds:.0f}s waiting for {what}; log: {log}")


def run(via: str, home: Path, profile: str = "docs") -> int:
    from nextsign_sandbox.server import SandboxServer

    dag_id = DAG_OF[via]
    shutil.rmtree(home, ignore_errors=True)
    (home / "dags").mkdir(parents=True)
    shutil.copy(REPO / "example_dags" / f"{dag_id}.py", home / "dags")
    output = home / "signed"
    secret = secrets.token_urlsafe(24)
    db = AirflowDB(home)
    log = home / "standalone.log"

    step(
        f"Starting the NextSign sandbox{' (each webhook is sent 2 extra times)' if via == 'webhook' else ''}"
    )
    with SandboxServer(0, duplicates=DUPLICATES, profile=profile) as sandbox:
        uri = f"nextsign://{sandbox.company_id}/case_signed"
        extra = {**sandbox.connection.get("extra", {}), "webhook_secret": secret}
        env = {
            "AIRFLOW_CONN_NEXTSIGN_DEFAULT": json.dumps({**sandbox.connection, "extra": extra}),
            "AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER": str(via == "webhook"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "NEXTSIGN_COMPANY_ID": sandbox.company_id,
            "NEXTSIGN_OUTPUT_DIR": str(output),
            "NEXTSIGN_POLL_INTERVAL": "1",
        }
        step(f"Starting airflow standalone{' with the webhook receiver on' if via == 'webhook' else ''}")
        with standalone(home, env) as airflow:
            print(f"Airflow: {airflow.base_url}  (log: {log})")
            wait_for(
                f"the DAG processor to register {dag_id} and its asset",
                lambda: db.query(
                    "SELECT 1 FROM dag JOIN dag_schedule_asset_reference r ON r.dag_id = dag.dag_id "
                    "WHERE dag.dag_id = ? AND dag.is_paused = 0",
                    dag_id,
                ),
                180,
                log,
            )
            if via == "webhook":
                url = f"{airflow.base_url}/nextsign/webhooks"
                sandbox.add_webhook(url, ["case_signed"], headers={HEADER: secret})
                print(f"Webhook case_signed -> {url} with a {HEADER} header")
            else:
                wait_for(
                    "the triggerer's watcher to save its cursor in the asset state store",
                    lambda: bool(watcher_cursors(cursor(db, uri))),
                    180,
                    log,
                )
                print(f"Watcher started; its cursor is in the asset state store of {uri}")

            step(f"Creating and signing {CASES} cases")
            case_ids = sandbox.seed_cases(CASES)
            for case_id in case_ids:
                sandbox.sign(case_id)
                print(f"signed {case_id}")

            step("Waiting until every signed case is stored by a successful run")
            wait_for(
                "the runs",
                lambda: (
                    sorted(c for cs in cases_read(db, dag_id).values() for c in cs) == sorted(case_ids)
                    and all(state == "success" for _, _, state in runs_of(db, dag_id))
                ),
                240,
                log,
            )
            time.sleep(5)  # let any late duplicate reach the receiver and the scheduler
            deliveries = sandbox.webhook_deliveries()
            events = db.query(
                "SELECT e.partition_key, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                "WHERE a.uri = ?",
                uri,
            )
            runs = runs_of(db, dag_id)
            read = cases_read(db, dag_id)
            state = cursor(db, uri)

    return report(via, case_ids, deliveries, events, runs, read, state, sorted(output.rglob("*.pdf")))


def runs_of(db: AirflowDB, dag_id: str) -> list[tuple]:
    return db.query("SELECT run_id, partition_key, state FROM dag_run WHERE dag_id = ?", dag_id)


def cases_read(db: AirflowDB, dag_id: str) -> dict[str, list[str]]:
    """Per run: the case ids its first task read from the triggering asset events."""
    rows = db.query(
        "SELECT r.run_id, x.value FROM xcom x JOIN dag_run r ON r.id = x.dag_run_id "
        "WHERE r.dag_id = ? AND x.task_id = 'signed_case_ids'",
        dag_id,
    )
    return {run_id: json.loads(value) for run_id, value in rows}


def cursor(db: AirflowDB, uri: str) -> list[tuple]:
    return db.query(
        "SELECT s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id WHERE a.uri = ?", uri
    )


def watcher_cursors(rows: list[tuple]) -> list[dict]:
    """The watcher cursors among an asset's stored values (``{"v": 2, "w", "s", "i", "r"}``)."""
    values = [json.loads(value) for (value,) in rows]
    return [v for v in values if isinstance(v, dict) and v.get("v") == 2]


def event_case_ids(extra: str) -> list[str]:
    """The cases one stored event names: one for the receiver's, every case of its poll for a watcher's."""
    from airflow_provider_nextsign.assets import case_ids_from_events

    return case_ids_from_events({"event": [SimpleNamespace(extra=json.loads(extra))]})


def report(via, case_ids, deliveries, events, runs, read, state, pdfs) -> int:
    step("Result")
    if via == "webhook":
        statuses = Counter(str(d["status_code"]) for d in deliveries)
        counts = ", ".join(f"{n} x HTTP {s}" for s, n in statuses.items())
        print(f"webhook deliveries: {len(deliveries)} ({counts})")
    print(f"asset events:       {len(events)} (cases: {[event_case_ids(extra) for _, extra in events]})")
    print(f"DAG runs:           {len(runs)}")
    for run_id, key, run_state in sorted(runs):
        partition = f"  partition {key}" if key else ""
        print(f"  {run_id}{partition}  {run_state}  cases read from its events: {read.get(run_id)}")
    if via == "watcher":
        reported = {c for v in watcher_cursors(state) for c in v.get("r", {})}
        covered = set(case_ids) <= reported
        print(
            f"watcher cursor:     {len(reported)} case id(s) reported, the signed ones among them: {covered}"
        )
    print(f"signed PDFs:        {len(pdfs)}")
    for pdf in pdfs:
        print(f"  {pdf}")

    stored = sorted(case for cases in read.values() for case in cases)
    ok = (
        sorted(c for _, extra in events for c in event_case_ids(extra)) == sorted(case_ids)
        and stored == sorted(case_ids)
        and all(run_state == "success" for _, _, run_state in runs)
        and sorted(p.parent.name for p in pdfs) == sorted(case_ids)
    )
    if via == "webhook":
        ok = ok and len(deliveries) == CASES * (1 + DUPLICATES)
        ok = ok and sorted(key for _, key, _ in runs) == sorted(case_ids)
        ok = ok and all(read[run_id] == [key] for run_id, key, _ in runs)
    else:
        ok = ok and set(case_ids) <= {c for v in watcher_cursors(state) for c in v.get("r", {})}
    if not ok:
        print(f"\nDEMO FAILED: expected {CASES} events and each case stored exactly once", file=sys.stderr)
        return 1
    if via == "webhook":
        print(f"\n{CASES} signed cases, {len(deliveries)} deliveries -> exactly {CASES} runs, one per case.")
    else:
        print(
            f"\n{CASES} signed cases -> {len(events)} asset event(s), {len(runs)} run(s), each stored once."
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--via", choices=sorted(DAG_OF), default="webhook")
    parser.add_argument(
        "--profile",
        choices=["docs", "production", "rich"],
        default="docs",
        help="how the sandbox answers: as documented (default), as production was seen, or richly",
    )
    args = parser.parse_args()
    home = Path(os.environ.get("NEXTSIGN_WEBHOOK_DEMO_HOME", REPO / ".demo" / args.via))
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    from airflow_provider_nextsign.compat import ASSET_STATE_STORE, PARTITIONED_ASSETS

    # One run per case needs partitions; the watcher demo shows the cursor in the asset state store.
    needs = PARTITIONED_ASSETS if args.via == "webhook" else ASSET_STATE_STORE
    if not needs.available:
        raise SystemExit(f"DEMO NOT RUN: {needs.message()}")
    return run(args.via, home, args.profile)


if __name__ == "__main__":
    sys.exit(main())
