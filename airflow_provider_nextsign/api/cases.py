"""What state a NextSign case is in, derived from its body.

NextSign has no case-level status field (see nextsign-api.md §3.5), so the state is worked out from
the recipients' ``signed`` values, ``settings.availability.isExpired`` and ``case_status``. This is the
only place that rule lives.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

_DENIED_VALUES = frozenset({"denied", "rejected", "declined"})


class CaseState(str, Enum):  # noqa: UP042  (StrEnum would change str() of a state in messages)
    """The signing state of a case."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SIGNED = "signed"
    DENIED = "denied"
    EXPIRED = "expired"
    DELETED = "deleted"

    @property
    def is_terminal(self) -> bool:
        """True when the case will not change state any more."""
        return self not in (CaseState.PENDING, CaseState.IN_PROGRESS)

    @property
    def is_failure(self) -> bool:
        """True when the case ended without being signed."""
        return self in (CaseState.DENIED, CaseState.EXPIRED, CaseState.DELETED)


def case_state(case: Mapping[str, Any] | None) -> CaseState:
    """Derive the :class:`CaseState` of a case body (``None`` or a not-found body means deleted).

    Fully signed wins over expiry: a case whose every signer signed is signed even if its window passed.
    """
    if not case or "_id" not in case:
        return CaseState.DELETED
    recipients = [r for r in case.get("recipients") or [] if isinstance(r, Mapping)]
    signers = [r for r in recipients if r.get("signing", True)]
    values = [str(r.get("signed") or "pending").lower() for r in signers]
    if signers and all(v == "signed" for v in values):
        return CaseState.SIGNED
    if any(str(r.get("signed") or "").lower() in _DENIED_VALUES for r in recipients):
        return CaseState.DENIED
    status = str(case.get("case_status") or "").lower()
    if status in _DENIED_VALUES:
        return CaseState.DENIED
    availability = (case.get("settings") or {}).get("availability") or {}
    if availability.get("isExpired") or status == "expired":
        return CaseState.EXPIRED
    if status == "signed" and not signers:
        return CaseState.SIGNED
    if any(v == "signed" for v in values):
        return CaseState.IN_PROGRESS
    return CaseState.PENDING


def signed_documents(case: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Return the signed files of a case as ``[{"name", "file"}]`` (empty until it is fully signed)."""
    if not case:
        return []
    docs = []
    for doc in case.get("signedDocuments") or []:
        if isinstance(doc, Mapping) and doc.get("file"):
            docs.append({"name": str(doc.get("name") or "signed.pdf"), "file": str(doc["file"])})
    return docs
