"""Webhook delivery of the NextSign sandbox: at-least-once, with NextSign's documented retry schedule.

NextSign POSTs ``{"trigger": ..., "case": {...}}`` to each webhook subscribed to the trigger,
with the webhook's custom headers (its only documented authentication). A failed delivery
(unreachable, timeout, non-2xx) is retried immediately, then after about 2, 4, 8, 16 minutes,
doubling, 14 attempts in all. ``time_scale`` runs that schedule faster for tests.
"""

from __future__ import annotations

import builtins
import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

TRIGGERS: tuple[str, ...] = (
    "case_created",
    "recipient_signed",
    "case_signed",
    "case_denied",
    "webflow.completed",
    "case.reminder.sent",
    "case.expiry.expired",
    "case.expiry.7days",
)
_SETTINGS = ("time_scale", "base_delay", "factor", "max_attempts", "timeout", "duplicates")


@dataclass(order=True)
class _Job:
    due: float  # time.monotonic() at which to send
    seq: int
    webhook_id: str = field(compare=False)
    trigger: str = field(compare=False)
    case_id: Any = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(compare=False)
    duplicate: bool = field(compare=False, default=False)


def _check_triggers(triggers: Iterable[str] | str) -> list[str]:
    if isinstance(triggers, str):
        triggers = [triggers]
    result: list[str] = []
    for trigger in triggers:
        if trigger not in TRIGGERS:
            raise ValueError(f"unknown webhook trigger {trigger!r}; valid triggers: {', '.join(TRIGGERS)}")
        if trigger not in result:
            result.append(trigger)
    if not result:
        raise ValueError(f"triggers must name at least one of: {', '.join(TRIGGERS)}")
    return result


