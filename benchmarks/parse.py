"""DAG-parse cost: importing every NextSign operator, sensor and hook module, beside the HTTP provider.

Each figure is the median of fresh interpreter runs (bytecode already cached, as on a scheduler).
``marginal`` is what our modules add once the Airflow operator framework is loaded (which any DAG file
pays for its first operator); ``raw`` is on top of a bare ``import airflow``. The HTTP provider's
``HttpOperator`` is measured the same way in the same run. Heavy libraries (pandas, aiohttp, fastapi)
must not be imported by our modules at parse time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

OUR_MODULES = (
    "airflow_provider_nextsign.operators.forms",
    "airflow_provider_nextsign.operators.cases",
    "airflow_provider_nextsign.operators.documents",
    "airflow_provider_nextsign.operators.reporting",
    "airflow_provider_nextsign.sensors.case",
    "airflow_provider_nextsign.triggers.case",
    "airflow_provider_nextsign.hooks.nextsign",
    "airflow_provider_nextsign.links",
)
HTTP_MODULES = ("airflow.providers.http.operators.http",)
HEAVY = ("pandas", "aiohttp", "fastapi")
TARGET_MS = 50.0

_PROBE = """
import importlib, json, sys, time
import airflow
if {framework!r}:
    from airflow.providers.common.compat.sdk import BaseHook, BaseOperator, BaseSensorOperator
before = set(sys.modules)
start = time.perf_counter()
for name in {modules!r}:
    importlib.import_module(name)
elapsed = (time.perf_counter() - start) * 1000
print(json.dumps({{"ms": elapsed, "heavy": sorted(m for m in {heavy!r} if m in set(sys.modules) - before)}}))
"""


def _probe(modules: tuple[str, ...], framework: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = _PROBE.format(framework=framework, modules=modules, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(modules: tuple[str, ...], *, framework: bool, repeats: int) -> dict[str, Any]:
    """Median import time of ``modules`` over ``repeats`` fresh interpreters (after one warm-up run)."""
    _probe(modules, framework)  # writes bytecode caches
    runs = [_probe(modules, framework) for _ in range(repeats)]
    return {
        "median_ms": round(statistics.median(r["ms"] for r in runs), 1),
        "runs_ms": [round(r["ms"], 1) for r in runs],
        "heavy_imported": sorted({m for r in runs for m in r["heavy"]}),
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """The parse-cost figures: ours marginal (with a target), ours raw, and the HTTP operator's."""
    repeats = 1 if quick else 7
    ours_marginal = measure(OUR_MODULES, framework=True, repeats=repeats)
    ours_raw = measure(OUR_MODULES, framework=False, repeats=repeats)
    try:
        http_raw: dict[str, Any] | None = measure(HTTP_MODULES, framework=False, repeats=repeats)
        http_marginal: dict[str, Any] | None = measure(HTTP_MODULES, framework=True, repeats=repeats)
    except subprocess.CalledProcessError:  # the HTTP provider is not installed
        http_raw = http_marginal = None
    rows = [
        {
            "figure": "parse: our modules on top of the operator framework",
            "measured": ours_marginal["median_ms"],
            "unit": "ms",
            "target": f"< {TARGET_MS:.0f} ms, no {'/'.join(HEAVY)}",
            "met": ours_marginal["median_ms"] < TARGET_MS and not ours_marginal["heavy_imported"],
            "details": ours_marginal,
        },
        {
            "figure": "parse: our modules on top of `import airflow`",
            "measured": ours_raw["median_ms"],
            "unit": "ms",
            "target": "reference",
            "met": not ours_raw["heavy_imported"],
            "details": ours_raw,
        },
    ]
    for label, result in (
        ("on top of the operator framework", http_marginal),
        ("on top of `import airflow`", http_raw),
    ):
        if result is not None:
            rows.append(
                {
                    "figure": f"parse: HttpOperator {label}",
                    "measured": result["median_ms"],
                    "unit": "ms",
                    "target": "reference",
                    "met": True,
                    "details": result,
                }
            )
    return rows
