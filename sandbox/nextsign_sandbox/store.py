"""In-memory state of the sandbox (company, forms, cases, stored files), thread-safe, optionally persisted.

Every public method takes the store's lock, so the HTTP handlers (event-loop thread), the signing
simulator and in-process control calls can share one store. With a ``state_file`` the store is
written to disk shortly after each change (JSON for the records, one blob file per stored file
in ``<state_file>.files/``) and read back on the next start.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nextsign_sandbox._util import object_id

log = logging.getLogger(__name__)

PENDING, SIGNED, DENIED, EXPIRED = "pending", "signed", "denied", "expired"
STATE_VERSION = 1
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class StoredFile:
    """A file in the sandbox's object storage; ``source`` without ``data`` = a signed PDF rendered lazily."""

    key: str
    name: str
    type: str
    data: bytes | None = None
    source: dict[str, Any] | None = None


@dataclass
class Store:
    """The whole sandbox state for one company and one API key."""

    company_id: str = field(default_factory=object_id)
    api_key: str = field(default_factory=lambda: "sbx_" + secrets.token_urlsafe(24))
    base_url: str = "http://127.0.0.1"
    # Signs pre-signed URLs; persisted so that URLs handed out survive a restart.
    url_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    # Case id -> time.monotonic() until which the case is invisible to API reads (production profile).
    hidden_until: dict[str, float] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    on_change: Callable[[], None] | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # never show the API key or the URL secret
        return f"Store(company_id={self.company_id!r}, cases={len(self.cases)}, files={len(self.files)})"

    def changed(self) -> None:
        """Tell the persister (if any) that something changed."""
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------------ cases

    def add_case(
        self, case: dict[str, Any], status: str = PENDING, *, hidden_for: float = 0.0
    ) -> dict[str, Any]:
        """Insert a new case (creation order is insertion order) and return a copy.

        ``hidden_for``: wall seconds during which API reads do not see the case yet.
        """
        with self.lock:
            self.cases[case["_id"]] = case
            self.status[case["_id"]] = status
            if hidden_for > 0:
                self.hidden_until[case["_id"]] = time.monotonic() + hidden_for
            self.changed()
            return copy.deepcopy(case)

    def is_visible(self, case_id: str) -> bool:
        """Whether API reads see the case (it exists and its visibility delay has passed)."""
        with self.lock:
            if case_id not in self.cases:
                return False
            until = self.hidden_until.get(case_id)
            if until is None:
                return True
            if time.monotonic() >= until:
                del self.hidden_until[case_id]
                return True
            return False

    def get_visible_case(self, case_id: str) -> dict[str, Any] | None:
        """A copy of the case as API reads see it: None when unknown, deleted or not visible yet."""
        with self.lock:
            return self.get_case(case_id) if self.is_visible(case_id) else None

    def get_case(self, case_id: str) -> dict[str, Any] | None:
        """A copy of the case, or None when unknown or deleted."""
        with self.lock:
            case = self.cases.get(case_id)
            return copy.deepcopy(case) if case is not None else None

    def case_status(self, case_id: str) -> str | None:
        """The internal status (pending/signed/denied/expired) or None when unknown or deleted."""
        with self.lock:
            return self.status.get(case_id)

    def delete_case(self, case_id: str) -> bool:
        """Remove the case; False when it was unknown or already deleted."""
        with self.lock:
            if self.cases.pop(case_id, None) is None:
                return False
            self.status.pop(case_id, None)
            self.hidden_until.pop(case_id, None)
            self.changed()
            return True

    def list_cases(self, *, status: str | None = None, folder: str | None = None) -> list[dict[str, Any]]:
        """Copies of the matching cases in creation order."""
        with self.lock:
            return [
                copy.deepcopy(case)
                for case_id, case in self.cases.items()
                if (status is None or self.status[case_id] == status)
                and (folder is None or case.get("folder") == folder)
            ]

    def list_page(
        self, *, status: str | None, folder: str | None, index: int, limit: int, item: Callable[[Any], Any]
    ) -> list[Any]:
        """Page ``index`` (zero-based, ``limit`` per page) of the matching visible cases, mapped by ``item``.

        ``item`` runs under the lock on the stored case and must return a new object.
        """
        with self.lock:
            matching = (
                case
                for case_id, case in list(self.cases.items())
                if (status is None or self.status[case_id] == status)
                and (folder is None or case.get("folder") == folder)
                and self.is_visible(case_id)
            )
            start = index * limit
            return [item(case) for case in itertools.islice(matching, start, start + limit)]

    # ------------------------------------------------------------------ files

    def file_url(self, key: str) -> str:
        """The stored-file URL of ``key`` (what Upload returns and Case Get shows)."""
        return f"{self.base_url}/storage/{key}"

    def put_file(
        self, name: str, mime: str, data: bytes | None = None, *, source: dict[str, Any] | None = None
    ) -> StoredFile:
        """Store a file under a unique ``{company}/case/{name}`` key."""
        safe = _UNSAFE_NAME.sub("_", os.path.basename(name)).strip("._") or "file"
        with self.lock:
            key = f"{self.company_id}/case/{secrets.token_hex(4)}-{safe}"
            stored = StoredFile(key=key, name=name, type=mime, data=data, source=source)
            self.files[key] = stored
            self.changed()
            return stored

    def get_file(self, key: str) -> StoredFile | None:
        """The stored file of ``key`` or None."""
        with self.lock:
            return self.files.get(key)

    def key_from_url(self, url: str) -> str | None:
        """The storage key in a stored-file or pre-signed URL of this sandbox (any host), or None."""
        path = urlsplit(url).path if "://" in url else url
        path = path.lstrip("/")
        if path.startswith("storage/"):
            path = path[len("storage/") :]
        with self.lock:
            return path if path in self.files else None

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to restore the store, with file contents replaced by blob names."""
        with self.lock:
            return {
                "version": STATE_VERSION,
                "company_id": self.company_id,
                "api_key": self.api_key,
                "url_secret": self.url_secret,
                "forms": copy.deepcopy(self.forms),
                "cases": [
                    {"case": copy.deepcopy(case), "status": self.status[case_id]}
                    for case_id, case in self.cases.items()
                ],
                "files": {
                    key: {
                        "name": f.name,
                        "type": f.type,
                        "blob": _blob_name(key) if f.data is not None else None,
                        "source": copy.deepcopy(f.source),
                    }
                    for key, f in self.files.items()
                },
            }

    def restore(self, state: dict[str, Any], blobs: Path) -> None:
        """Load a :meth:`snapshot` written by an earlier run."""
        with self.lock:
            self.company_id = state["company_id"]
            self.api_key = state["api_key"]
            self.url_secret = state.get("url_secret", self.url_secret)
            self.forms = state.get("forms", {})
            self.cases = {item["case"]["_id"]: item["case"] for item in state.get("cases", [])}
            self.status = {item["case"]["_id"]: item["status"] for item in state.get("cases", [])}
            self.files = {}
            for key, meta in state.get("files", {}).items():
                data = (blobs / meta["blob"]).read_bytes() if meta.get("blob") else None
                self.files[key] = StoredFile(key, meta["name"], meta["type"], data, meta.get("source"))


def _blob_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class Persister:
    """Writes the store to ``path`` in a background thread shortly after changes (coalesced)."""

    def __init__(self, store: Store, path: str | os.PathLike[str], *, delay: float = 0.2) -> None:
        self.store = store
        self.path = Path(path)
        self.blobs = self.path.with_name(self.path.name + ".files")
        self.delay = delay
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._written: set[str] = set()
        self._thread: threading.Thread | None = None

    def load(self) -> bool:
        """Restore the store from the state file; False when there is none yet."""
        if not self.path.exists():
            return False
        state = json.loads(self.path.read_text())
        self.store.restore(state, self.blobs)
        self._written = {m["blob"] for m in state.get("files", {}).values() if m.get("blob")}
        return True

    def start(self) -> None:
        """Hook into the store and start the writer thread."""
        self.store.on_change = self._dirty.set
        self._thread = threading.Thread(target=self._run, name="nextsign-sandbox-state", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.wait(self.delay):
                break
            self._dirty.clear()
            self._save()

    def _save(self) -> None:
        try:
            with self.store.lock:
                state = self.store.snapshot()
                blobs = {
                    _blob_name(key): f.data
                    for key, f in self.store.files.items()
                    if f.data is not None and _blob_name(key) not in self._written
                }
            # The state holds the sandbox's API key: only its user may read it (0600, folder 0700).
            self.blobs.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.blobs, 0o700)
            for name, data in blobs.items():
                _write_private(self.blobs / name, data or b"")
                self._written.add(name)
            tmp = self.path.with_name(self.path.name + ".tmp")
            _write_private(tmp, json.dumps(state).encode())
            os.replace(tmp, self.path)
        except OSError:
            log.exception("could not write the sandbox state file %s", self.path)

    def stop(self) -> None:
        """Write the final state and stop the thread."""
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.on_change = None
        self._save()


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by this user only (mode 0600, whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through os.open
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
    finally:
        if fd >= 0:
            os.close(fd)


def b64decode(value: str) -> bytes:
    """Strict base64 (standard or URL-safe alphabet, padding optional); ValueError when invalid."""
    text = "".join(value.split())
    text += "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text)
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as err:
        raise ValueError("not valid base64") from err
