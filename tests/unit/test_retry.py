"""Retries: reads ride out 429/5xx/timeouts/drops; creates are never re-sent once they may have landed."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_nextsign.exceptions import (
    NextSignAmbiguousWriteError,
    NextSignConnectionError,
    NextSignRateLimitError,
    NextSignServerError,
    NextSignValidationError,
)

from .conftest import V2

CASE_URL = f"{V2}/case/c1/get"
CREATE_URL = f"{V2}/case/create"
OK_CASE = {"json": {"status": "case_found", "case": {"_id": "c1"}}}
CREATED = {"json": {"status": "OK", "message": "Contract created", "contract": {"_id": "new"}}}
RECIPIENTS = [{"name": "Jane", "email": "jane@example.com"}]
DOCS = [{"name": "a.pdf", "file": "JVBERi0=", "fileIsBlob": True}]


def _create(client):
    return client.create_case(title="T", recipients=RECIPIENTS, documents=DOCS, settings={}, referenceId="r1")


def test_read_retries_5xx_with_exponential_backoff(client, requests_mock, sleeps, budget):
    requests_mock.get(
        CASE_URL, [{"status_code": 500, "json": {"message": "Internal server error"}}] * 2 + [OK_CASE]
    )
    assert client.get_case("c1") == {"_id": "c1"}
    assert sleeps == [1.0, 2.0]
    assert budget.acquired == 3  # every attempt takes a token


def test_read_retries_an_error_body_under_200(client, requests_mock, sleeps):
    requests_mock.get(CASE_URL, [{"json": {"message": "Internal server error", "errors": []}}, OK_CASE])
    assert client.get_case("c1")["_id"] == "c1"
    assert len(sleeps) == 1


def test_429_waits_retry_after_and_pushes_the_shared_budget(client, requests_mock, sleeps, budget):
    requests_mock.get(
        CASE_URL,
        [
            {"status_code": 429, "headers": {"Retry-After": "7"}, "json": {"message": "Too many requests"}},
            OK_CASE,
        ],
    )
    assert client.get_case("c1")["_id"] == "c1"
    assert sleeps == [7.0]
    assert budget.penalties == [7.0]


def test_429_without_retry_after_backs_off(client, requests_mock, sleeps):
    requests_mock.get(CASE_URL, [{"status_code": 429, "text": ""}] * 3 + [OK_CASE])
    client.get_case("c1")
    assert sleeps == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    "exc", [requests.ConnectionError("Connection aborted."), requests.ReadTimeout("read timed out")]
)
def test_read_retries_dropped_connections_and_timeouts(client, requests_mock, sleeps, exc):
    requests_mock.get(CASE_URL, [{"exc": exc}, OK_CASE])
    assert client.get_case("c1")["_id"] == "c1"
    assert len(sleeps) == 1


def test_read_gives_up_after_the_documented_five_retries(client, requests_mock, sleeps):
    requests_mock.get(CASE_URL, status_code=503, text="unavailable")
    with pytest.raises(NextSignServerError):
        client.get_case("c1")
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert requests_mock.call_count == 6


def test_backoff_is_jittered(client, requests_mock, sleeps):
    from airflow_provider_nextsign.api.retry import RetryPolicy

    client.retry_policy = RetryPolicy(jitter=1.0)
    requests_mock.get(CASE_URL, [{"status_code": 500, "text": "x"}] * 3 + [OK_CASE])
    client.get_case("c1")
    assert all(base <= s <= base + 1.0 for base, s in zip([1.0, 2.0, 4.0], sleeps, strict=True))
    assert sleeps != [1.0, 2.0, 4.0]


def test_validation_errors_are_not_retried(client, requests_mock, sleeps):
    requests_mock.get(
        f"{V2}/case/c1/delete",
        json={"errors": [{"code": 400, "message": "Bad Request", "description": "Missing case id"}]},
    )
    with pytest.raises(NextSignValidationError):
        client.delete_case("c1")
    assert requests_mock.call_count == 1 and sleeps == []


@pytest.mark.parametrize(
    "response",
    [
        {"status_code": 500, "json": {"message": "Internal server error", "errors": []}},
        {"exc": requests.ReadTimeout("read timed out")},
        {"exc": requests.ConnectionError("('Connection aborted.', RemoteDisconnected())")},
    ],
)
def test_create_with_unknown_outcome_is_ambiguous_and_sent_once(client, requests_mock, sleeps, response):
    requests_mock.post(CREATE_URL, [response, CREATED])
    with pytest.raises(NextSignAmbiguousWriteError, match="referenceId"):
        _create(client)
    assert requests_mock.call_count == 1 and sleeps == []


def test_submit_with_lost_answer_is_ambiguous(client, requests_mock):
    requests_mock.post(f"{V2}/forms/F1/submit", [{"exc": requests.ReadTimeout("timed out")}, CREATED])
    with pytest.raises(NextSignAmbiguousWriteError):
        client.submit_form("F1", tags={}, recipients=RECIPIENTS)
    assert requests_mock.call_count == 1


def test_create_refused_with_429_is_retried(client, requests_mock, sleeps):
    requests_mock.post(
        CREATE_URL, [{"status_code": 429, "headers": {"Retry-After": "2"}, "text": ""}, CREATED]
    )
    assert _create(client) == {"_id": "new"}
    assert requests_mock.call_count == 2 and sleeps == [2.0]


def test_create_that_never_connected_is_retried(client, requests_mock, sleeps):
    requests_mock.post(CREATE_URL, [{"exc": requests.ConnectTimeout("connect timed out")}, CREATED])
    assert _create(client) == {"_id": "new"}
    assert requests_mock.call_count == 2


def test_real_refused_connection_is_marked_unsent(budget, sleeps):
    """A closed local port: requests raises ConnectionError caused by urllib3's NewConnectionError."""
    import socket

    from airflow_provider_nextsign.api.client import NextSignClient
    from airflow_provider_nextsign.api.retry import RetryPolicy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = NextSignClient(
        "c",
        "k",
        host=f"http://127.0.0.1:{port}",
        budget=budget,
        retry_policy=RetryPolicy(max_attempts=2),
        sleep=sleeps.append,
    )  # type: ignore[arg-type]
    with pytest.raises(NextSignConnectionError) as info:
        client.get_case("x")
    assert info.value.request_sent is False
    assert "could not connect" in str(info.value)


