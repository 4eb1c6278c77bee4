"""The sandbox's moving parts in one object: store, lifecycle, simulator, rate limit, faults, webhooks,
request counters."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from typing import Any
from urllib.parse import urlencode

from nextsign_sandbox.faults import FaultInjector
from nextsign_sandbox.lifecycle import Lifecycle, SigningSimulator
from nextsign_sandbox.profiles import DEFAULT_PROFILE, PROFILES, check_profile, check_setting
from nextsign_sandbox.ratelimit import RollingWindowLimiter
from nextsign_sandbox.stats import RequestStats
from nextsign_sandbox.store import Persister, Store, StoredFile

log = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
PRESIGN_TTL = 3600.0  # API seconds a pre-signed URL stays valid (and cached)
# A cached pre-signed URL is handed out again only while this share of its lifetime remains.
_CACHE_MIN_REMAINING = 0.1

_WEBHOOK_SETTINGS = ("base_delay", "factor", "max_attempts", "timeout", "duplicates")


class Sandbox:
    """All sandbox state and behaviour, independent of HTTP (the routes and the server call into it)."""

    def __init__(
        self,
        *,
        sign_after: float | None = None,
        requests_per_minute: int = 100,
        time_scale: float = 1.0,
        state_file: str | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        rate_limit: bool = True,
        outcome: str = "sign",
        profile: str = DEFAULT_PROFILE,
    ) -> None:
        if not isinstance(time_scale, (int, float)) or time_scale <= 0:
            raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
        self.store = Store()
        self.persister = Persister(self.store, state_file) if state_file else None
        if self.persister is not None:
            self.persister.load()
        self.time_scale = float(time_scale)
        self.max_upload_bytes = max_upload_bytes
        self.presign_ttl = PRESIGN_TTL
        # False (default, as observed live): Case Get/Delete of an unknown case answer HTTP 200
        # {"message":"Case not found"}; True: the same body with HTTP 404.
        self.strict_http_errors = False
        self.limiter = RollingWindowLimiter(
            requests_per_minute, time_scale=self.time_scale, enabled=rate_limit
        )
        self.limiter.configure(limit=requests_per_minute)
        self.faults = FaultInjector()
        self.stats = RequestStats()
        self.webhooks = _make_dispatcher(self.time_scale)
        self.lifecycle = Lifecycle(self.store, self._emit)
        self.profile = profile
        # The answer shapes (see profiles.py); set from the profile, then changeable one by one.
        self.shape: dict[str, Any] = {}
        self._apply_shape(check_profile(profile))
        self.simulator = SigningSimulator(
            self.lifecycle, sign_after=sign_after, outcome=outcome, time_scale=self.time_scale
        )
        self._presigned: dict[str, tuple[str, float]] = {}
        self._presign_lock = threading.Lock()
        # Requests held by a "slow" fault; the server cancels them at once when it stops.
        self.sleeping: set[Any] = set()

    # ------------------------------------------------------------------ running

    def start(self, base_url: str) -> None:
        """Start the background threads; ``base_url`` is used in stored-file URLs."""
        self.store.base_url = base_url
        if self.persister is not None:
            self.persister.start()
        self.simulator.start()

    def stop(self) -> None:
        """Stop the threads, deliver what the webhook queue can within a second, write the state file."""
        self.simulator.stop()
        if self.webhooks is not None:
            self.webhooks.close()
        if self.persister is not None:
            self.persister.stop()

    def _emit(self, trigger: str, case: dict[str, Any]) -> None:
        if self.webhooks is not None:
            self.webhooks.emit(trigger, case)

    # ------------------------------------------------------------------ settings

    def settings(self) -> dict[str, Any]:
        """The current settings (what ``POST /_sandbox/config`` can change, besides webhook delivery)."""
        return {
            "sign_after": self.simulator.sign_after,
            "outcome": self.simulator.outcome,
            "auto_expire": self.simulator.auto_expire,
            "requests_per_minute": self.limiter.limit,
            "rate_limit": self.limiter.enabled,
            "time_scale": self.time_scale,
            "max_upload_bytes": self.max_upload_bytes,
            "presign_ttl": self.presign_ttl,
            "strict_http_errors": self.strict_http_errors,
            "profile": self.profile,
            **{name: list(v) if isinstance(v, tuple) else v for name, v in self.shape.items()},
        }

    def _apply_shape(self, shape: dict[str, Any]) -> None:
        self.shape.update(shape)
        self.lifecycle.sign_obligated_only = self.shape["signed_copies"] == "sign_obligated"
        self.lifecycle.expired_case_status = bool(self.shape["expired_case_status"])

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings and return them all.

        Names: sign_after, outcome (sign/deny/expire), auto_expire, requests_per_minute, rate_limit,
        time_scale, max_upload_bytes, presign_ttl (API seconds), strict_http_errors, the webhook
        dispatcher's base_delay, factor, max_attempts, timeout, duplicates, and the answer shapes:
        ``profile`` (docs/production/rich) and each setting of profiles.CHOICES (applied after the
        profile). Bad names or values: ValueError, and nothing is changed.
        """
        known = {*self.settings(), *_WEBHOOK_SETTINGS}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        shape = check_profile(settings["profile"]) if "profile" in settings else {}
        for name in PROFILES[DEFAULT_PROFILE]:
            if name in settings:
                shape[name] = check_setting(name, settings[name])
        for name in ("max_upload_bytes", "presign_ttl"):
            value = settings.get(name, 1)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        self.limiter.configure(
            limit=settings.get("requests_per_minute"),
            time_scale=settings.get("time_scale"),
            enabled=settings.get("rate_limit"),
        )
        if "time_scale" in settings:
            self.time_scale = float(settings["time_scale"])
        simulator = {
            k: settings[k] for k in ("sign_after", "outcome", "auto_expire", "time_scale") if k in settings
        }
        if simulator:
            self.simulator.configure(**simulator)
        for name in ("max_upload_bytes", "presign_ttl"):
            if name in settings:
                setattr(self, name, settings[name])
        if "strict_http_errors" in settings:
            self.strict_http_errors = bool(settings["strict_http_errors"])
        if "profile" in settings:
            self.profile = settings["profile"]
        if shape:
            self._apply_shape(shape)
        hooks = {k: v for k, v in settings.items() if k in (*_WEBHOOK_SETTINGS, "time_scale")}
        if hooks and self.webhooks is not None:
            self.webhooks.configure(**hooks)
        return self.settings()

    # ------------------------------------------------------------------ pre-signed URLs

    def presign(self, key: str) -> tuple[str, bool]:
        """A pre-signed URL for ``key`` and whether it came from the cache."""
        now = time.time()
        real_ttl = self.presign_ttl / self.time_scale
        with self._presign_lock:
            cached = self._presigned.get(key)
            if cached is not None and cached[1] - now > real_ttl * _CACHE_MIN_REMAINING:
                return cached[0], True
            expires = int((now + real_ttl) * 1000)
            query = urlencode({"expires": expires, "sig": self._signature(key, expires)})
            url = f"{self.store.file_url(key)}?{query}"
            self._presigned[key] = (url, expires / 1000)
            return url, False

    def check_signature(self, key: str, expires: str | None, sig: str | None) -> str | None:
        """None when the pre-signed URL is valid, else why not."""
        if not expires or not sig or not expires.isdigit():
            return "missing-signature"
        if not hmac.compare_digest(sig, self._signature(key, int(expires))):
            return "invalid-signature"
        if int(expires) < time.time() * 1000:
            return "expired"
        return None

    def _signature(self, key: str, expires: int) -> str:
        secret = bytes.fromhex(self.store.url_secret)
        return hmac.new(secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def file_bytes(self, stored: StoredFile) -> bytes:
        """The content of a stored file, rendering a signed PDF on first use."""
        if stored.data is None:
            from nextsign_sandbox import documents

            stored.data = documents.signed_pdf(stored.source or {})
        return stored.data


def _make_dispatcher(time_scale: float) -> Any:
    try:
        from nextsign_sandbox.webhooks import WebhookDispatcher
    except ImportError:  # pragma: no cover - only while sandbox/webhooks.py is not in the tree
        log.warning("sandbox webhooks unavailable: nextsign_sandbox.webhooks is missing")
        return None
    return WebhookDispatcher(time_scale=time_scale)
