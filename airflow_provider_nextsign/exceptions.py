"""Public exceptions of the NextSign provider (defined in :mod:`airflow_provider_nextsign.api.errors`)."""

from airflow_provider_nextsign.api.errors import (
    NextSignAmbiguousWriteError,
    NextSignAuthError,
    NextSignCaseFailedError,
    NextSignConnectionError,
    NextSignError,
    NextSignInputError,
    NextSignNotFoundError,
    NextSignRateLimitError,
    NextSignServerError,
    NextSignValidationError,
)

__all__ = [
    "NextSignAmbiguousWriteError",
    "NextSignAuthError",
    "NextSignCaseFailedError",
    "NextSignConnectionError",
    "NextSignError",
    "NextSignInputError",
    "NextSignNotFoundError",
    "NextSignRateLimitError",
    "NextSignServerError",
    "NextSignValidationError",
]
