"""The one place that decides whether a NextSign response is a success, and which error it is.

NextSign's older v2 endpoints report many failures inside HTTP 200 answers (an ``errors`` list,
``status: "error"``, a bare ``message`` where a payload was expected, Convert's ``status.code``), so
the HTTP status alone is not enough: every response passes through :func:`classify`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from airflow_provider_nextsign.api.errors import (
    NextSignAuthError,
    NextSignError,
    NextSignNotFoundError,
    NextSignRateLimitError,
    NextSignServerError,
    NextSignUnexpectedResponseError,
    NextSignValidationError,
    body_preview,
)
from airflow_provider_nextsign.api.shapes import describe, log_shape, payload_of

#: The bodies NextSign documents for "this case does not exist" (Case Get, Delete; Get Multiple).
DOCUMENTED_ABSENCE = frozenset({"case not found", "cases not found"})


def parse_retry_after(value: str | None) -> float | None:
    """Read a ``Retry-After`` header given in seconds; HTTP dates and junk (``nan``, ``inf``) are ``None``."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def classify(
    operation: str,
    status_code: int,
    body: Any,
    *,
    retry_after: str | None = None,
) -> Any:
    """Return ``body`` when it is a success for ``operation``; raise the matching ``NextSignError``.

    :param operation: endpoint name, a key of :data:`SUCCESS_KEYS`.
    :param status_code: the HTTP status.
    :param body: the decoded JSON body, or the raw text when it was not JSON.
    :param retry_after: the ``Retry-After`` header, if any.
    """
    log_shape(operation, status_code, body)
    if status_code == 429:
        raise NextSignRateLimitError(
            _message(body) or "Too many requests",
            retry_after=parse_retry_after(retry_after),
            status_code=status_code,
            body=body,
            operation=operation,
        )
    if not 200 <= status_code < 300:
        raise _error_for_code(
            status_code, _message(body) or f"HTTP {status_code}", status_code, body, operation
        )
    _raise_for_error_body(operation, status_code, body)
    if payload_of(operation, body) is not None:
        if operation == "document_convert" and not body.get("documents"):
            raise NextSignError(
                "Convert returned no documents", status_code=status_code, body=body, operation=operation
            )
        return body
    message = _message(body)
    if message:
        raise _error_for_message(message, status_code, body, operation)
    raise NextSignUnexpectedResponseError(
        f"answered with a body of unknown shape {describe(body)}; nothing was retried. Please report "
        "this shape (set NEXTSIGN_LOG_RESPONSE_SHAPES=1 to log every answer's keys, never values)",
        status_code=status_code,
        operation=operation,
    )


def confirms_absence(err: BaseException) -> bool:
    """True only for NextSign's documented "not found" answer (``{"message": "Case not found"}`` and
    ``{"message": "Cases not found"}``, with HTTP 200 or 404): a gateway 404 or any other error proves
    nothing about whether a case exists.
    """
    if not isinstance(err, NextSignNotFoundError) or err.status_code not in (200, 404):
        return False
    body = err.body
    if not isinstance(body, Mapping):
        return False
    message = body.get("message")
    return isinstance(message, str) and message.strip().lower() in DOCUMENTED_ABSENCE


def _raise_for_error_body(operation: str, status_code: int, body: Any) -> None:
    if not isinstance(body, Mapping):
        return
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], Mapping) else {"message": str(errors[0])}
        text = first.get("description") or first.get("message") or "error"
        raise _error_for_code(int_code(first.get("code")), str(text), status_code, body, operation)
    if body.get("status") == "error":
        raise _error_for_message(
            _message(body) or "error", status_code, body, operation, default=NextSignValidationError
        )
    status = body.get("status")
    if isinstance(status, Mapping):  # Convert: {"status": {"code": 200, "message": "OK"}}
        code = int_code(status.get("code"))
        if code is not None and not 200 <= code < 300:
            text = body.get("message") or status.get("message") or f"code {code}"
            raise _error_for_code(code, str(text), status_code, body, operation)
    error = body.get("error")  # v3 style: {"error": "missing-url"}
    if isinstance(error, str) and error:
        raise _error_for_message(error, status_code, body, operation, default=NextSignValidationError)
    code = int_code(body.get("code"))  # flat {"code": 400, "message": "Bad Request", ...}
    if code is not None and code >= 400 and payload_of(operation, body) is None:
        text = body.get("description") or body.get("message") or f"code {code}"
        raise _error_for_code(code, str(text), status_code, body, operation)


def _error_for_code(
    code: int | None, message: str, status_code: int, body: Any, operation: str
) -> NextSignError:
    kwargs: dict[str, Any] = {"status_code": status_code, "body": body, "operation": operation}
    if code in (401, 403):
        return NextSignAuthError(message, **kwargs)
    if code == 404 or "not found" in message.lower():
        return NextSignNotFoundError(message, **kwargs)
    if code == 429:
        return NextSignRateLimitError(message, **kwargs)
    if code is not None and code >= 500:
        return NextSignServerError(message, **kwargs)
    if code is not None and code >= 400:
        return NextSignValidationError(message, **kwargs)
    return _error_for_message(message, status_code, body, operation)


def _error_for_message(
    message: str,
    status_code: int,
    body: Any,
    operation: str,
    *,
    default: type[NextSignError] = NextSignError,
) -> NextSignError:
    lowered = message.lower()
    kwargs: dict[str, Any] = {"status_code": status_code, "body": body, "operation": operation}
    if "not found" in lowered:
        return NextSignNotFoundError(message, **kwargs)
    if "unauthorized" in lowered or "api key" in lowered or "bearer" in lowered:
        return NextSignAuthError(message, **kwargs)
    if any(text in lowered for text in _TRANSIENT_TEXTS):
        return NextSignServerError(message, **kwargs)
    if "too many requests" in lowered or "rate limit" in lowered:
        return NextSignRateLimitError(message, **kwargs)
    return default(message, **kwargs)


#: Message texts that mean "try again later" even inside an HTTP 200.
_TRANSIENT_TEXTS = (
    "internal server error",
    "temporarily unavailable",
    "service unavailable",
    "bad gateway",
    "gateway timeout",
)


def _message(body: Any) -> str | None:
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            text = errors[0].get("description") or errors[0].get("message")
            if isinstance(text, str) and text:
                return text
        for key in ("description", "message", "error"):  # "description" is the specific part
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
        return None
    if isinstance(body, str) and body.strip():
        return body_preview(body.strip())
    return None


def int_code(value: Any) -> int | None:
    """A status or error code as NextSign sends it (a number or a numeric string), else None."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
