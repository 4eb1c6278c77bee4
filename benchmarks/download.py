"""Signed-file download: peak memory while streaming a large PDF to ``file://`` storage.

A local HTTP server stands in for NextSign's object storage behind a pre-signed URL. A fresh worker
process measures its peak RSS right before and after ``NextSignClient.stream_file`` piped through
the operators' ``write_stream`` into an ``ObjectStoragePath`` (the path the signed-documents operator
takes). Target: under 50 MB above the baseline, whatever the file size.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET_MB = 50.0
URL_ENV = "NEXTSIGN_BENCH_DOWNLOAD_URL"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(url: str, destination: str) -> dict[str, Any]:
    """Stream ``url`` into ``destination`` and report the peak-memory growth (runs in its own process)."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_nextsign.api.client import NextSignClient
    from airflow_provider_nextsign.storage import write_stream

    client = NextSignClient("bench-company", "bench-key", host="http://127.0.0.1:1")
    target = ObjectStoragePath(destination)
    write_stream(
        ObjectStoragePath(destination + ".warmup"), client.stream_file(url + "?warmup", chunk_size=1 << 20)
    )
    baseline = _rss_mb()
    written = write_stream(target, client.stream_file(url))
    return {"bytes": written, "baseline_mb": round(baseline, 1), "growth_mb": round(_rss_mb() - baseline, 1)}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Stream a 200 MB (quick: 20 MB) PDF and report the memory above the baseline."""
    size_mb = 20 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "signed.pdf")
        with open(source, "wb") as handle:
            handle.write(b"%PDF-1.7\n")
            block = os.urandom(1 << 20)
            for _ in range(size_mb):
                handle.write(block)
        with open(os.path.join(tmp, "warmup.pdf"), "wb") as handle:
            handle.write(b"%PDF-1.7\n" + os.urandom(1 << 16))
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=tmp))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/signed.pdf"
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.download", f"file://{tmp}/copy.pdf"],
                capture_output=True,
                text=True,
                env={**os.environ, URL_ENV: url},
                check=False,
            )
        finally:
            server.shutdown()
        if out.returncode:
            raise RuntimeError(f"download worker failed: {out.stderr[-2000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        complete = result["bytes"] == os.path.getsize(source)
    return [
        {
            "figure": f"download: peak memory streaming a {size_mb} MB PDF to file://",
            "measured": result["growth_mb"],
            "unit": "MB above baseline",
            "target": f"< {TARGET_MB:.0f} MB",
            "met": result["growth_mb"] < TARGET_MB and complete,
            "details": {**result, "size_mb": size_mb, "complete": complete},
        }
    ]


if __name__ == "__main__":
    print(json.dumps(worker(os.environ[URL_ENV], sys.argv[1])))
