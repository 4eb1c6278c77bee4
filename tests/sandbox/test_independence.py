"""The sandbox (distribution nextsign-sandbox) imports nothing of the provider, nor Airflow.

It is an independent reading of NextSign's API documentation: if it shared code with the provider's
client, the provider's tests against it would check the provider against itself. It also installs
without Airflow, so it must run without it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

#: Top-level packages the sandbox must never import.
FORBIDDEN = ("airflow_provider_nextsign", "airflow")
#: The code the nextsign-sandbox distribution ships (sandbox/pyproject.toml).
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "sandbox" / "nextsign_sandbox"


def _forbidden(module: str) -> bool:
    return module.split(".")[0] in FORBIDDEN


def _imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every absolute module an ``import``, ``from ... import`` or ``importlib.import_module("...")``
    / ``__import__("...")`` names, at any depth (lazy imports inside functions included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def test_no_source_file_of_the_sandbox_imports_the_provider_or_airflow():
    sources = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(sources) > 20, sources  # the whole package, not an empty folder
    offending = [
        f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: {module}"
        for path in sources
        for line, module in _imported_modules(ast.parse(path.read_text(), str(path)))
        if _forbidden(module)
    ]
    assert not offending, (
        "the sandbox must not import the provider or Airflow (it is an independent implementation of "
        "the NextSign API and installs without them):\n" + "\n".join(offending)
    )


def test_the_sandbox_serves_a_whole_case_with_the_provider_and_airflow_unimportable():
    """Every module imported, then a form submitted, signed and its PDF downloaded, in a process where
    importing the provider or Airflow fails and is recorded (a swallowed ImportError is caught too)."""
    code = textwrap.dedent(
        f"""
        import importlib, importlib.abc, json, pkgutil, sys

        attempts = []

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {FORBIDDEN!r}:
                    attempts.append(name)
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, Refuse())
        import requests
        import nextsign_sandbox

        modules = [m.name for m in pkgutil.walk_packages(nextsign_sandbox.__path__, "nextsign_sandbox.")]
        for name in modules:
            if name != "nextsign_sandbox.__main__":  # runs the command line
                importlib.import_module(name)

        with nextsign_sandbox.SandboxServer() as server, requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {{server.api_key}}"
            api = f"{{server.url}}/api/v2/{{server.company_id}}"
            body = {{
                "tags": [
                    {{"tag": "customer_name", "value": "Holm Bryghus", "type": "text"}},
                    {{"tag": "customer_zip", "value": "2100", "type": "text"}},
                ],
                "recipients": [{{"name": "Jane Doe", "email": "jane@example.com", "signing": True}}],
            }}
            answer = http.post(f"{{api}}/forms/{{server.form_id}}/submit", json=body, timeout=30).json()
            assert "contract" in answer, answer
            case_id = answer["contract"]["_id"]
            server.sign(case_id)
            case = http.get(f"{{api}}/case/{{case_id}}/get", timeout=30).json()["case"]
            file_url = case["signedDocuments"][0]["file"]
            presign = f"{{server.url}}/v3/company/{{server.company_id}}/file/view-presigned-url"
            signed_url = http.post(presign, json={{"url": file_url}}, timeout=30).json()["signedUrl"]
            pdf = http.get(signed_url, timeout=30).content
        assert pdf.startswith(b"%PDF"), pdf[:40]
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
        print(json.dumps({{"modules": len(modules), "attempts": attempts, "loaded": loaded}}))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["modules"] > 20, seen  # every module of the package was imported
    assert (seen["attempts"], seen["loaded"]) == ([], []), (
        f"the sandbox tried to import {seen['attempts']} (loaded: {seen['loaded']}); it must not import "
        "the provider or Airflow"
    )
