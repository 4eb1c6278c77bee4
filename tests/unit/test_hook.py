"""NextSignHook: connection -> client, every hook method reaches its endpoint, test_connection, masking."""

from __future__ import annotations

import json
import logging
import socket

import pytest
import requests
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_nextsign.compat import API_SERVER_PLUGINS
from airflow_provider_nextsign.exceptions import NextSignInputError, NextSignNotFoundError
from airflow_provider_nextsign.hooks.nextsign import NextSignHook

from .conftest import API_KEY, COMPANY, FILES, HOST, V2, V3


def _set_conn(monkeypatch, conn_id="nextsign_default", **overrides):
    conn = {
        "conn_type": "nextsign",
        "login": COMPANY,
        "password": API_KEY,
        "host": HOST,
        "extra": {"files_host": FILES, "requests_per_minute": 100000, "timeout": 5},
    }
    conn.update(overrides)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def hook(monkeypatch):
    _set_conn(monkeypatch)
    return NextSignHook()


def test_connection_fields_become_client_settings(hook):
    client = hook.get_conn()
    assert client is hook.get_conn()  # one client (and session) per hook
    assert (client.company_id, client.endpoints.host, client.endpoints.files_host) == (COMPANY, HOST, FILES)
    assert client.timeout == 5.0
    assert client.budget.requests_per_minute == 100000


def test_defaults_and_prefixed_extras_from_the_airflow2_form(monkeypatch):
    _set_conn(
        monkeypatch,
        host="",
        extra={"extra__nextsign__requests_per_minute": "60", "extra__nextsign__timeout": "12"},
    )
    client = NextSignHook().get_conn()
    assert client.endpoints.host == "https://www.nextsign.dk"
    assert client.endpoints.files_host == "https://api.nextsign.dk"
    assert client.timeout == 12.0 and client.budget.requests_per_minute == 60


def test_host_without_scheme_and_with_pasted_api_suffix(monkeypatch):
    _set_conn(monkeypatch, host="test.nextsign.dk/api")
    assert (
        NextSignHook().get_conn().endpoints.case("x")
        == f"https://test.nextsign.dk/api/v2/{COMPANY}/case/x/get"
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"login": None}, "login field"),
        ({"password": ""}, "password field"),
        ({"extra": {"timeout": "soon"}}, "'timeout'"),
        ({"extra": {"requests_per_minute": -5}}, "'requests_per_minute'"),
    ],
)
def test_bad_connection_names_the_field(monkeypatch, requests_mock, overrides, field):
    _set_conn(monkeypatch, **overrides)
    with pytest.raises(NextSignInputError, match=field):
        NextSignHook().get_case("c1")
    assert requests_mock.call_count == 0


def test_each_hook_method_reaches_its_endpoint(hook, requests_mock):
    case = {"_id": "c1", "title": "T"}
    requests_mock.get(f"{V2}/forms/F1/get", json={"_id": "F1"})
    requests_mock.get(f"{V2}/forms/F1/tags/get", json=[])
    requests_mock.post(f"{V2}/forms/F1/submit", json={"status": "OK", "contract": case})
    requests_mock.get(
        f"{V2}/cases/get",
        json=lambda request, context: {
            "status": "company_found",
            "cases": [case] if request.qs["index"] == ["0"] else [],
        },
    )
    requests_mock.get(f"{V2}/case/c1/get", json={"status": "case_found", "case": case})
    requests_mock.get(f"{V2}/cases/c1/get", json={"status": "cases_found", "cases": [case]})
    requests_mock.post(f"{V2}/case/create", json={"status": "OK", "contract": case})
    requests_mock.get(f"{V2}/case/c1/delete", json={"status": "removed", "return": {"deletedCount": 1}})
    requests_mock.post(f"{V3}/upload", json={"url": "https://s/c.pdf"})
    requests_mock.post(f"{V3}/view-presigned-url", json={"signedUrl": "https://s/c.pdf?sig"})
    requests_mock.post(
        f"{HOST}/api/v1/document/convert",
        json={
            "status": {"code": 200, "message": "OK"},
            "documents": [{"file": "https://s/c.pdf", "name": "c.pdf"}],
        },
    )
    recipients = [{"name": "J", "email": "j@example.com"}]
    assert hook.get_form("F1") == {"_id": "F1"}
    assert hook.get_form_tags("F1") == []
    assert hook.submit_form("F1", tags={}, recipients=recipients) == case
    assert list(hook.list_cases()) == [case]
    assert hook.get_case("c1") == case
    assert hook.get_cases(["c1"]) == [case]
    assert (
        hook.create_case(
            title="T", recipients=recipients, documents=[{"name": "a", "file": "https://s/a"}], settings={}
        )
        == case
    )
    assert hook.delete_case("c1")["status"] == "removed"
    assert hook.upload_document(b"%PDF-1.4", name="c.pdf") == "https://s/c.pdf"
    assert hook.get_presigned_url("https://s/c.pdf") == "https://s/c.pdf?sig"
    assert hook.convert_documents([{"file": "https://s/c.docx", "name": "c.docx"}]) == [
        {"file": "https://s/c.pdf", "name": "c.pdf"}
    ]
    # 11 endpoints; Case List adds the empty page that confirms its short last page.
    assert requests_mock.call_count == 12


