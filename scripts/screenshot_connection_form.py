"""Regenerate docs/_static/connection-form*.png: the Airflow 3 connection form for a NextSign connection.

Starts ``airflow standalone`` (the Airflow of the running interpreter's venv) with a throwaway
AIRFLOW_HOME on a fixed port, logs in as the generated admin user, opens the "Add Connection" form
with connection type ``nextsign`` in headless Chromium (Debian's ``chromium`` package, driven by
Playwright) and saves two screenshots of the form: the standard fields (``connection-form.png``)
and the extra fields (``connection-form-extra.png``). Run from the repository root::

    apt-get install -y chromium            # once
    .venv/bin/python scripts/screenshot_connection_form.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "docs" / "_static" / "connection-form.png"
DEFAULT_PORT = 28793
STARTUP_TIMEOUT = 300.0


def _wait_for_api(base_url: str, password_file: Path, proc: subprocess.Popen[bytes], log: Path) -> str:
    """Wait until the API server answers and the admin password exists; return the password."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"airflow standalone exited with {proc.returncode}; see {log}")
        if password_file.exists():
            try:
                with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=5):
                    return str(json.loads(password_file.read_text())["admin"])
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(2)
    sys.exit(f"airflow standalone did not come up within {STARTUP_TIMEOUT:.0f} s; see {log}")


def _token(base_url: str, password: str) -> str:
    """A JWT for the admin user, as the login page would obtain it."""
    request = urllib.request.Request(
        f"{base_url}/auth/token",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.load(response)["access_token"])


def _extra_path(output: Path) -> Path:
    """Where the second screenshot (the "Extra Fields" section) goes."""
    return output.with_name(f"{output.stem}-extra{output.suffix}")


def _screenshot(base_url: str, token: str, chromium: str, output: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1100}, color_scheme="light")
        context.add_cookies([{"name": "_token", "value": token, "url": base_url}])
        page = context.new_page()
        page.goto(f"{base_url}/connections", wait_until="networkidle")
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Connection ID").fill("nextsign_default")
        type_input = dialog.get_by_role("combobox").first
        type_input.click()
        type_input.fill("nextsign")
        page.get_by_role("option", name="NextSign").first.click()
        dialog.get_by_text("Company ID").first.wait_for()
        output.parent.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(500)  # let the form finish its layout animation
        dialog.screenshot(path=str(output))
        # The sections form an accordion: opening "Extra Fields" closes "Standard Fields".
        dialog.get_by_role("button", name="Extra Fields", exact=True).click()
        dialog.get_by_text("Files API host (v3)").first.wait_for()
        page.wait_for_timeout(500)
        dialog.screenshot(path=str(_extra_path(output)))
        browser.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop standalone and the components it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="API server port")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="PNG to write")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        sys.exit(f"chromium not found at {args.chromium}: apt-get install -y chromium, or pass --chromium")

    home = Path(tempfile.mkdtemp(prefix="nextsign-screenshot-airflow-"))
    dags = home / "dags"
    dags.mkdir()
    airflow = Path(sys.executable).parent / "airflow"
    env = {
        **os.environ,
        # standalone starts its components as `airflow ...` found on PATH.
        "PATH": f"{airflow.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__API__PORT": str(args.port),
        "AIRFLOW__CORE__PARALLELISM": "2",  # LocalExecutor would otherwise fork 32 idle workers
    }
    base_url = f"http://127.0.0.1:{args.port}"
    log = home / "standalone.log"
    with log.open("wb") as log_file:
        # A session of its own, so that stopping it also stops the scheduler, API server, etc.
        proc = subprocess.Popen(
            [str(airflow), "standalone"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            password_file = home / "simple_auth_manager_passwords.json.generated"
            password = _wait_for_api(base_url, password_file, proc, log)
            _screenshot(base_url, _token(base_url, password), args.chromium, args.output)
        finally:
            _stop(proc)
    shutil.rmtree(home, ignore_errors=True)
    print(f"saved {args.output} and {_extra_path(args.output)}")


if __name__ == "__main__":
    main()
