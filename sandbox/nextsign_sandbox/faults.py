"""Fault injection: per operation, the next ``count`` requests fail in a chosen way."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

OPERATIONS = (
    "forms_get",
    "forms_tags",
    "forms_submit",
    "cases_list",
    "case_get",
    "cases_get_multiple",
    "case_create",
    "case_delete",
    "file_upload",
    "file_presigned_url",
    "document_convert",
)
KINDS = ("server_error", "slow", "drop", "error_body", "lost_response", "late_write")
WRITES = ("forms_submit", "case_create", "case_delete", "file_upload", "document_convert")
#: The writes that create a case: ``late_write`` applies to these only.
CREATES = ("forms_submit", "case_create")


@dataclass
class Fault:
    """One armed fault: ``kind`` for the next ``remaining`` requests of ``operation``."""

    operation: str
    kind: str
    remaining: int = 1
    options: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {"operation": self.operation, "kind": self.kind, "count": self.remaining, **self.options}


class FaultInjector:
    """Armed faults, consumed first-in first-out per operation."""

    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()

    def add(self, operation: str, kind: str, count: int = 1, **options: Any) -> Fault:
        """Arm a fault; ValueError naming the bad argument when it is not one of the known values."""
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "lost_response" and operation not in WRITES:
            raise ValueError(f"lost_response applies to writes ({', '.join(WRITES)}), not {operation!r}")
        if kind == "late_write" and operation not in CREATES:
            raise ValueError(f"late_write applies to creates ({', '.join(CREATES)}), not {operation!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        seconds = options.get("seconds", 2.0 if kind in ("slow", "late_write") else None)
        if seconds is not None:
            if not isinstance(seconds, (int, float)) or seconds < 0:
                raise ValueError(f"seconds must be a number >= 0, got {seconds!r}")
            options["seconds"] = float(seconds)
        after_write = options.get("after_write")
        if after_write is not None and (
            kind != "server_error" or operation not in CREATES or not isinstance(after_write, bool)
        ):
            raise ValueError(
                "after_write (true/false) applies to server_error on case_create or forms_submit"
            )
        hold = options.get("hold")
        if hold is not None:
            if kind != "late_write" or not isinstance(hold, (int, float)) or hold < 0:
                raise ValueError(
                    f"hold (seconds without an answer) is a number >= 0 for late_write, got {hold!r}"
                )
            options["hold"] = float(hold)
        status = options.get("status")
        if status is not None and (not isinstance(status, int) or not 500 <= status <= 599):
            raise ValueError(f"status must be a 5xx integer, got {status!r}")
        fault = Fault(operation, kind, count, options)
        with self._lock:
            self._faults.setdefault(operation, deque()).append(fault)
        return fault

    def take(self, operation: str) -> Fault | None:
        """The fault for this request of ``operation`` (consuming one count), or None."""
        with self._lock:
            queue = self._faults.get(operation)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return fault

    def list(self) -> list[dict[str, Any]]:
        """The armed faults."""
        with self._lock:
            return [f.as_dict() for queue in self._faults.values() for f in queue]

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._faults.clear()
