"""`make demo`: run the contract-signing example DAG end to end against the bundled NextSign sandbox.

Steps: start the sandbox (fast signing) -> point Airflow at it -> `airflow db migrate` ->
`airflow dags test example_nextsign_contract_signing` -> `airflow dags test example_nextsign_case_report`
(SQLite warehouse) -> stop the sandbox -> list the signed PDFs and the report.
Everything lives under ./.demo (Airflow home, logs, signed PDFs). Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / ".demo"
DAG_ID = "example_nextsign_contract_signing"
REPORT_DAG_ID = "example_nextsign_case_report"
EXPECTED_PDFS = 3
SIGN_AFTER_SECONDS = "2"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def fail(message: str, log: Path | None = None) -> int:
    print(f"\nDEMO FAILED: {message}", file=sys.stderr)
    if log is not None and log.exists():
        lines = log.read_text(errors="replace").splitlines()
        print(f"--- last 60 lines of {log} ---", file=sys.stderr)
        print("\n".join(lines[-60:]), file=sys.stderr)
    return 1


def airflow_env(connection: dict, form_id: str, output_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(DEMO / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_NEXTSIGN_DEFAULT": json.dumps(connection),
            "NEXTSIGN_FORM_ID": form_id,
            "NEXTSIGN_OUTPUT_DIR": str(output_dir),
            "NEXTSIGN_POKE_INTERVAL": "1",
            "NEXTSIGN_DEFERRABLE": "true",
        }
    )
    return env


def start_sandbox(log: Path, profile: str) -> tuple[subprocess.Popen, dict]:
    """Start the sandbox CLI and return the process and its first JSON line."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nextsign_sandbox",
            "--sign-after",
            SIGN_AFTER_SECONDS,
            "--profile",
            profile,
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(f"the sandbox exited with code {proc.returncode} before printing its settings")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def report(env: dict[str, str], log: Path) -> dict[str, int] | None:
    """Run the case-report DAG into a SQLite warehouse; return the cases per state, None on failure."""
    warehouse = DEMO / "warehouse.db"
    warehouse.unlink(missing_ok=True)
    # The DAG reads the warehouse from the connection nextsign_warehouse; the demo supplies it.
    connection = json.dumps({"conn_type": "sqlite", "host": str(warehouse)})
    env = {**env, "AIRFLOW_CONN_NEXTSIGN_WAREHOUSE": connection}
    with log.open("w") as out:
        rc = subprocess.call(
            [sys.executable, "-m", "airflow", "dags", "test", REPORT_DAG_ID],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if rc or not warehouse.exists():
        return None
    with sqlite3.connect(warehouse) as db:
        rows = db.execute(
            "select state, count(*) from nextsign_cases where not is_deleted group by state order by state"
        ).fetchall()
        recipients = db.execute("select count(*) from nextsign_recipients").fetchone()[0]
    return {**{str(state): int(n) for state, n in rows}, "recipient rows": int(recipients)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        choices=["docs", "production", "rich"],
        default="docs",
        help="how the sandbox answers: as documented (default), as production was seen, or richly",
    )
    profile = parser.parse_args().profile
    DEMO.mkdir(exist_ok=True)
    output_dir = DEMO / "signed"
    shutil.rmtree(output_dir, ignore_errors=True)
    sandbox_log, migrate_log, run_log = DEMO / "sandbox.log", DEMO / "db-migrate.log", DEMO / "dags-test.log"
    report_log = DEMO / "report-dags-test.log"

    step(f"Starting the NextSign sandbox ({profile} profile; recipients sign after {SIGN_AFTER_SECONDS}s)")
    try:
        sandbox, info = start_sandbox(sandbox_log, profile)
    except Exception as err:
        return fail(f"could not start the sandbox: {err}", sandbox_log)
    try:
        connection, form_id = info["connection"], info["form_id"]
        print(f"    sandbox at {connection['host']}, demo form {form_id}")
        env = airflow_env(connection, form_id, output_dir)
        airflow = [sys.executable, "-m", "airflow"]

        step(f"Preparing Airflow in {DEMO / 'airflow'} (airflow db migrate)")
        with migrate_log.open("w") as out:
            rc = subprocess.call([*airflow, "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT)
        if rc:
            return fail(f"airflow db migrate exited with {rc}", migrate_log)

        step(f"Running `airflow dags test {DAG_ID}` (log: {run_log.relative_to(REPO)})")
        started = time.monotonic()
        with run_log.open("w") as out:
            rc = subprocess.call(
                [*airflow, "dags", "test", DAG_ID], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        print(f"    finished in {time.monotonic() - started:.0f}s")
        if rc:
            return fail(f"airflow dags test exited with {rc}", run_log)
        step(f"Loading the case report: `airflow dags test {REPORT_DAG_ID}`")
        per_state = report(env, report_log)
        if per_state is None:
            return fail("the case report DAG failed", report_log)
    finally:
        stop(sandbox)
        print("    sandbox stopped")

    pdfs = sorted(output_dir.rglob("*.pdf"))
    if len(pdfs) < EXPECTED_PDFS:
        return fail(f"expected {EXPECTED_PDFS} signed PDFs in {output_dir}, found {len(pdfs)}", run_log)
    step(f"Done: {len(pdfs)} signed PDFs are in {output_dir}")
    for pdf in pdfs:
        print(f"    {pdf.relative_to(REPO)}  ({pdf.stat().st_size:,} bytes)")
    print(f"\n    The case report is in {(DEMO / 'warehouse.db').relative_to(REPO)} (SQLite), tables")
    print("    nextsign_cases, nextsign_recipients, nextsign_documents; cases per state:")
    for state, count in per_state.items():
        print(f"      {state}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
