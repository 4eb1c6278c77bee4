"""The one response classifier: every documented error shape becomes the right typed error."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_nextsign.api.classify import classify
from airflow_provider_nextsign.exceptions import (
    NextSignAuthError,
    NextSignCaseFailedError,
    NextSignError,
    NextSignNotFoundError,
    NextSignRateLimitError,
    NextSignServerError,
    NextSignUnexpectedResponseError,
    NextSignValidationError,
)

UNAUTHORIZED = {"errors": [{"code": 401, "message": "Unauthorized", "description": "Bearer token not found"}]}


@pytest.mark.parametrize(
    ("operation", "status", "body", "error", "text"),
    [
        ("case_get", 401, UNAUTHORIZED, NextSignAuthError, "Bearer token not found"),
        ("case_get", 200, UNAUTHORIZED, NextSignAuthError, "Bearer token not found"),
        (
            "forms_get",
            200,
            {"errors": [{"code": 400, "message": "Bad Request", "description": "Form not found"}]},
            NextSignNotFoundError,
            "Form not found",
        ),
        (
            "forms_tags",
            400,
            {"errors": [{"code": 400, "message": "Bad Request", "description": "Company not found"}]},
            NextSignNotFoundError,
            "Company not found",
        ),
        (
            "case_delete",
            200,
            {"errors": [{"code": 400, "message": "Bad Request", "description": "Missing case id"}]},
            NextSignValidationError,
            "Missing case id",
        ),
        ("case_get", 200, {"code": 400, "message": "Bad Request"}, NextSignValidationError, "Bad Request"),
        (
            "forms_get",
            200,
            {"message": "Internal server error", "errors": []},
            NextSignServerError,
            "Internal",
        ),
        (
            "forms_get",
            500,
            {"message": "Internal server error", "errors": []},
            NextSignServerError,
            "Internal",
        ),
        ("case_get", 200, {"message": "Case not found"}, NextSignNotFoundError, "Case not found"),
        ("case_delete", 200, {"message": "Case not found"}, NextSignNotFoundError, "Case not found"),
        ("cases_get_multiple", 404, {"message": "Cases not found"}, NextSignNotFoundError, "Cases not found"),
        (
            "case_create",
            200,
            {"status": "error", "message": "title is required"},
            NextSignValidationError,
            "title",
        ),
        ("file_presigned_url", 200, {"error": "missing-url"}, NextSignValidationError, "missing-url"),
        ("file_presigned_url", 400, {"error": "missing-url"}, NextSignValidationError, "missing-url"),
        (
            "document_convert",
            200,
            {"status": {"code": 500, "message": "Conversion failed"}, "documents": []},
            NextSignServerError,
            "Conversion failed",
        ),
        (
            "document_convert",
            200,
            {"status": {"code": 400, "message": "Bad Request"}, "message": "no documents given"},
            NextSignValidationError,
            "no documents given",
        ),
        (
            "document_convert",
            200,
            {"status": {"code": 200, "message": "OK"}, "documents": []},
            NextSignError,
            "no doc",
        ),
        ("case_get", 502, "<html>Bad gateway</html>", NextSignServerError, "Bad gateway"),
        ("case_get", 200, "<html>login</html>", NextSignError, "login"),
        (
            "case_get",
            200,
            {"status": "case_found"},
            NextSignUnexpectedResponseError,
            r"unknown shape \{status: str\}",
        ),
        ("forms_tags", 200, {"status": "company_found"}, NextSignUnexpectedResponseError, "unknown shape"),
        (
            "cases_list",
            200,
            {"status": "company_found", "items": [{"_id": "secret-id"}]},
            NextSignUnexpectedResponseError,
            r"\{items: \[\{_id: str\}\] \(1\), status: str\}",
        ),
        (
            "case_get",
            200,
            {"message": "Service temporarily unavailable"},
            NextSignServerError,
            "temporarily unavailable",
        ),
    ],
)
def test_error_shapes(operation, status, body, error, text):
    with pytest.raises(error, match=text) as info:
        classify(operation, status, body)
    assert info.value.operation == operation
    assert info.value.status_code == status


def test_429_carries_retry_after():
    with pytest.raises(NextSignRateLimitError) as info:
        classify("case_get", 429, {"message": "Too many requests"}, retry_after="7")
    assert info.value.retry_after == 7.0


def test_429_without_a_usable_retry_after():
    with pytest.raises(NextSignRateLimitError) as info:
        classify("case_get", 429, "", retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    assert info.value.retry_after is None


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("case_get", {"status": "case_found", "case": {"_id": "a"}}),
        ("cases_list", {"status": "company_found", "cases": []}),
        ("cases_get_multiple", {"status": "cases_found", "cases": [{"_id": "a"}]}),
        ("case_delete", {"status": "removed", "return": {"acknowledged": True, "deletedCount": 1}}),
        ("forms_submit", {"status": "OK", "message": "Contract created", "contract": {"_id": "a"}}),
        ("case_create", {"data": {"_id": "a"}}),
        ("forms_submit", {"data": {"_id": "a", "nextSignKey": "K", "title": "T", "referenceId": "R"}}),
        ("cases_list", {"data": {"cases": [{"_id": "a"}], "total": 1}}),
        ("cases_get_multiple", {"data": {"cases": []}}),
        ("forms_get", {"_id": "F1", "title": "Form"}),
        ("forms_tags", []),
        ("file_upload", {"url": "https://s/x.pdf"}),
        ("file_presigned_url", {"key": "k", "signedUrl": "https://s/x", "cached": False}),
        (
            "document_convert",
            {"status": {"code": 200, "message": "OK"}, "documents": [{"file": "f", "name": "n"}]},
        ),
    ],
)
def test_success_bodies_pass_through(operation, body):
    assert classify(operation, 200, body) == body


def test_errors_survive_pickling_with_their_fields():
    err = NextSignRateLimitError("slow down", retry_after=3.0, status_code=429, operation="case_get")
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.retry_after, again.status_code, str(again)) == (
        NextSignRateLimitError,
        3.0,
        429,
        str(err),
    )
    failed = pickle.loads(pickle.dumps(NextSignCaseFailedError("c1", "denied")))
    assert (failed.case_id, failed.state) == ("c1", "denied")
    assert "case c1 is denied" in str(failed)


def test_an_unknown_body_names_its_keys_never_its_values():
    body = {"status": "company_found", "rows": [{"_id": "6576e19662ec13c4faa7de7b", "email": "a@b.dk"}]}
    with pytest.raises(NextSignUnexpectedResponseError) as info:
        classify("cases_list", 200, body)
    text = str(info.value)
    assert "rows" in text and "email" in text
    assert "6576e19662ec13c4faa7de7b" not in text and "a@b.dk" not in text
    assert info.value.body is None  # the body (personal data) is not kept on the error


def test_the_debug_switch_logs_every_answers_key_structure(monkeypatch, caplog):
    monkeypatch.setenv("NEXTSIGN_LOG_RESPONSE_SHAPES", "1")
    with caplog.at_level("INFO", logger="airflow_provider_nextsign.api.shapes"):
        classify("case_get", 200, {"status": "case_found", "case": {"_id": "abc123", "title": "Lease"}})
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == "NextSign case_get HTTP 200 shape: {case: {_id: str, title: str}, status: str}"


def test_without_the_debug_switch_nothing_is_logged(monkeypatch, caplog):
    monkeypatch.delenv("NEXTSIGN_LOG_RESPONSE_SHAPES", raising=False)
    with caplog.at_level("INFO", logger="airflow_provider_nextsign.api.shapes"):
        classify("case_get", 200, {"status": "case_found", "case": {"_id": "abc123"}})
    assert caplog.records == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "Infinity", "1e400", "  nan  "])
def test_non_finite_retry_after_is_no_hint(value):
    with pytest.raises(NextSignRateLimitError) as info:
        classify("case_get", 429, "", retry_after=value)
    assert info.value.retry_after is None
