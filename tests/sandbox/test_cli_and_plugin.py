"""The CLI (first stdout line, clean stop), the pytest fixture, and state-file persistence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import requests

from nextsign_sandbox.server import SandboxServer

from .conftest import Api


def test_cli_prints_the_connection_first_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nextsign_sandbox",
            "--sign-after",
            "2",
            "--time-scale",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        connection = info["connection"]
        assert set(info) == {"connection", "form_id"}
        assert connection["conn_type"] == "nextsign"
        assert connection["host"] == connection["extra"]["files_host"]
        assert connection["extra"]["requests_per_minute"] == 6000  # 100 per API minute x 60
        form = requests.get(
            f"{connection['host']}/api/v2/{connection['login']}/forms/{info['form_id']}/get",
            headers={"Authorization": f"Bearer {connection['password']}"},
            timeout=10,
        )
        assert form.json()["_id"] == info["form_id"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.nextsign_sandbox(requests_per_minute=7)
def test_fixture_sets_the_airflow_connection(nextsign_sandbox):
    connection = json.loads(os.environ["AIRFLOW_CONN_NEXTSIGN_DEFAULT"])
    assert connection == nextsign_sandbox.connection
    assert connection["login"] == nextsign_sandbox.company_id and len(connection["login"]) == 24
    assert connection["extra"]["requests_per_minute"] == 7
    assert nextsign_sandbox.configure()["sign_after"] is None  # on demand unless the marker says so
    assert nextsign_sandbox.api_key not in repr(nextsign_sandbox)


def test_fixture_in_a_fresh_pytest_run(tmp_path):
    """The entry point alone (no conftest) provides the marker and the fixture."""
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            import os, pytest, requests

            @pytest.mark.nextsign_sandbox(sign_after=0.5)
            def test_inner(nextsign_sandbox):
                assert nextsign_sandbox.configure()["sign_after"] == 0.5
                assert os.environ["AIRFLOW_CONN_NEXTSIGN_DEFAULT"] == nextsign_sandbox.connection_json
                url = f"{nextsign_sandbox.url}/_sandbox/cases"
                headers = {"Authorization": f"Bearer {nextsign_sandbox.api_key}"}
                assert requests.get(url, headers=headers, timeout=5).json()["cases"] == []
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers", "test_inner.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


def test_state_file_keeps_everything_across_restarts(tmp_path):
    state = tmp_path / "sandbox.json"
    with SandboxServer(state_file=str(state)) as first, requests.Session() as session:
        api = Api(first.url, first.company_id, first.api_key, session)
        pending = api.create(referenceId="keep")["_id"]
        signed = api.create()["_id"]
        first.sign(signed)
        deleted = api.create()["_id"]
        api.get(api.v2(f"case/{deleted}/delete"))
        old_url = api.post(
            api.v3("view-presigned-url"), json={"url": api.case(signed)["case"]["signedDocuments"][0]["file"]}
        )
        before = {c["_id"]: c for c in first.cases()}
        identity = (first.company_id, first.api_key, first.form_id)
    with SandboxServer(state_file=str(state)) as second, requests.Session() as session:
        assert (second.company_id, second.api_key, second.form_id) == identity
        api = Api(second.url, second.company_id, second.api_key, session)
        assert {c["_id"]: c for c in second.cases()} == before
        assert api.case(deleted) == {"message": "Case not found"}
        assert api.get(api.v2("cases/get"), params={"status": "signed"}).json()["cases"][0]["_id"] == signed
        file_url = api.case(signed)["case"]["signedDocuments"][0]["file"]
        presigned = api.post(api.v3("view-presigned-url"), json={"url": file_url}).json()["signedUrl"]
        assert session.get(presigned, timeout=10).content.startswith(b"%PDF")
        # a pre-signed URL handed out before the restart still works (same secret, path-only lookup)
        old_path = old_url.json()["signedUrl"].split("/storage/", 1)[1]
        assert session.get(f"{second.url}/storage/{old_path}", timeout=10).content.startswith(b"%PDF")
        second.sign(pending)
        assert api.case(pending)["case"]["recipients"][0]["signed"] == "signed"


def test_plugin_and_package_import_neither_airflow_nor_fastapi():
    code = (
        "import sys, nextsign_sandbox.pytest_plugin, nextsign_sandbox as s;"
        "heavy = ('airflow', 'airflow_provider_nextsign', 'fastapi', 'uvicorn', 'docx');"
        "heavy = [m for m in heavy if m in sys.modules];"
        "assert not heavy, heavy; assert s.SandboxServer.__name__ == 'SandboxServer'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_state_file_and_stored_files_are_private_to_the_user(tmp_path):
    state = tmp_path / "sandbox.json"
    old_umask = os.umask(0o022)  # the usual default: new files readable by everyone
    try:
        with SandboxServer(state_file=str(state)) as server, requests.Session() as session:
            Api(server.url, server.company_id, server.api_key, session).create()
    finally:
        os.umask(old_umask)
    assert "api_key" in state.read_text()  # it holds the sandbox's key...
    assert state.stat().st_mode & 0o777 == 0o600  # ...so only its user may read it
    blobs = tmp_path / "sandbox.json.files"
    assert blobs.stat().st_mode & 0o777 == 0o700
    assert [p.stat().st_mode & 0o777 for p in blobs.iterdir()] == [0o600] * len(list(blobs.iterdir()))
    assert list(blobs.iterdir())
