"""Both clients take one declaration of their options (``api.core.ClientOptions``) and refuse any other."""

from __future__ import annotations

import inspect

import pytest

from airflow_provider_nextsign.api.aio import AsyncNextSignClient
from airflow_provider_nextsign.api.client import NextSignClient
from airflow_provider_nextsign.api.core import CLIENT_OPTIONS
from airflow_provider_nextsign.api.retry import RetryPolicy
from airflow_provider_nextsign.exceptions import NextSignInputError

from .conftest import API_KEY, COMPANY

CLIENTS = [NextSignClient, AsyncNextSignClient]


@pytest.mark.parametrize("cls", CLIENTS, ids=lambda cls: cls.__name__)
def test_a_mistyped_option_is_refused_by_name(cls, requests_mock):
    with pytest.raises(TypeError, match=r"'timout'.*take .*timeout"):
        cls(COMPANY, API_KEY, timout=5)
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("cls", CLIENTS, ids=lambda cls: cls.__name__)
def test_every_option_reaches_the_client(cls):
    policy = RetryPolicy(max_attempts=2)
    client = cls(
        COMPANY,
        API_KEY,
        host="https://api.example.test",
        files_host="https://files.example.test",
        requests_per_minute=50,
        timeout=7,
        retry_policy=policy,
        batch_size=9,
        convert_api_version="v2",
        api_profile={"get_multiple_items": "summary"},
    )
    assert client.endpoints.host == "https://api.example.test"
    assert client.endpoints.files_host == "https://files.example.test"
    assert client.budget.requests_per_minute <= 50
    assert (client.timeout, client.retry_policy, client.batch_size) == (7, policy, 9)
    assert client.convert_api_version == "v2"
    assert client.api_profile.get_multiple_items == "summary"


@pytest.mark.parametrize("cls", CLIENTS, ids=lambda cls: cls.__name__)
def test_option_values_are_checked_naming_the_field(cls):
    with pytest.raises(NextSignInputError, match="timeout"):
        cls(COMPANY, API_KEY, timeout=0)
    with pytest.raises(NextSignInputError, match="convert_api_version"):
        cls(COMPANY, API_KEY, convert_api_version="v9")


def test_the_sync_client_documents_every_option():
    documented = set(inspect.cleandoc(NextSignClient.__doc__ or "").split(":param ")[1:])
    names = {entry.split(":", 1)[0] for entry in documented}
    assert CLIENT_OPTIONS | {"session", "sleep", "company_id", "api_key"} == names
