"""Regenerate docs/_static/connection-form*.png: the Airflow 3 "Add Connection" form for NextSign.

Starts ``airflow standalone`` (Airflow 3, a throwaway AIRFLOW_HOME, every user an admin so no login
is needed) on a free port, opens the connection form in headless Chromium (Debian's ``chromium``,
driven by Playwright from the ``screenshots`` extra), picks the NextSign type and saves the dialog
with its standard fields, then with its extra fields. Needs ``apt-get install chromium`` and
``pip install -e '.[screenshots]'``. Run: ``.venv/bin/python scripts/screenshot_connection_form.py``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from _standalone import standalone

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "_static" / "connection-form.png"
OUTPUT_EXTRA = REPO / "docs" / "_static" / "connection-form-extra.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


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
    home = Path(tempfile.mkdtemp(prefix="nextsign-screenshot-airflow-"))
    try:
        with standalone(home) as airflow:
            OUTPUT.parent.mkdir(parents=True, exist_ok=True)
            screenshot(airflow.base_url, OUTPUT, OUTPUT_EXTRA)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"saved {OUTPUT.relative_to(REPO)} and {OUTPUT_EXTRA.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