def test_case_url(hook):
    assert hook.case_url("c1") == f"{HOST}/user/{COMPANY}/case/c1"


def test_test_connection_ok(hook, requests_mock):
    requests_mock.get(f"{V2}/cases/get", json={"status": "company_found", "cases": [{"_id": "a"}]})
    ok, message = hook.test_connection()
    assert ok, message
    assert COMPANY in message
    assert requests_mock.call_count == 1
    assert requests_mock.last_request.qs == {"limit": ["1"], "index": ["0"]}


def test_test_connection_wrong_key(hook, requests_mock):
    requests_mock.get(
        f"{V2}/cases/get",
        status_code=401,
        json={"errors": [{"code": 401, "message": "Unauthorized", "description": "Invalid API key"}]},
    )
    ok, message = hook.test_connection()
    assert not ok
    assert "API key" in message and "password" in message
    assert API_KEY not in message


def test_test_connection_wrong_company(hook, requests_mock):
    requests_mock.get(
        f"{V2}/cases/get",
        status_code=400,
        json={"code": 400, "message": "Bad Request", "description": "Company not found"},
    )
    ok, message = hook.test_connection()
    assert not ok
    assert f"company ID {COMPANY!r}" in message and "login" in message


def test_test_connection_unreachable_host(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _set_conn(monkeypatch, host=f"http://127.0.0.1:{port}")
    ok, message = NextSignHook().test_connection()
    assert not ok
    assert message.startswith(f"Could not reach NextSign at http://127.0.0.1:{port}")


def test_test_connection_missing_key(monkeypatch):
    _set_conn(monkeypatch, password=None)
    ok, message = NextSignHook().test_connection()
    assert not ok and "API key" in message


def test_api_key_never_leaks_into_logs_errors_or_reprs(hook, requests_mock, caplog):
    from airflow.providers.common.compat.sdk import redact

    requests_mock.get(f"{V2}/case/c1/get", [{"exc": requests.ConnectionError("boom")}] * 6)
    requests_mock.get(f"{V2}/case/c2/get", json={"message": "Case not found"})
    caplog.set_level(logging.DEBUG)
    hook.get_conn().retry_policy = type(hook.get_conn().retry_policy)(
        backoff_initial=0.0, backoff_max=0.0, jitter=0.0
    )
    texts = [repr(hook), repr(hook.get_conn()), str(hook.__dict__)]
    for case_id in ("c1", "c2"):
        try:
            hook.get_case(case_id)
        except Exception as err:
            texts += [str(err), repr(err), repr(err.__dict__)]
    with pytest.raises(NextSignNotFoundError):
        hook.get_case("c2")
    texts += [record.getMessage() for record in caplog.records]
    assert len(caplog.records) >= 5  # the retries were logged
    assert not [t for t in texts if API_KEY in t]
    # The key is registered with Airflow's secret masker, so task logs redact it too.
    assert API_KEY not in str(redact(f"Authorization: Bearer {API_KEY}"))


def test_airflow2_form_methods():
    behaviour = NextSignHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == {"login": "Company ID", "password": "API key", "host": "API host (v2)"}
    assert set(behaviour["hidden_fields"]) == {"port", "schema", "extra"}


@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 2's FAB form (Airflow 3: the test below)")
def test_airflow2_connection_form_shows_the_extra_fields():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    assert {
        "extra__nextsign__files_host",
        "extra__nextsign__requests_per_minute",
        "extra__nextsign__timeout",
        "extra__nextsign__redis_conn_id",
    } <= set(widgets)
    behaviour = manager.field_behaviours["nextsign"]
    assert behaviour["relabeling"]["password"] == "API key"


@pytest.mark.skipif(not API_SERVER_PLUGINS.available, reason=API_SERVER_PLUGINS.message())
def test_airflow3_connection_form_has_every_field_including_the_webhook_secret():
    """The form the Airflow 3 UI gets: from conn-fields on 3.2+, from the hook's widgets on 3.1."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    HookMetaService.hook_meta_data.cache_clear()
    (form,) = [meta for meta in HookMetaService.hook_meta_data() if meta.connection_type == "nextsign"]
    fields = {key.rsplit("__", 1)[-1]: value for key, value in (form.extra_fields or {}).items()}
    assert set(fields) == {
        "files_host",
        "requests_per_minute",
        "timeout",
        "redis_conn_id",
        "convert_api_version",
        "reconcile_window",
        "api_profile",
        "webhook_secret",
    }
    assert fields["webhook_secret"]["schema"]["format"] == "password"  # masked, never shown back
    assert fields["requests_per_minute"]["schema"]["type"][0] == "integer"
    assert form.standard_fields is not None
    assert form.standard_fields.password.title == "API key"
    assert form.standard_fields.port.hidden
