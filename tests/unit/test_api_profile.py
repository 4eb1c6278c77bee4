"""The connection extra ``api_profile``: what the probe learned about an account, used by the clients."""

from __future__ import annotations

import json

import pytest

from airflow_provider_nextsign.api.client import NextSignClient
from airflow_provider_nextsign.api.errors import NextSignInputError, NextSignServerError
from airflow_provider_nextsign.api.retry import RetryPolicy
from airflow_provider_nextsign.api.settings import ApiProfile

from .conftest import API_KEY, COMPANY, FILES, HOST, V2

CONVERTED = {
    "status": {"code": 200, "message": "OK"},
    "documents": [{"file": "https://s/x.pdf", "name": "x.pdf"}],
}
DOCUMENTS = [{"file": "https://s/x.docx", "name": "x.docx"}]


@pytest.fixture(autouse=True)
def fresh_convert_memory(monkeypatch):
    from airflow_provider_nextsign.api import client as client_module

    monkeypatch.setattr(client_module, "_CONVERT_VERSION_BY_HOST", {})


def _client(budget, profile, **kwargs):
    return NextSignClient(
        COMPANY,
        API_KEY,
        host=HOST,
        files_host=FILES,
        budget=budget,
        retry_policy=RetryPolicy(max_attempts=1),
        api_profile=profile,
        **kwargs,
    )


@pytest.mark.parametrize(
    "value",
    [{"convert_api_version": "v2", "get_multiple_items": "summary"}, '{"convert_api_version": "v2"}'],
)
def test_a_profile_is_read_from_an_object_or_its_json_text(value):
    profile = ApiProfile.parse(value)
    assert profile.convert_api_version == "v2"


@pytest.mark.parametrize("value", [None, "", {}, "{}"])
def test_no_profile_means_no_preference(value):
    assert ApiProfile.parse(value) == ApiProfile()


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ({"convert_path": "v1"}, ["convert_path", "convert_api_version", "get_multiple_items"]),
        ({"convert_api_version": "v3"}, ["convert_api_version", "'v1'", "'v2'"]),
        ({"get_multiple_items": "some"}, ["get_multiple_items", "'summary'", "'full'"]),
        ("{not json", ["JSON"]),
        ('["v1"]', ["object"]),
    ],
)
def test_a_bad_profile_names_the_key_and_the_fix(value, names):
    with pytest.raises(NextSignInputError) as info:
        ApiProfile.parse(value)
    assert all(name in str(info.value) for name in names), str(info.value)


def test_profile_convert_path_is_tried_first_and_saves_the_404(budget, requests_mock):
    requests_mock.post(f"{HOST}/api/v1/document/convert", status_code=404, json={"message": "Not Found"})
    requests_mock.post(f"{HOST}/api/v2/document/convert", json=CONVERTED)

    with _client(budget, {"convert_api_version": "v2"}) as client:
        assert client.convert_documents(DOCUMENTS) == CONVERTED["documents"]

    assert [r.path for r in requests_mock.request_history] == ["/api/v2/document/convert"]


def test_profile_convert_path_still_falls_back_when_the_account_moved(budget, requests_mock):
    requests_mock.post(f"{HOST}/api/v2/document/convert", status_code=404, json={"message": "Not Found"})
    requests_mock.post(f"{HOST}/api/v1/document/convert", json=CONVERTED)

    with _client(budget, {"convert_api_version": "v2"}) as client:
        assert client.convert_documents(DOCUMENTS) == CONVERTED["documents"]

    paths = [r.path for r in requests_mock.request_history]
    assert paths == ["/api/v2/document/convert", "/api/v1/document/convert"]


def test_a_pinned_convert_api_version_wins_over_the_profile(budget, requests_mock):
    requests_mock.post(f"{HOST}/api/v1/document/convert", json=CONVERTED)

    with _client(budget, {"convert_api_version": "v2"}, convert_api_version="v1") as client:
        client.convert_documents(DOCUMENTS)

    assert [r.path for r in requests_mock.request_history] == ["/api/v1/document/convert"]


def _case(case_id: str) -> dict:
    return {
        "_id": case_id,
        "title": "t",
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-02T00:00:00.000Z",
        "recipients": [{"signing": True, "signed": "pending"}],
    }


