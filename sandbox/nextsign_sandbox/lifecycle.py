"""Case lifecycle: creating, signing, denying, expiring; webhook events; the background signing simulator."""

from __future__ import annotations

import copy
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from nextsign_sandbox._util import later_iso, object_id, parse_iso
from nextsign_sandbox.cases import next_group
from nextsign_sandbox.store import DENIED, EXPIRED, PENDING, SIGNED, Store

log = logging.getLogger(__name__)

OUTCOMES = ("sign", "deny", "expire")
Emit = Callable[[str, dict[str, Any]], None]


class CaseNotFound(LookupError):
    """The case is unknown or deleted."""


class CaseConflict(ValueError):
    """The action does not fit the case's state (e.g. signing a denied case)."""


class Lifecycle:
    """State changes of cases; each change moves ``updatedAt`` and emits the matching webhook triggers."""

    def __init__(self, store: Store, emit: Emit | None = None) -> None:
        self.store = store
        self.emit: Emit = emit or (lambda trigger, case: None)
        self.on_created: Callable[[str], None] = lambda case_id: None
        # Production profile: signed copies only of sign-obligated documents; case_status stays null.
        self.sign_obligated_only = False
        self.expired_case_status = True

    def create(
        self, case: dict[str, Any], *, status: str = PENDING, notify: bool = True, hidden_for: float = 0.0
    ) -> dict[str, Any]:
        """Store a new case (optionally already in a final ``status``) and emit ``case_created``.

        ``hidden_for``: wall seconds during which API reads do not see the case yet.
        """
        if status not in (PENDING, SIGNED, DENIED, EXPIRED):
            raise ValueError(f"status must be one of pending, signed, denied, expired, got {status!r}")
        created = self.store.add_case(case, hidden_for=hidden_for)
        if notify:
            self.emit("case_created", created)
        if status == SIGNED:
            created = self.sign(case["_id"], notify=notify)
        elif status == DENIED:
            created = self.deny(case["_id"], notify=notify)
        elif status == EXPIRED:
            created = self.expire(case["_id"], notify=notify)
        else:
            self.on_created(case["_id"])
        return created

    def _pending_case(self, case_id: str, action: str) -> dict[str, Any]:
        case = self.store.cases.get(case_id)
        if case is None:
            raise CaseNotFound(case_id)
        status = self.store.status[case_id]
        if status != PENDING and not (status == SIGNED and action == "sign"):
            raise CaseConflict(f"cannot {action} case {case_id}: it is {status}")
        return case

    def sign(
        self,
        case_id: str,
        recipient: str | int | None = None,
        *,
        notify: bool = True,
        group_only: bool = False,
    ) -> dict[str, Any]:
        """Sign one recipient (by ``_id``, email or index), the next group (``group_only``) or all signers.

        Signing a recipient whose group is not yet due is a conflict; signing a signed case is a no-op.
        """
        events: list[tuple[str, dict[str, Any]]] = []
        with self.store.lock:
            case = self._pending_case(case_id, "sign")
            if self.store.status[case_id] == SIGNED:
                return self.store.get_case(case_id) or {}
            if recipient is not None:
                chosen = _find_recipient(case, recipient)
                if not chosen.get("signing"):
                    raise CaseConflict(f"recipient {recipient} does not sign")
                if chosen.get("signed") == "signed":
                    return self.store.get_case(case_id) or {}
                if chosen not in next_group(case):
                    raise CaseConflict(
                        f"recipient {recipient} is not invited yet: an earlier group has not signed"
                    )
                targets = [chosen]
            else:
                targets = list(next_group(case))
                if not group_only:
                    targets = [
                        r for r in case["recipients"] if r.get("signing") and r.get("signed") != "signed"
                    ]
                    targets.sort(key=lambda r: r.get("group", 0))
            for target in targets:
                stamp = later_iso(case["updatedAt"])
                target["signed"] = "signed"
                target["signedDateAndTime"] = stamp
                target["log"].append(
                    {"type": "signed", "value": "Recipient signed", "createdAt": stamp, "_id": object_id()}
                )
                case["updatedAt"] = stamp
                events.append(("recipient_signed", _copy(case)))
            if not next_group(case):
                self._complete(case)
                events.append(("case_signed", _copy(case)))
            self.store.changed()
            result = _copy(case)
        if notify:
            for trigger, payload in events:
                self.emit(trigger, payload)
        return result

    def _complete(self, case: dict[str, Any]) -> None:
        """Mark fully signed: a signed PDF (rendered lazily) per document, or per sign-obligated one."""
        case["updatedAt"] = later_iso(case["updatedAt"])
        self.store.status[case["_id"]] = SIGNED
        snapshot = _copy(case)
        signed: list[dict[str, Any]] = []
        documents = case.get("documents") or [{"name": case.get("title") or "document"}]
        if self.sign_obligated_only:
            documents = [d for d in documents if d.get("sign_obligated", True) is not False]
        for document in documents:
            stem = os.path.splitext(str(document.get("name") or "document"))[0]
            stored = self.store.put_file(f"{stem}.pdf", "application/pdf", source=snapshot)
            signed.append({"name": f"{stem}.pdf", "file": self.store.file_url(stored.key)})
        case["signedDocuments"] = signed

    def deny(
        self, case_id: str, recipient: str | int | None = None, *, notify: bool = True
    ) -> dict[str, Any]:
        """A recipient (default: the first pending signer) denies the case."""
        with self.store.lock:
            case = self._pending_case(case_id, "deny")
            if recipient is not None:
                chosen = _find_recipient(case, recipient)
            else:
                waiting = next_group(case)
                chosen = waiting[0] if waiting else case["recipients"][0]
            stamp = later_iso(case["updatedAt"])
            chosen["signed"] = "denied"
            chosen["log"].append(
                {"type": "denied", "value": "Recipient denied", "createdAt": stamp, "_id": object_id()}
            )
            case["updatedAt"] = stamp
            self.store.status[case_id] = DENIED
            self.store.changed()
            result = _copy(case)
        if notify:
            self.emit("case_denied", result)
        return result

    def expire(self, case_id: str, *, notify: bool = True) -> dict[str, Any]:
        """The signing window passes: ``settings.availability.isExpired`` and ``case_status: "expired"``."""
        with self.store.lock:
            case = self._pending_case(case_id, "expire")
            case["settings"].setdefault("availability", {})["isExpired"] = True
            case["case_status"] = "expired" if self.expired_case_status else None
            case["updatedAt"] = later_iso(case["updatedAt"])
            self.store.status[case_id] = EXPIRED
            self.store.changed()
            result = _copy(case)
        if notify:
            self.emit("case.expiry.expired", result)
        return result


