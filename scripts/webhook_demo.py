"""`make demo-webhooks`: three signed cases start exactly three runs of the asset-scheduled example DAG.

Starts the NextSign sandbox (duplicate webhook deliveries on) and ``airflow standalone`` (Airflow 3)
with the provider's webhook receiver on, registers a ``case_signed`` webhook pointing at
``/nextsign/webhooks`` with the shared secret, creates and signs three cases, then waits until the
example DAG ``example_nextsign_case_signed_webhook`` has run once per case and stored the signed PDFs.
Prints the deliveries, asset events, runs and PDFs; exits non-zero unless there are exactly three of
each. Everything lives under ./.demo/webhooks (or $NEXTSIGN_WEBHOOK_DEMO_HOME).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

from _standalone import standalone

REPO = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("NEXTSIGN_WEBHOOK_DEMO_HOME", REPO / ".demo" / "webhooks"))
DAG_ID = "example_nextsign_case_signed_webhook"
CASES = 3
DUPLICATES = 2
HEADER = "X-Webhook-Token"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def query(sql: str, *args: object) -> list[tuple]:
    db = HOME / "airflow.db"
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # tables not migrated yet
            return []


def wait_for(what: str, check, seconds: float) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    raise SystemExit(
        f"DEMO FAILED: timed out after {seconds:.0f}s waiting for {what}; log: {HOME / 'standalone.log'}"
    )


def main() -> int:
    from airflow_provider_nextsign.sandbox.server import SandboxServer

    shutil.rmtree(HOME, ignore_errors=True)
    (HOME / "dags").mkdir(parents=True)
    shutil.copy(REPO / "example_dags" / f"{DAG_ID}.py", HOME / "dags")
    output = HOME / "signed"
    secret = secrets.token_urlsafe(24)

    step("Starting the NextSign sandbox (each webhook delivery is sent 2 extra times)")
    with SandboxServer(0, duplicates=DUPLICATES) as sandbox:
        connection = {
            **sandbox.connection,
            "extra": {**sandbox.connection.get("extra", {}), "webhook_secret": secret},
        }
        env = {
            "AIRFLOW_CONN_NEXTSIGN_DEFAULT": json.dumps(connection),
            "AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER": "True",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "NEXTSIGN_COMPANY_ID": sandbox.company_id,
            "NEXTSIGN_OUTPUT_DIR": str(output),
        }
        step("Starting airflow standalone with the webhook receiver on (takes a minute)")
        with standalone(HOME, env) as airflow:
            print(f"Airflow: {airflow.base_url}  (log: {airflow.log})")
            wait_for(
                f"the DAG processor to register {DAG_ID} and its asset",
                lambda: query(
                    "SELECT 1 FROM dag JOIN dag_schedule_asset_reference r ON r.dag_id = dag.dag_id "
                    "WHERE dag.dag_id = ? AND dag.is_paused = 0",
                    DAG_ID,
                ),
                180,
            )
            url = f"{airflow.base_url}/nextsign/webhooks"
            sandbox.add_webhook(url, ["case_signed"], headers={HEADER: secret})
            print(f"Webhook case_signed -> {url} with a {HEADER} header")

            step(f"Creating and signing {CASES} cases")
            case_ids = sandbox.seed_cases(CASES)
            for case_id in case_ids:
                sandbox.sign(case_id)
                print(f"signed {case_id}")

            step("Waiting for one successful run per case")
            wait_for(
                f"{CASES} successful runs",
                lambda: (
                    len(query("SELECT 1 FROM dag_run WHERE dag_id = ? AND state = 'success'", DAG_ID))
                    >= CASES
                ),
                240,
            )
            time.sleep(5)  # let any late duplicate reach the receiver and the scheduler
            deliveries = sandbox.webhook_deliveries()
            events = query(
                "SELECT e.partition_key FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = ?",
                f"nextsign://{sandbox.company_id}/case_signed",
            )
            runs = query("SELECT run_id, partition_key, state FROM dag_run WHERE dag_id = ?", DAG_ID)
            # What each run read from its triggering asset events: its own case, and only that one.
            seen = query(
                "SELECT r.partition_key, x.value FROM xcom x JOIN dag_run r ON r.id = x.dag_run_id "
                "WHERE r.dag_id = ? AND x.task_id = 'signed_case_ids'",
                DAG_ID,
            )

    pdfs = sorted(output.rglob("*.pdf"))
    step("Result")
    statuses = Counter(str(d["status_code"]) for d in deliveries)
    print(
        f"webhook deliveries: {len(deliveries)} ({', '.join(f'{n} x HTTP {s}' for s, n in statuses.items())})"
    )
    print(f"asset events:       {len(events)} (partition keys: {sorted(key for (key,) in events)})")
    print(f"DAG runs:           {len(runs)}")
    cases_of_run = {key: json.loads(value) for key, value in seen}
    for run_id, key, state in sorted(runs, key=lambda r: r[0]):
        print(f"  {run_id}  partition {key}  {state}  cases read from its events: {cases_of_run.get(key)}")
    print(f"signed PDFs:        {len(pdfs)}")
    for pdf in pdfs:
        print(f"  {pdf}")

    ok = (
        len(deliveries) == CASES * (1 + DUPLICATES)
        and sorted(key for (key,) in events) == sorted(case_ids)
        and sorted(key for _, key, _ in runs) == sorted(case_ids)
        and all(state == "success" for _, _, state in runs)
        and all(cases_of_run.get(key) == [key] for key in case_ids)
        and sorted(p.parent.name for p in pdfs) == sorted(case_ids)
    )
    if not ok:
        print(f"\nDEMO FAILED: expected {CASES} events, runs and PDFs, one per case", file=sys.stderr)
        return 1
    print(f"\n{CASES} signed cases, {len(deliveries)} deliveries -> exactly {CASES} runs, one per case.")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW_HOME", str(HOME))
    sys.exit(main())
