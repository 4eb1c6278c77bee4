"""Small helpers shared by the sandbox modules: ids and timestamps in NextSign's formats."""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from datetime import UTC, datetime

_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_counter_lock = threading.Lock()
_KEY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def object_id() -> str:
    """A new 24-hex id shaped like a MongoDB ObjectId (4-byte time, 5 random bytes, 3-byte counter)."""
    with _counter_lock:
        count = next(_counter) & 0xFFFFFF
    return f"{int(time.time()):08x}{secrets.token_hex(5)}{count:06x}"


def nextsign_key() -> str:
    """A human-readable case key, distinct from ``_id`` (its real format is undocumented)."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(10))


def iso(millis: int | None = None) -> str:
    """Epoch ``millis`` (default now) as ISO 8601 UTC with ms and ``Z``: ``2023-12-14T16:40:27.431Z``."""
    if millis is None:
        millis = time.time_ns() // 1_000_000
    seconds, ms = divmod(millis, 1000)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms:03d}Z"


def parse_iso(value: str) -> int:
    """Inverse of :func:`iso`: epoch milliseconds."""
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(moment.replace(microsecond=0).timestamp()) * 1000 + moment.microsecond // 1000


def later_iso(previous: str | None) -> str:
    """Now as ISO, but strictly after ``previous`` so that every change moves ``updatedAt``."""
    now = time.time_ns() // 1_000_000
    if previous:
        now = max(now, parse_iso(previous) + 1)
    return iso(now)
