"""The connection extra ``redis_conn_id``: the hook turns the named Airflow ``redis`` connection into the
Redis budget (plain settings for ``api/``), and names the field to fix when the extra is wrong."""

from __future__ import annotations

import json
import socket
import sys

import pytest

from airflow_provider_nextsign.api import ratelimit, ratelimit_redis
from airflow_provider_nextsign.api.ratelimit import RequestBudget
from airflow_provider_nextsign.api.ratelimit_redis import RedisBudget
from airflow_provider_nextsign.exceptions import NextSignInputError
from airflow_provider_nextsign.hooks.nextsign import NextSignHook

from .conftest import API_KEY, COMPANY, FILES, HOST, V2

REDIS_PASSWORD = "redis-secret-7c1e"


@pytest.fixture(autouse=True)
def _fresh_registries():
    ratelimit.reset_budgets()
    ratelimit_redis.reset_redis_budgets()
    yield
    ratelimit_redis.reset_redis_budgets()


def set_connections(monkeypatch, redis_conn: dict | None, **extra):
    conn = {
        "conn_type": "nextsign",
        "login": COMPANY,
        "password": API_KEY,
        "host": HOST,
        "extra": {"files_host": FILES, "requests_per_minute": 100000, "timeout": 5, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(conn))
    if redis_conn is not None:
        monkeypatch.setenv("AIRFLOW_CONN_BUDGET_REDIS", json.dumps(redis_conn))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_without_the_extra_the_budget_is_the_hosts(monkeypatch):
    set_connections(monkeypatch, None)
    assert isinstance(NextSignHook().get_conn().budget, RequestBudget)


def test_redis_conn_id_names_the_connection_holding_the_budget(monkeypatch):
    redis_conn = {
        "conn_type": "redis",
        "host": "redis.internal",
        "port": 6380,
        "login": "budget",
        "password": REDIS_PASSWORD,
        "extra": {"db": "2", "ssl": True, "ssl_cert_reqs": "none"},
    }
    set_connections(monkeypatch, redis_conn, redis_conn_id="budget_redis")
    budget = NextSignHook().get_conn().budget
    assert isinstance(budget, RedisBudget)
    settings = budget.redis
    assert (settings.host, settings.port, settings.db, settings.username) == (
        "redis.internal",
        6380,
        2,
        "budget",
    )
    assert settings.password == REDIS_PASSWORD and REDIS_PASSWORD not in repr(budget)
    assert dict(settings.ssl_options) == {"ssl": True, "ssl_cert_reqs": "none"}
    assert budget.requests_per_minute == 100000
    # Every hook of this company and key in the process shares it; its fallback is the host's budget.
    assert NextSignHook().get_conn().budget is budget
    assert isinstance(budget.fallback, RequestBudget) and budget.fallback.key == budget.key


def test_redis_password_is_masked(monkeypatch):
    from airflow.providers.common.compat.sdk import redact

    set_connections(
        monkeypatch, {"conn_type": "redis", "password": REDIS_PASSWORD}, redis_conn_id="budget_redis"
    )
    NextSignHook().get_conn()
    assert REDIS_PASSWORD not in str(redact(f"redis password {REDIS_PASSWORD}"))


def test_prefixed_extra_from_the_airflow2_form(monkeypatch):
    set_connections(monkeypatch, {"conn_type": "redis"}, extra__nextsign__redis_conn_id="budget_redis")
    budget = NextSignHook().get_conn().budget
    assert isinstance(budget, RedisBudget) and budget.redis.location == "localhost:6379/0"


@pytest.mark.parametrize(
    ("redis_conn", "message"),
    [
        (None, "'budget_redis', which is not an Airflow connection"),
        ({"conn_type": "postgres", "host": "db"}, "of type 'postgres'; it must be of type 'redis'"),
        ({"conn_type": "redis", "extra": {"cluster": True}}, "Redis Cluster"),
        ({"conn_type": "redis", "extra": {"db": "two"}}, "settings are not usable"),
    ],
)
def test_a_wrong_redis_connection_is_named_before_any_request(
    monkeypatch, requests_mock, redis_conn, message
):
    set_connections(monkeypatch, redis_conn, redis_conn_id="budget_redis")
    with pytest.raises(NextSignInputError, match="extra 'redis_conn_id'") as info:
        NextSignHook().get_case("c1")
    assert message in str(info.value)
    assert requests_mock.call_count == 0


def test_redis_conn_id_without_redis_py_says_which_extra_to_install(monkeypatch, requests_mock):
    set_connections(monkeypatch, {"conn_type": "redis"}, redis_conn_id="budget_redis")
    monkeypatch.setitem(sys.modules, "redis", None)  # as if redis-py were not installed
    with pytest.raises(NextSignInputError, match=r"airflow-provider-nextsign\[redis\]"):
        NextSignHook().get_case("c1")
    assert requests_mock.call_count == 0


def test_unreachable_redis_never_fails_a_call(monkeypatch, requests_mock, caplog):
    set_connections(
        monkeypatch,
        {"conn_type": "redis", "host": "127.0.0.1", "port": closed_port()},
        redis_conn_id="budget_redis",
    )
    requests_mock.get(f"{V2}/case/c1/get", json={"case": {"_id": "c1"}})
    hook = NextSignHook()
    assert hook.get_case("c1") == {"_id": "c1"}
    assert hook.get_case("c1") == {"_id": "c1"}
    assert hook.get_conn().budget.stats["fallback"] == 2
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1


def test_test_connection_says_when_the_redis_budget_does_not_answer(monkeypatch, requests_mock):
    set_connections(
        monkeypatch,
        {"conn_type": "redis", "host": "127.0.0.1", "port": closed_port()},
        redis_conn_id="budget_redis",
    )
    requests_mock.get(f"{V2}/cases/get", json={"status": "company_found", "cases": []})
    ok, message = NextSignHook().test_connection()
    assert not ok
    assert "budget_redis" in message and "does not answer" in message and "this host's budget" in message


def test_test_connection_names_the_shared_budget(monkeypatch, requests_mock, redis_url):
    from airflow_provider_nextsign.api.ratelimit_redis import RedisSettings

    settings = RedisSettings.from_url(redis_url)
    redis_conn = {
        "conn_type": "redis",
        "host": settings.host,
        "port": settings.port,
        "extra": {"db": settings.db},
    }
    set_connections(monkeypatch, redis_conn, redis_conn_id="budget_redis")
    requests_mock.get(f"{V2}/cases/get", json={"status": "company_found", "cases": []})
    ok, message = NextSignHook().test_connection()
    assert ok, message
    assert f"request budget shared through Redis at {settings.location}" in message
