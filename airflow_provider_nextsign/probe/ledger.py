"""The probe's own record of the cases it may have created, kept on disk until they are deleted.

A probe deletes its cases at the end, also on failure, Ctrl-C and SIGTERM. SIGKILL (or a power cut)
cannot be caught, so each run writes what it is about to create into a file of its own *before* the
create is sent, and the case id as soon as the answer names it. The next probe on the machine reads the
files of runs that are gone and deletes what they left (see :mod:`.cleanup`).

The files live in ``$NEXTSIGN_PROBE_STATE_DIR``, else ``$XDG_STATE_HOME/airflow-provider-nextsign/probe``
(``~/.local/state/...``): a directory of this user's that nobody else may enter, files of mode 0600.
When no such directory is usable the ledger lives in memory only and says so in the report.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_nextsign.api.ratelimit import NOFOLLOW, private_directory_problem

__all__ = ["STATE_DIR_ENV", "Entry", "Ledger", "default_state_dir"]

log = logging.getLogger(__name__)

STATE_DIR_ENV = "NEXTSIGN_PROBE_STATE_DIR"
#: A run's file not written for this long is swept even when a process with its pid is alive (pid reuse).
STALE_AFTER = 3600.0


def default_state_dir() -> Path:
    """``$NEXTSIGN_PROBE_STATE_DIR``, else ``$XDG_STATE_HOME`` (or ``~/.local/state``) + our folder."""
    configured = os.environ.get(STATE_DIR_ENV, "").strip()
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return Path(base) / "airflow-provider-nextsign" / "probe"


@dataclass
class Entry:
    """A case the probe created or was about to create.

    :param reference_id: its referenceId (also its title).
    :param sent_at: epoch seconds when its create was sent.
    :param case_id: its ``_id``, once an answer named it.
    :param seen: True once a read showed it (a later not-found then means it is gone).
    """

    reference_id: str
    sent_at: float
    case_id: str | None = None
    seen: bool = False


class Ledger:
    """The entries of one probe run, written through to ``probe-<run>.json``.

    :param directory: where run files live (None: memory only).
    :param host: the v2 host the cases were created on.
    :param company_id: their company.
    :param run: this run's name.
    """

    def __init__(self, directory: Path | None, host: str, company_id: str, run: str) -> None:
        self.host = host
        self.company_id = company_id
        self.entries: list[Entry] = []
        self.path: Path | None = None
        self.problem: str | None = None
        if directory is not None:
            self.problem = _usable(directory)
            if self.problem is None:
                self.path = directory / f"probe-{run}.json"
        else:
            self.problem = "no state directory given"

    def add(self, entry: Entry) -> Entry:
        """Record ``entry`` (before its create is sent)."""
        self.entries.append(entry)
        self.save()
        return entry

    def discard(self, entry: Entry) -> None:
        """Forget ``entry``: its case is deleted or was never created."""
        if entry in self.entries:
            self.entries.remove(entry)
        self.save()

    def save(self) -> None:
        """Write the entries (or remove the file when none is left)."""
        if self.path is None:
            return
        if not self.entries:
            self.path.unlink(missing_ok=True)
            return
        payload = {
            "pid": os.getpid(),
            "machine": socket.gethostname(),
            "updated": time.time(),
            "host": self.host,
            "company": self.company_id,
            "cases": [asdict(entry) for entry in self.entries],
        }
        _write(self.path, payload)

    def others(self) -> Iterator[tuple[Path, list[Entry]]]:
        """The files of earlier runs on this host and company that are gone, with their entries."""
        if self.path is None:
            return
        for path in sorted(self.path.parent.glob("probe-*.json")):
            if path == self.path:
                continue
            payload = _read(path)
            if (
                payload is None
                or payload.get("host") != self.host
                or payload.get("company") != self.company_id
            ):
                continue
            if _still_running(payload):
                continue
            entries = [_entry(raw) for raw in payload.get("cases") or [] if isinstance(raw, dict)]
            yield path, [entry for entry in entries if entry is not None]

    def rewrite(self, path: Path, entries: list[Entry]) -> None:
        """Keep only ``entries`` in an earlier run's file (remove it when none is left)."""
        if not entries:
            path.unlink(missing_ok=True)
            return
        payload = _read(path) or {}
        payload["cases"] = [asdict(entry) for entry in entries]
        _write(path, payload)


def _usable(directory: Path) -> str | None:
    try:
        return private_directory_problem(directory)
    except OSError as err:
        return f"{type(err).__name__}: {err.strerror or err}"


def _write(path: Path, payload: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW)
        with os.fdopen(fd, encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _entry(raw: dict[str, Any]) -> Entry | None:
    reference = raw.get("reference_id")
    if not isinstance(reference, str) or not reference:
        return None
    case_id = raw.get("case_id")
    return Entry(
        reference_id=reference,
        sent_at=float(raw.get("sent_at") or 0.0),
        case_id=case_id if isinstance(case_id, str) and case_id else None,
        seen=bool(raw.get("seen")),
    )


def _still_running(payload: dict[str, Any]) -> bool:
    """True when the run that wrote ``payload`` may still be working on its cases."""
    updated = payload.get("updated")
    if not isinstance(updated, (int, float)) or time.time() - updated > STALE_AFTER:
        return False
    if payload.get("machine") != socket.gethostname():
        return True  # another machine's run (a shared home): only age tells
    pid = payload.get("pid")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
