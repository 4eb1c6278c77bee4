"""The retry policy of every NextSign call (tenacity).

Reads retry on 429, 5xx, timeouts and dropped connections: after ``Retry-After`` when the server sent
one, else after jittered exponential backoff (1, 2, 4, 8, 16 s, as NextSign recommends). Creates are
never retried once they may have reached the server: NextSign has no idempotency keys, so an unknown
outcome becomes :class:`NextSignAmbiguousWriteError` and the caller decides (by ``referenceId``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity

from airflow_provider_nextsign.api.errors import (
    NextSignConnectionError,
    NextSignRateLimitError,
    NextSignServerError,
    without_query_strings,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    :param max_attempts: attempts in total, the first included (6 = the documented 5 retries).
    :param backoff_initial: first backoff in seconds, doubled on each retry.
    :param backoff_max: cap of one backoff.
    :param jitter: up to this many random seconds added to each backoff.
    :param max_retry_after: cap of a server's ``Retry-After`` hint, for this caller's wait and for the
        pause of the budget shared by every caller on the host (:meth:`pause_after`).
    """

    max_attempts: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 16.0
    jitter: float = 1.0
    max_retry_after: float = 300.0

    def wait(self) -> tenacity.wait.wait_base:
        """The tenacity wait strategy: ``Retry-After`` when known, else exponential with jitter."""
        backoff = tenacity.wait_exponential_jitter(
            initial=self.backoff_initial, max=self.backoff_max, jitter=self.jitter
        )
        cap = self.max_retry_after

        def wait(state: tenacity.RetryCallState) -> float:
            outcome = state.outcome
            err = outcome.exception() if outcome is not None else None
            hint = err.retry_after if isinstance(err, NextSignRateLimitError) else None
            if hint is not None and math.isfinite(hint) and hint >= 0:
                return min(hint, cap)
            return float(backoff(state))

        return _WaitFunc(wait)

    def pause_after(self, err: NextSignRateLimitError) -> float:
        """Seconds to pause the shared request budget after a 429: its ``Retry-After``, else 1 s.

        Capped at ``max_retry_after``: the budget holds back every NextSign call on the host, so one
        answer with ``Retry-After: 86400`` must not stop them all for a day.
        """
        hint = err.retry_after
        if hint is None or not math.isfinite(hint) or hint < 0:
            hint = 1.0
        return min(hint, self.max_retry_after)


class _WaitFunc(tenacity.wait.wait_base):
    def __init__(self, func: Callable[[tenacity.RetryCallState], float]) -> None:
        self._func = func

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return self._func(retry_state)


#: Errors after which a read may simply be sent again.
TRANSIENT_ERRORS = (NextSignRateLimitError, NextSignServerError, NextSignConnectionError)


def is_safe_to_resend_write(err: BaseException) -> bool:
    """True when a create surely did not reach NextSign: a 429, or a connection that never opened."""
    if isinstance(err, NextSignRateLimitError):
        return True
    return isinstance(err, NextSignConnectionError) and not getattr(err, "request_sent", True)


def retrying(
    policy: RetryPolicy,
    *,
    write: bool = False,
    sleep: Callable[[float], Any] | None = None,
) -> tenacity.Retrying:
    """A ``tenacity.Retrying`` for one call; ``write=True`` retries only a create that surely did not land."""
    return tenacity.Retrying(**_arguments(policy, write, sleep))


def async_retrying(
    policy: RetryPolicy, *, sleep: Callable[[float], Any] | None = None
) -> tenacity.AsyncRetrying:
    """The async twin of :func:`retrying`, for reads from triggers (sleeps with ``asyncio.sleep``)."""
    return tenacity.AsyncRetrying(**_arguments(policy, False, sleep))


def _arguments(policy: RetryPolicy, write: bool, sleep: Callable[[float], Any] | None) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "retry": _retry_condition(write),
        "wait": policy.wait(),
        "stop": tenacity.stop_after_attempt(policy.max_attempts),
        "reraise": True,
        "before_sleep": log_retry,
    }
    if sleep is not None:
        arguments["sleep"] = sleep
    return arguments


def log_retry(state: tenacity.RetryCallState) -> None:
    """Log a failed attempt and the wait before the next one.

    The error text never holds the key (it travels in a header no exception prints) nor a URL's query
    string (a pre-signed URL's query is its signature).
    """
    outcome = state.outcome
    err = outcome.exception() if outcome is not None else None
    wait = state.next_action.sleep if state.next_action else 0.0
    reason = without_query_strings(str(err))
    log.warning("NextSign request failed (%s); retry %d in %.1fs", reason, state.attempt_number, wait)


def _retry_condition(write: bool) -> tenacity.retry_base:
    if write:
        return tenacity.retry_if_exception(is_safe_to_resend_write)
    return tenacity.retry_if_exception_type(TRANSIENT_ERRORS)
