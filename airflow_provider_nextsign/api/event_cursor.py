"""The asset watcher's cursor: which signed (or denied) cases are new, in bounded state (no I/O here).

Case List has no "changed since" filter and no documented order, so the watcher walks the whole
filtered list, a few pages per poll, round and round. The cursor keeps:

- ``watermark``: every case whose ``updatedAt`` is older was seen by a complete sweep, so it is not new;
- ``reported``: the ids (with their ``updatedAt``) reported at or after the watermark;
- ``sweep_started`` and ``index``: where the current sweep started and which page is next.

A case is new when its ``updatedAt`` is at or after the watermark and its id was not reported. When a
sweep completes, the watermark moves to that sweep's start (less a clock-skew margin) and older ids are
dropped, so the state holds only the cases that changed in about one sweep: it stays small however
large the account. The first watermark is the moment the watcher first started, so cases signed while
the first sweep runs are reported, and cases signed before it are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_nextsign.api.lookup import created_at

__all__ = ["CLOCK_SKEW", "EventCursor"]

#: Margin for the difference between the triggerer's clock and NextSign's ``updatedAt``.
CLOCK_SKEW = timedelta(minutes=5)
_VERSION = 2


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _moment(value: Any) -> datetime | None:
    return created_at({"createdAt": value})


@dataclass
class EventCursor:
    """Where the watcher is, and what it reported (JSON-safe through :meth:`dump` / :meth:`load`)."""

    watermark: datetime
    sweep_started: datetime
    index: int = 0
    reported: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, now: datetime) -> EventCursor:
        """A new cursor: cases changed from ``now`` (less the skew margin) on are new."""
        return cls(watermark=now - CLOCK_SKEW, sweep_started=now)

    @classmethod
    def load(cls, state: Any) -> EventCursor | None:
        """A cursor from stored state, or None when the state is not one (an older format included)."""
        if not isinstance(state, Mapping) or state.get("v") != _VERSION:
            return None
        watermark, started = _moment(state.get("w")), _moment(state.get("s"))
        if watermark is None or started is None:
            return None
        reported = state.get("r") or {}
        return cls(
            watermark, started, int(state.get("i") or 0), {str(k): str(v) for k, v in reported.items()}
        )

    def dump(self) -> dict[str, Any]:
        """The JSON-safe state to store."""
        return {
            "v": _VERSION,
            "w": _iso(self.watermark),
            "s": _iso(self.sweep_started),
            "i": self.index,
            "r": dict(self.reported),
        }

    def take(self, item: Mapping[str, Any]) -> bool:
        """Whether a listed case is new; a new one is remembered as reported."""
        case_id = str(item.get("_id") or "")
        updated = _moment(item.get("updatedAt"))
        if not case_id or updated is None or updated < self.watermark or case_id in self.reported:
            return False
        self.reported[case_id] = _iso(updated)
        return True

    def sweep_done(self, now: datetime) -> None:
        """The walk reached the end of the list: move the watermark and start the next sweep at page 0."""
        self.watermark = max(self.watermark, self.sweep_started - CLOCK_SKEW)
        self.reported = {
            case_id: stamp
            for case_id, stamp in self.reported.items()
            if (_moment(stamp) or self.watermark) >= self.watermark
        }
        self.sweep_started = now
        self.index = 0