def test_summary_profile_reads_full_cases_without_get_multiple(budget, requests_mock):
    requests_mock.get(f"{V2}/case/a/get", json={"status": "case_found", "case": _case("a")})
    requests_mock.get(f"{V2}/case/gone/get", json={"message": "Case not found"})
    requests_mock.get(f"{V2}/case/b/get", json={"status": "case_found", "case": _case("b")})

    with _client(budget, {"get_multiple_items": "summary"}) as client:
        found = client.get_full_cases(["a", "gone", "b"])

    assert [case["_id"] for case in found] == ["a", "b"]
    assert [r.path for r in requests_mock.request_history] == [
        f"/api/v2/{COMPANY}/case/a/get".lower(),
        f"/api/v2/{COMPANY}/case/gone/get".lower(),
        f"/api/v2/{COMPANY}/case/b/get".lower(),
    ]


def test_summary_profile_lets_the_report_read_details_without_get_multiple(budget, requests_mock):
    from airflow_provider_nextsign.reporting.reads import read_details

    requests_mock.get(f"{V2}/case/a/get", json={"status": "case_found", "case": _case("a")})
    requests_mock.get(f"{V2}/case/gone/get", json={"message": "Case not found"})
    requests_mock.get(f"{V2}/case/b/get", json={"status": "case_found", "case": _case("b")})

    with _client(budget, {"get_multiple_items": "summary"}) as client:
        read = read_details(client, ["a", "gone", "b"])

    assert [case["_id"] for case in read.bodies] == ["a", "b"] and read.absent == ["gone"]
    assert (read.multiple_requests, read.case_gets) == (0, 3)
    assert all("/cases/" not in r.path for r in requests_mock.request_history)


def test_without_a_profile_the_report_reads_details_with_get_multiple_first(budget, requests_mock):
    from airflow_provider_nextsign.reporting.reads import read_details

    both = {"status": "cases_found", "cases": [_case("a"), _case("b")]}
    requests_mock.get(f"{V2}/cases/a,b/get", json=both)

    with _client(budget, None) as client:
        read = read_details(client, ["a", "b"])

    assert [case["_id"] for case in read.bodies] == ["a", "b"]
    assert (read.multiple_requests, read.case_gets) == (1, 0)


def test_summary_profile_never_drops_a_case_whose_read_failed(budget, requests_mock):
    requests_mock.get(f"{V2}/case/a/get", status_code=503, json={"message": "Service unavailable"})

    with _client(budget, {"get_multiple_items": "summary"}) as client, pytest.raises(NextSignServerError):
        client.get_full_cases(["a"])


def test_without_a_profile_get_full_cases_still_asks_get_multiple_first(budget, requests_mock):
    requests_mock.get(f"{V2}/cases/a/get", json={"status": "cases_found", "cases": [_case("a")]})

    with _client(budget, None) as client:
        assert [case["_id"] for case in client.get_full_cases(["a"])] == ["a"]

    assert requests_mock.call_count == 1


def _set_conn(monkeypatch, extra):
    conn = {
        "conn_type": "nextsign",
        "login": COMPANY,
        "password": API_KEY,
        "host": HOST,
        "extra": {"files_host": FILES, "requests_per_minute": 100000, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(conn))


@pytest.mark.parametrize(
    "profile",
    [{"convert_api_version": "v2"}, json.dumps({"convert_api_version": "v2"})],
    ids=["object", "text"],
)
def test_the_hook_passes_the_connections_profile_to_the_client(monkeypatch, profile):
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    _set_conn(monkeypatch, {"api_profile": profile})

    assert NextSignHook().get_conn().api_profile == ApiProfile(convert_api_version="v2")


def test_a_bad_profile_in_the_connection_fails_before_any_request(monkeypatch, requests_mock):
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    _set_conn(monkeypatch, {"api_profile": {"get_multiple": "summary"}})

    with pytest.raises(NextSignInputError, match=r"'nextsign_default'.*api_profile.*get_multiple"):
        NextSignHook().get_case("c1")
    assert requests_mock.call_count == 0


def test_the_async_client_takes_the_same_connection_arguments(monkeypatch):
    pytest.importorskip("aiohttp")
    from airflow.providers.common.compat.sdk import BaseHook

    from airflow_provider_nextsign.api.aio import AsyncNextSignClient
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    _set_conn(monkeypatch, {"api_profile": {"get_multiple_items": "full"}})
    kwargs = NextSignHook.client_kwargs(BaseHook.get_connection("nextsign_default"))

    assert AsyncNextSignClient(**kwargs).api_profile == ApiProfile(get_multiple_items="full")