def test_rate_limit_error_surfaces_after_retries(client, requests_mock):
    requests_mock.get(CASE_URL, status_code=429, headers={"Retry-After": "1"}, text="")
    with pytest.raises(NextSignRateLimitError):
        client.get_case("c1")
    assert requests_mock.call_count == 6


def test_a_huge_retry_after_pauses_the_shared_budget_only_as_long_as_the_policy_allows(
    client, requests_mock, sleeps, budget
):
    from airflow_provider_nextsign.api.retry import RetryPolicy

    client.retry_policy = RetryPolicy(jitter=0.0, max_retry_after=30.0)
    day = {"status_code": 429, "headers": {"Retry-After": "86400"}, "text": ""}
    requests_mock.get(CASE_URL, [day, OK_CASE])
    assert client.get_case("c1")["_id"] == "c1"
    # Every NextSign call on the host waits on the shared budget: one answer must not pause it for a day.
    assert budget.penalties == [30.0]
    assert sleeps == [30.0]


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_a_non_finite_retry_after_backs_off_instead_of_crashing_time_sleep(budget, requests_mock, value):
    from airflow_provider_nextsign.api.client import NextSignClient
    from airflow_provider_nextsign.api.retry import RetryPolicy

    from .conftest import API_KEY, COMPANY, HOST

    hint = {"status_code": 429, "headers": {"Retry-After": value}, "text": ""}
    requests_mock.get(CASE_URL, [hint, OK_CASE])
    policy = RetryPolicy(jitter=0.0, backoff_initial=0.001, backoff_max=0.001, max_retry_after=0.01)
    with NextSignClient(COMPANY, API_KEY, host=HOST, budget=budget, retry_policy=policy) as real_sleep:
        assert real_sleep.get_case("c1")["_id"] == "c1"  # time.sleep(nan) would raise ValueError
    assert budget.penalties == [0.01]  # no usable hint: the default pause (1 s), capped by the policy


def test_the_wait_strategy_never_returns_a_non_finite_pause():
    import math

    import tenacity

    from airflow_provider_nextsign.api.retry import RetryPolicy

    wait = RetryPolicy(jitter=0.0).wait()
    for hint in (math.nan, math.inf, -5.0):
        state = tenacity.RetryCallState(None, None, (), {})
        state.attempt_number = 1
        state.set_exception((NextSignRateLimitError, NextSignRateLimitError("x", retry_after=hint), None))
        assert wait(state) == 1.0, hint
