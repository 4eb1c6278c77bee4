"""Rolling-window rate limit per API key, in API time (``time_scale`` API seconds per real second)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RollingWindowLimiter:
    """At most ``limit`` accepted requests per key in any rolling ``window`` API seconds.

    Only accepted requests count. :meth:`acquire` returns None when the request may proceed,
    otherwise the real seconds until a slot frees up.
    """

    def __init__(
        self,
        limit: int = 100,
        *,
        window: float = 60.0,
        time_scale: float = 1.0,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.time_scale = time_scale
        self.enabled = enabled
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def configure(
        self, *, limit: int | None = None, time_scale: float | None = None, enabled: bool | None = None
    ) -> None:
        """Change the limit, time scale or switch; the recorded requests are kept."""
        with self._lock:
            if limit is not None:
                if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                    raise ValueError(f"requests_per_minute must be a positive integer, got {limit!r}")
                self.limit = limit
            if time_scale is not None:
                if not isinstance(time_scale, (int, float)) or time_scale <= 0:
                    raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
                self.time_scale = float(time_scale)
            if enabled is not None:
                self.enabled = bool(enabled)

    @property
    def real_window(self) -> float:
        """The window length in real seconds."""
        return self.window / self.time_scale

    def acquire(self, key: str) -> float | None:
        """Count a request for ``key``; None if allowed, else the real seconds to wait."""
        if not self.enabled:
            return None
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            horizon = now - self.real_window
            while hits and hits[0] <= horizon:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[len(hits) - self.limit] - horizon, 0.001)
            hits.append(now)
            return None

    def reset(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._hits.clear()
