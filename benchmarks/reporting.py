"""Benchmark of the case report: wall time over the request-budget minimum, and peak memory.

    python -m benchmarks.reporting            # 10,000 and 100,000 cases
    python -m benchmarks.reporting --quick    # 1,000 and 10,000 cases
    python -m benchmarks.reporting --synthetic --sizes 10000,100000   # no HTTP: local work and memory only

A sandbox runs in its own process (100 requests per sandbox minute, sped up by ``--time-scale``) and is
seeded in bulk. Each size is reported by a fresh worker process (so peak RSS is its own): Case List pages
+ batched Get Multiple + flattening + upsert into a SQLite file, i.e. the operator's pipeline.

``--synthetic`` replaces the sandbox with an in-process fake client that builds sandbox-shaped bodies
(no HTTP, no budget; requests are counted as list pages + Get Multiple batches): it isolates the local
work and the memory profile at sizes where the sandbox itself would dominate the wall time.

Printed per size:
- ``requests`` and ``budget_min_s``: the requests made and the least time the budget allows for them
  at the scaled rate; ``wall_s`` and ``over_budget_s`` (wall minus that minimum: local work + sandbox);
- ``cpu_s``: CPU time of the report process, the local work; ``local_share_at_100rpm``: that work as a
  share of a run at NextSign's real 100 requests/minute (``cpu / (cpu + requests * 0.6 s)``);
  the target is under 5% at 10,000 cases;
- ``peak_rss_mb`` and ``rss_growth_mb`` (peak minus the RSS after imports): flat across sizes means
  the memory does not grow with the number of cases.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import requests

REAL_RPM = 100.0
CONNECTION_ENV = "NEXTSIGN_BENCH_CONNECTION"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class SyntheticClient:
    """Case List and Get Multiple (full items) over ``count`` generated, sandbox-shaped cases (nothing
    stored)."""

    batch_size = 50

    def __init__(self, count: int) -> None:
        self.count = count

    @staticmethod
    def _id(n: int) -> str:
        return f"{n:024x}"

    def list_cases(self, *, status: Any = None, folder: Any = None, page_size: int = 100) -> Any:
        for n in range(self.count):
            yield {
                "_id": self._id(n),
                "title": f"Case {n}",
                "folder": "Default",
                "createdAt": "2026-01-01T00:00:00.000Z",
                "updatedAt": "2026-01-02T00:00:00.000Z",
            }

    def get_cases(self, case_ids: list[str]) -> list[dict[str, Any]]:
        return [self._body(case_id) for case_id in case_ids]

    def get_case(self, case_id: str) -> dict[str, Any]:
        return self._body(case_id)

    def _body(self, case_id: str) -> dict[str, Any]:
        signed = int(case_id, 16) % 3 == 0
        return {
            "_id": case_id,
            "nextSignKey": f"NS-{case_id[-6:]}",
            "referenceId": f"ref-{case_id}",
            "title": "Seeded case",
            "folder": "Default",
            "type": "Simple sign",
            "user_name": "Sandbox User",
            "user_email": "sandbox@example.com",
            "settings": {"availability": {"days": 14, "isExpired": False, "unlimited": False}},
            "recipients": [
                {
                    "name": f"Signer {i}",
                    "email": f"signer{i}@example.com",
                    "signing": True,
                    "group": 0,
                    "order": i,
                    "signed": "signed" if signed else "pending",
                    "signedDateAndTime": "2026-01-02T00:00:00.000Z" if signed else None,
                    "log": [],
                }
                for i in range(2)
            ],
            "documents": [{"name": "Seeded.pdf", "sign_obligated": True, "document_id": case_id[::-1]}],
            "signedDocuments": [{"name": "Seeded.pdf", "file": f"https://files.test/{case_id}.pdf"}]
            if signed
            else [],
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-02T00:00:00.000Z",
        }


def worker(connection: dict[str, Any], chunk_size: int) -> dict[str, Any]:
    """Run one report into a fresh SQLite file and measure it (runs in its own process)."""
    import sqlalchemy as sa

    from airflow_provider_nextsign.api.client import NextSignClient
    from airflow_provider_nextsign.reporting.frames import iter_case_frames, to_frames
    from airflow_provider_nextsign.reporting.progress import ReportProgress
    from airflow_provider_nextsign.reporting.warehouse import SqlReportWriter, WriteResult

    to_frames([])  # import pandas before the baseline
    client: Any
    if "synthetic" in connection:
        client = SyntheticClient(int(connection["synthetic"]))
        rate = float("inf")
    else:
        extra = connection["extra"]
        rate = float(extra["requests_per_minute"])
        client = NextSignClient(
            connection["login"],
            connection["password"],
            host=connection["host"],
            files_host=extra["files_host"],
            requests_per_minute=rate,
            timeout=120,
        )
    with tempfile.TemporaryDirectory() as tmp:
        writer = SqlReportWriter(sa.create_engine(f"sqlite:///{tmp}/bench.db"))
        writer.create_tables()
        baseline = _rss_mb()
        progress = ReportProgress.for_client(client, interval=1e9)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        totals = WriteResult()
        for frames in iter_case_frames(client, chunk_size=chunk_size, progress=progress):
            totals += writer.write(frames)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    requests_made = progress.requests_spent
    budget_min = requests_made * 60.0 / rate
    return {
        "cases": totals.inserted,
        "requests": requests_made,
        "budget_min_s": round(budget_min, 2),
        "wall_s": round(wall, 2),
        "over_budget_s": round(wall - budget_min, 2),
        "cpu_s": round(cpu, 2),
        "local_share_at_100rpm": round(cpu / (cpu + requests_made * 60.0 / REAL_RPM), 4),
        "peak_rss_mb": round(_rss_mb(), 1),
        "rss_growth_mb": round(_rss_mb() - baseline, 1),
    }


def _start_sandbox(time_scale: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nextsign_sandbox",
            "--requests-per-minute",
            str(int(REAL_RPM)),
            "--time-scale",
            str(time_scale),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first:
        proc.kill()
        raise SystemExit("the sandbox did not start")
    return proc, json.loads(first)["connection"]


def _seed(connection: dict[str, Any], count: int) -> None:
    headers = {"Authorization": f"Bearer {connection['password']}"}
    for start in range(0, count, 5000):
        n = min(5000, count - start)
        resp = requests.post(
            f"{connection['host']}/_sandbox/seed", json={"count": n}, headers=headers, timeout=600
        )
        resp.raise_for_status()


def run_sizes(
    sizes: list[int],
    *,
    synthetic: bool = False,
    time_scale: float = 2000.0,
    chunk_size: int = 500,
    echo: bool = False,
) -> list[dict[str, Any]]:
    """Report ``sizes`` cases each (ascending; one sandbox, seeded up to each size) and return the figures."""
    proc, connection = (None, {}) if synthetic else _start_sandbox(time_scale)
    results = []
    try:
        seeded = 0
        for size in sorted(sizes):
            if proc is None:
                connection = {"synthetic": size}
            else:
                t0 = time.perf_counter()
                _seed(connection, size - seeded)
                seeded = size
                if echo:
                    print(f"seeded {size} cases in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.reporting", "--worker", "--chunk-size", str(chunk_size)],
                capture_output=True,
                text=True,
                # In the environment, not argv: the sandbox key stays out of process listings and errors.
                env={**os.environ, "PYTHONWARNINGS": "ignore", CONNECTION_ENV: json.dumps(connection)},
            )
            if out.returncode:
                print(out.stderr[-4000:], file=sys.stderr)
                raise SystemExit(f"the report worker for {size} cases failed")
            result = {"size": size, **json.loads(out.stdout.strip().splitlines()[-1])}
            results.append(result)
            if echo:
                print(json.dumps(result))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reporting", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="1,000 and 10,000 cases instead of 10,000 and 100,000"
    )
    parser.add_argument("--sizes", help="comma-separated case counts (overrides --quick)")
    parser.add_argument("--time-scale", type=float, default=2000.0, help="sandbox minutes per real minute")
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument(
        "--synthetic", action="store_true", help="fake in-process client instead of the sandbox"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one measurement
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(os.environ[CONNECTION_ENV]), args.chunk_size)))
        return 0
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([1000, 10000] if args.quick else [10000, 100000])
    )
    results = run_sizes(
        sizes, synthetic=args.synthetic, time_scale=args.time_scale, chunk_size=args.chunk_size, echo=True
    )
    for result in results:
        share = result["local_share_at_100rpm"]
        verdict = "ok" if share < 0.05 else "OVER TARGET"
        print(
            f"{result['size']} cases: local work {share:.1%} of a run at 100 requests/minute "
            f"(target < 5%): {verdict}"
        )
    if len(results) > 1:
        growth = results[-1]["peak_rss_mb"] - results[0]["peak_rss_mb"]
        print(
            f"peak RSS {results[0]['peak_rss_mb']} MB at {results[0]['size']} cases, "
            f"{results[-1]['peak_rss_mb']} MB at {results[-1]['size']} (+{growth:.1f} MB)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
