"""Public exceptions of the NextSign provider (most are defined in :mod:`~.api.errors`)."""

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_nextsign.api.errors import (
    NextSignAmbiguousWriteError,
    NextSignAuthError,
    NextSignCaseFailedError,
    NextSignConnectionError,
    NextSignError,
    NextSignIncompleteListingError,
    NextSignInputError,
    NextSignNotFoundError,
    NextSignRateLimitError,
    NextSignServerError,
    NextSignUnexpectedResponseError,
    NextSignValidationError,
)


# AirflowException declares a class-level HTTP status_code; ours is the NextSign answer's (or None).
class NextSignCaseFailedException(NextSignCaseFailedError, AirflowFailException):  # type: ignore[misc]
    """A waited-for case is denied, expired or deleted: the task fails at once, without Airflow retries
    (polling a denied case again cannot change it)."""


__all__ = [
    "NextSignAmbiguousWriteError",
    "NextSignAuthError",
    "NextSignCaseFailedError",
    "NextSignCaseFailedException",
    "NextSignConnectionError",
    "NextSignError",
    "NextSignIncompleteListingError",
    "NextSignInputError",
    "NextSignNotFoundError",
    "NextSignRateLimitError",
    "NextSignServerError",
    "NextSignUnexpectedResponseError",
    "NextSignValidationError",
]
