"""The errors every NextSign call raises: one base class, one subclass per kind of failure."""

from __future__ import annotations

import re
from typing import Any

_BODY_PREVIEW = 500
#: A query string right after a URL or a path (``…/a.pdf?X-Amz-Signature=…``), up to a space or quote.
_QUERY_STRING = re.compile(r"(?<=[\w/.~%-])\?[^\s'\"<>()]+")


def without_query_strings(text: str) -> str:
    """``text`` with the query string of every URL or path in it cut to ``?…``.

    Pre-signed download URLs carry their signature in the query and work like a password for about an
    hour, and ``requests`` and ``urllib3`` put the URL in their exception texts.
    """
    return _QUERY_STRING.sub("?…", text)


class NextSignError(Exception):
    """A NextSign call failed.

    :param message: what went wrong, in NextSign's own words where it gave any (query strings of URLs
        in it are cut: a pre-signed URL's query is its password).
    :param status_code: the HTTP status, when a response arrived.
    :param body: the decoded response body, when there was one.
    :param operation: the endpoint that failed, e.g. ``case_get``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        operation: str | None = None,
    ) -> None:
        message = without_query_strings(message)
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.operation = operation

    def __str__(self) -> str:
        where = f"NextSign {self.operation}" if self.operation else "NextSign"
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{where}{status}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the keyword-only fields when the error crosses a process boundary (e.g. pickled in a trigger).
        return (_rebuild, (type(self), self.message, self.status_code, self.body, self.operation))


def _rebuild(cls: type[NextSignError], message: str, status_code: Any, body: Any, operation: Any) -> Any:
    err = cls.__new__(cls)
    NextSignError.__init__(err, message, status_code=status_code, body=body, operation=operation)
    return err


class NextSignAuthError(NextSignError):
    """The API key or the company ID was refused (HTTP 401, or NextSign's "Unauthorized" body)."""


class NextSignNotFoundError(NextSignError):
    """The form, case or company does not exist (including NextSign's HTTP 200 "Case not found")."""


class NextSignValidationError(NextSignError):
    """NextSign rejected the request as invalid, or the input was refused before sending."""


class NextSignRateLimitError(NextSignError):
    """The request budget was exceeded (HTTP 429); ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_rate_limit, (self.message, self.retry_after, self.status_code, self.operation))


def _rebuild_rate_limit(message: str, retry_after: Any, status_code: Any, operation: Any) -> Any:
    return NextSignRateLimitError(
        message, retry_after=retry_after, status_code=status_code, operation=operation
    )


class NextSignServerError(NextSignError):
    """NextSign answered with a server error (HTTP 5xx or an "Internal server error" body)."""


class NextSignUnexpectedResponseError(NextSignError):
    """NextSign answered with a success status but a body shape this provider does not know.

    Not transient, so never retried: the message names the keys seen (never their values), so the
    difference can be reported. ``NEXTSIGN_LOG_RESPONSE_SHAPES=1`` logs the shape of every answer.
    """


class NextSignIncompleteListingError(NextSignError):
    """Case List could not be read completely (a repeated page, paging that breaks its own rules, or
    no end in sight). What it would have shown is unknown: never treat it as "absent".
    """


class NextSignConnectionError(NextSignError):
    """NextSign could not be reached, or did not answer within the timeout.

    ``request_sent`` is False only when the connection never opened, so the request surely did not
    reach NextSign (safe to send again even for a create).
    """

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_connection, (self.message, self.request_sent, self.operation))


def _rebuild_connection(message: str, request_sent: bool, operation: Any) -> Any:
    return NextSignConnectionError(message, request_sent=request_sent, operation=operation)


class NextSignAmbiguousWriteError(NextSignError):
    """A create (case create, form submit) may or may not have been applied: its answer was lost.

    NextSign has no idempotency keys; look the case up by its ``referenceId`` before creating again.
    """


class NextSignCaseFailedError(NextSignError):
    """A case reached a state it cannot be signed from: denied, expired or deleted."""

    def __init__(self, case_id: str, state: str) -> None:
        state = getattr(state, "value", state)
        super().__init__(f"case {case_id} is {state}; it will not be signed")
        self.case_id = case_id
        self.state = state

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.case_id, self.state))


def body_preview(body: Any) -> str:
    """Shorten a response body for an error message."""
    text = body if isinstance(body, str) else repr(body)
    return text if len(text) <= _BODY_PREVIEW else text[:_BODY_PREVIEW] + "..."


class NextSignInputError(NextSignValidationError, ValueError):
    """The input was refused before any request was sent; the message names the field and the fix."""