class WebhookDispatcher:
    """Registry of webhook targets and the background thread that delivers events to them.

    :param time_scale: seconds of API time per real second; a retry delay of D API seconds
        waits D / time_scale real seconds.
    :param base_delay: API seconds before attempt 2; attempt n+1 follows a failed attempt n
        after ``base_delay * factor ** (n - 1)``.
    :param factor: growth of the delay per attempt.
    :param max_attempts: attempts per event and webhook, the first included.
    :param timeout: real seconds to wait for the receiver's answer.
    :param duplicates: extra copies sent after each successful delivery, to exercise
        at-least-once consumers.
    """

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        base_delay: float = 120.0,
        factor: float = 2.0,
        max_attempts: int = 14,
        timeout: float = 10.0,
        duplicates: int = 0,
    ) -> None:
        self.time_scale = 1.0
        self.base_delay = 120.0
        self.factor = 2.0
        self.max_attempts = 14
        self.timeout = 10.0
        self.duplicates = 0
        self.deliveries: builtins.list[dict[str, Any]] = []
        self._webhooks: dict[str, dict[str, Any]] = {}
        self._heap: builtins.list[_Job] = []
        self._seq = itertools.count()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        # Bumped by close(): a thread still busy with a slow receiver then exits instead of
        # carrying on next to the one a later emit() starts.
        self._generation = 0
        self._session: requests.Session | None = None
        self.configure(
            time_scale=time_scale,
            base_delay=base_delay,
            factor=factor,
            max_attempts=max_attempts,
            timeout=timeout,
            duplicates=duplicates,
        )

    # ------------------------------------------------------------------ registry

    def configure(self, **settings: Any) -> None:
        """Change delivery settings (the constructor's keywords); applies to attempts scheduled later."""
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise ValueError(f"unknown webhook setting(s) {unknown}; valid settings: {', '.join(_SETTINGS)}")
        checks = {
            "time_scale": (float, lambda v: v > 0, "a number > 0"),
            "base_delay": (float, lambda v: v >= 0, "a number >= 0"),
            "factor": (float, lambda v: v >= 1, "a number >= 1"),
            "max_attempts": (int, lambda v: v >= 1, "an integer >= 1"),
            "timeout": (float, lambda v: v > 0, "a number > 0"),
            "duplicates": (int, lambda v: v >= 0, "an integer >= 0"),
        }
        converted: dict[str, Any] = {}
        for name, value in settings.items():
            kind, valid, wanted = checks[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"webhook setting {name} must be {wanted}, got {value!r}")
            if kind is int and value != int(value):
                raise ValueError(f"webhook setting {name} must be {wanted}, got {value!r}")
            number = kind(value)
            if not valid(number):
                raise ValueError(f"webhook setting {name} must be {wanted}, got {value!r}")
            converted[name] = number
        with self._cond:
            for name, number in converted.items():
                setattr(self, name, number)

    def add(
        self,
        url: str,
        triggers: Iterable[str],
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Register a webhook target; returns ``{"id", "url", "triggers", "headers", "name"}``."""
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"webhook url must be an absolute http(s) URL, got {url!r}")
        checked = _check_triggers(triggers)
        custom = dict(headers or {})
        for key, value in custom.items():
            # Report the header name only: header values usually carry secrets.
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"webhook header {key!r} must map a string name to a string value")
            if not key or any(c in key + value for c in "\r\n") or not value.isascii():
                raise ValueError(f"webhook header {key!r} needs a non-empty name and a one-line ASCII value")
        webhook_id = uuid.uuid4().hex
        webhook: dict[str, Any] = {
            "id": webhook_id,
            "url": url,
            "triggers": checked,
            "headers": custom,
            "name": name,
        }
        with self._cond:
            self._webhooks[webhook_id] = webhook
        log.info("Webhook %s added for %s (%s)", webhook_id, parts.netloc, ", ".join(checked))
        return self._copy(webhook)

    def remove(self, webhook_id: str) -> bool:
        """Unregister a webhook; its queued retries are dropped. ``False`` when the id is unknown."""
        with self._cond:
            removed = self._webhooks.pop(webhook_id, None) is not None
            if removed:
                self._heap = [job for job in self._heap if job.webhook_id != webhook_id]
                heapq.heapify(self._heap)
                self._cond.notify_all()
        return removed

    def list(self) -> builtins.list[dict[str, Any]]:
        """The registered webhooks, in the order they were added."""
        with self._cond:
            return [self._copy(webhook) for webhook in self._webhooks.values()]

    @staticmethod
    def _copy(webhook: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **webhook,
            "triggers": builtins.list(webhook["triggers"]),
            "headers": dict(webhook["headers"]),
        }

    # ------------------------------------------------------------------ delivery

    def emit(self, trigger: str, case: Mapping[str, Any]) -> None:
        """Queue ``{"trigger": trigger, "case": case}`` for every webhook subscribed to ``trigger``.

        Returns at once. The case is snapshotted now, so later changes to it are not sent.
        """
        _check_triggers([trigger])
        body = json.dumps({"trigger": trigger, "case": case}, default=str).encode()
        case_id = case.get("_id")
        with self._cond:
            targets = [wid for wid, webhook in self._webhooks.items() if trigger in webhook["triggers"]]
            if not targets:
                return
            now = time.monotonic()
            for webhook_id in targets:
                self._push(_Job(now, next(self._seq), webhook_id, trigger, case_id, body, attempt=1))
            self._ensure_thread()

    def pending(self) -> int:
        """Deliveries queued (including scheduled retries) or being sent right now."""
        with self._cond:
            return len(self._heap) + self._in_flight

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` real seconds until nothing is pending; ``True`` when drained."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and not self._in_flight, timeout)

    def close(self) -> None:
        """Stop the delivery thread and drop whatever is still queued. ``emit`` restarts it."""
        with self._cond:
            self._generation += 1
            self._heap.clear()
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.timeout + 5)
        with self._cond:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> WebhookDispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _push(self, job: _Job) -> None:
        """Queue a job; the caller holds ``self._cond``."""
        heapq.heappush(self._heap, job)
        self._cond.notify_all()

    def _ensure_thread(self) -> None:
        """Start the delivery thread if needed; the caller holds ``self._cond``."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, args=(self._generation,), name="nextsign-sandbox-webhooks", daemon=True
            )
            self._thread.start()

    def _run(self, generation: int) -> None:
        while True:
            with self._cond:
                while self._generation == generation:
                    if self._heap:
                        wait = self._heap[0].due - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._generation != generation:
                    return
                job = heapq.heappop(self._heap)
                webhook = self._webhooks.get(job.webhook_id)
                if webhook is None:
                    self._cond.notify_all()
                    continue
                webhook = self._copy(webhook)
                self._in_flight += 1
            try:
                self._deliver(job, webhook, generation)
            except Exception:  # the thread must survive anything a receiver does
                log.exception("Webhook %s delivery crashed", job.webhook_id)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = requests.Session()
            # Deliveries go where the webhook says, never through an environment proxy.
            self._session.trust_env = False
        try:
            response = self._session.post(
                url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=self.timeout
            )
        except requests.Timeout:
            return None, f"timeout after {self.timeout:g} s"
        except requests.RequestException as exc:
            return None, f"{type(exc).__name__}: connection failed"
        response.close()
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"

    def _follow_up(self, job: _Job, due: float, *, attempt: int, duplicate: bool = False) -> _Job:
        return _Job(
            due, next(self._seq), job.webhook_id, job.trigger, job.case_id, job.body, attempt, duplicate
        )

    def _deliver(self, job: _Job, webhook: Mapping[str, Any], generation: int) -> None:
        status, error = self._post(webhook["url"], job.body, webhook["headers"])
        with self._cond:
            self.deliveries.append(
                {
                    "webhook_id": job.webhook_id,
                    "trigger": job.trigger,
                    "case_id": job.case_id,
                    "attempt": job.attempt,
                    "status_code": status,
                    "error": error,
                    "at": time.time(),
                    "duplicate": job.duplicate,
                }
            )
            if job.duplicate or self._generation != generation:
                return
            now = time.monotonic()
            if error is None:
                log.info("Webhook %s: %s delivered (attempt %d)", job.webhook_id, job.trigger, job.attempt)
                for _ in range(self.duplicates):
                    self._push(self._follow_up(job, now, attempt=job.attempt, duplicate=True))
            elif job.attempt < self.max_attempts:
                delay = self.base_delay * self.factor ** (job.attempt - 1)
                log.warning(
                    "Webhook %s: %s attempt %d failed (%s); retrying in %g API seconds",
                    job.webhook_id,
                    job.trigger,
                    job.attempt,
                    error,
                    delay,
                )
                self._push(self._follow_up(job, now + delay / self.time_scale, attempt=job.attempt + 1))
            else:
                log.error(
                    "Webhook %s: %s given up after %d attempts (%s)",
                    job.webhook_id,
                    job.trigger,
                    job.attempt,
                    error,
                )