def _copy(case: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(case)


def _find_recipient(case: dict[str, Any], recipient: str | int) -> dict[str, Any]:
    recipients = case["recipients"]
    if isinstance(recipient, int) and not isinstance(recipient, bool):
        if 0 <= recipient < len(recipients):
            return recipients[recipient]
    else:
        for candidate in recipients:
            if recipient in (candidate.get("_id"), candidate.get("email")):
                return candidate
    raise CaseConflict(f"case {case['_id']} has no recipient {recipient!r}")


def _check_outcome(outcome: str) -> str:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    return outcome


def _check_sign_after(sign_after: object) -> float | None:
    if sign_after is None:
        return None
    if not isinstance(sign_after, (int, float)) or isinstance(sign_after, bool) or sign_after < 0:
        raise ValueError(f"sign_after must be None or seconds >= 0, got {sign_after!r}")
    return float(sign_after)


class SigningSimulator:
    """Background thread acting on pending cases: the signing simulator and the expiry clock.

    Simulator: ``sign_after`` wall seconds after creation and after each step, ``outcome="sign"``
    signs the next group of signers (group order); ``"deny"`` and ``"expire"`` end the case after
    one delay. ``sign_after`` None or 0 = only on demand.

    Expiry clock (``auto_expire``): a case whose ``settings.availability`` is not ``unlimited``
    expires ``days`` API days after creation (``case.expiry.7days`` fires 7 API days before);
    API time runs ``time_scale`` times faster than real time.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        *,
        sign_after: float | None = None,
        outcome: str = "sign",
        time_scale: float = 1.0,
        auto_expire: bool = True,
    ) -> None:
        self.lifecycle = lifecycle
        self.sign_after = _check_sign_after(sign_after)
        self.outcome = _check_outcome(outcome)
        self.time_scale = time_scale
        self.auto_expire = auto_expire
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        lifecycle.on_created = self._on_created

    @property
    def active(self) -> bool:
        """Whether the simulator acts on cases automatically."""
        return bool(self.sign_after and self.sign_after > 0)

    def configure(
        self,
        *,
        sign_after: float | object | None = ...,
        outcome: str | None = None,
        time_scale: float | None = None,
        auto_expire: bool | None = None,
    ) -> None:
        """Change settings; pending cases are rescheduled (simulator steps from now)."""
        if outcome is not None:
            self.outcome = _check_outcome(outcome)
        if sign_after is ... and time_scale is None and auto_expire is None:
            return
        if sign_after is not ...:
            self.sign_after = _check_sign_after(sign_after)
        if time_scale is not None:
            self.time_scale = time_scale
        if auto_expire is not None:
            self.auto_expire = bool(auto_expire)
        with self._cond:
            self._heap.clear()
        self.schedule_pending()

    def schedule_pending(self) -> None:
        """Schedule every pending case (at start, after a restart or a change of settings)."""
        with self.lifecycle.store.lock:
            pending = [cid for cid, status in self.lifecycle.store.status.items() if status == PENDING]
        for case_id in pending:
            self._on_created(case_id)

    def _on_created(self, case_id: str) -> None:
        self.schedule(case_id)
        self._schedule_expiry(case_id)

    def schedule(self, case_id: str) -> None:
        """Take the next simulator step on ``case_id`` after ``sign_after`` seconds (no-op when inactive)."""
        if self.active:
            self._push(time.monotonic() + float(self.sign_after or 0), case_id, "step")

    def _schedule_expiry(self, case_id: str) -> None:
        if not self.auto_expire:
            return
        case = self.lifecycle.store.get_case(case_id)
        availability = (case or {}).get("settings", {}).get("availability") or {}
        days = availability.get("days")
        if case is None or availability.get("unlimited") or not isinstance(days, (int, float)) or days <= 0:
            return
        created = parse_iso(case["createdAt"]) / 1000
        to_monotonic = time.monotonic() - time.time()
        day = 86400 / self.time_scale
        self._push(created + days * day + to_monotonic, case_id, "expire")
        if days > 7:
            self._push(created + (days - 7) * day + to_monotonic, case_id, "warn")

    def _push(self, due: float, case_id: str, action: str) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), case_id, action))
            self._cond.notify()

    def start(self) -> None:
        """Start the thread and schedule the cases already pending."""
        self._thread = threading.Thread(target=self._run, name="nextsign-sandbox-signer", daemon=True)
        self._thread.start()
        self.schedule_pending()

    def stop(self) -> None:
        """Stop the thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, case_id, action = heapq.heappop(self._heap)
            try:
                if self.lifecycle.store.case_status(case_id) == PENDING:
                    self._act(case_id, action)
            except (CaseNotFound, CaseConflict):
                pass  # deleted or finished on demand meanwhile
            except Exception:
                log.exception("signing simulator failed on case %s", case_id)

    def _act(self, case_id: str, action: str) -> None:
        if action == "expire":
            self.lifecycle.expire(case_id)
        elif action == "warn":
            case = self.lifecycle.store.get_case(case_id)
            if case is not None:
                self.lifecycle.emit("case.expiry.7days", case)
        elif self.outcome == "deny":
            self.lifecycle.deny(case_id)
        elif self.outcome == "expire":
            self.lifecycle.expire(case_id)
        else:
            self.lifecycle.sign(case_id, group_only=True)
            if self.lifecycle.store.case_status(case_id) == PENDING:
                self.schedule(case_id)
