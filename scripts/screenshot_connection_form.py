"""Regenerate docs/_static/connection-form*.png: the Airflow 3 "Add Connection" form for NextSign.

Starts ``airflow standalone`` (Airflow 3, a throwaway AIRFLOW_HOME, every user an admin so no login
is needed) on a free port, opens the connection form in headless Chromium (Debian's ``chromium``,
driven by Playwright from the ``screenshots`` extra), picks the NextSign type and saves the dialog
with its standard fields, then with its extra fields. Needs ``apt-get install chromium`` and
``pip install -e '.[screenshots]'``. Run: ``.venv/bin/python scripts/screenshot_connection_form.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "_static" / "connection-form.png"
OUTPUT_EXTRA = REPO / "docs" / "_static" / "connection-form-extra.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 240.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"airflow standalone exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise SystemExit(f"airflow standalone did not answer at {url} within {seconds:.0f}s")


def screenshot(base_url: str, output: Path, output_extra: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1600}, device_scale_factor=1)
        page.goto(f"{base_url}/connections", wait_until="networkidle")
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        dialog.locator("input[name=connection_id]").fill("nextsign_default")
        dialog.get_by_role("combobox").fill("NextSign")
        page.wait_for_timeout(800)
        page.keyboard.press("Enter")
        dialog.get_by_text("API key", exact=True).wait_for()
        page.wait_for_timeout(800)
        dialog.screenshot(path=str(output))
        dialog.get_by_text("Extra Fields", exact=True).click()
        dialog.get_by_text("Requests per minute").wait_for()
        page.wait_for_timeout(800)
        dialog.screenshot(path=str(output_extra))
        browser.close()


def main() -> int:
    port = free_port()
    home = tempfile.mkdtemp(prefix="nextsign-screenshot-airflow-")
    env = {
        **os.environ,
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(home, "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__PORT": str(port),
        # standalone starts its components as `airflow ...` subprocesses
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = Path(home) / "standalone.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base_url}/api/v2/monitor/health", process)
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        screenshot(base_url, OUTPUT, OUTPUT_EXTRA)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)
    print(f"saved {OUTPUT.relative_to(REPO)} and {OUTPUT_EXTRA.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
