"""Seed data: the demo form (tags + DOCX template) and bulk cases for tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any

from nextsign_sandbox._util import iso, object_id
from nextsign_sandbox.cases import DEFAULT_SETTINGS, build_case, merge
from nextsign_sandbox.core import Sandbox
from nextsign_sandbox.validation import check_recipients

DEMO_FORM_TITLE = "Demo contract"
DEMO_TAGS = ("customer_name", "customer_zip")
DEFAULT_RECIPIENTS = [{"name": "Jane Doe", "email": "jane@example.com", "signing": True}]


def seed_demo_form(sandbox: Sandbox) -> str:
    """Create the demo form once (kept across restarts with a state file) and return its id."""
    store = sandbox.store
    with store.lock:
        for form_id, form in store.forms.items():
            if form.get("title") == DEMO_FORM_TITLE:
                return form_id
    from nextsign_sandbox import documents

    template = store.put_file("Demo contract.docx", documents.DOCX_MIME, documents.demo_template_docx())
    form_id = object_id()
    now = iso()
    settings = merge(DEFAULT_SETTINGS, {"allowAPI": True})
    settings.pop("allowedRoles", None)
    form = {
        "_id": form_id,
        "companyId": store.company_id,
        "folder": "Default",
        "active": True,
        "title": DEMO_FORM_TITLE,
        "settings": settings,
        "tags": [
            {"name": tag, "tag": tag, "value": "", "type": "text", "_id": object_id()} for tag in DEMO_TAGS
        ],
        "recipients": [],
        "documents": [{"_id": object_id(), "name": template.name, "file": store.file_url(template.key)}],
        "createdAt": now,
        "updatedAt": now,
    }
    with store.lock:
        store.forms[form_id] = form
        store.changed()
    return form_id


def seed_cases(
    sandbox: Sandbox,
    count: int = 1,
    *,
    status: str = "pending",
    folder: str = "Default",
    title: str = "Seeded case {n}",
    referenceId: str | None = None,
    reference_prefix: str | None = None,
    recipients: list[dict[str, Any]] | None = None,
    notify: bool = False,
    age_days: float = 0.0,
) -> list[str]:
    """Create ``count`` cases directly (no HTTP, no rate budget); returns their ids in creation order.

    ``title`` and the reference may contain ``{n}`` (1-based number). ``status`` pending, signed,
    denied or expired. Webhooks fire only with ``notify=True``. ``age_days``: the cases were created
    (and last changed) that many days ago, as an old account's cases were.
    """
    if not isinstance(age_days, (int, float)) or isinstance(age_days, bool) or age_days < 0:
        raise ValueError(f"age_days must be a number of days >= 0, got {age_days!r}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if status not in ("pending", "signed", "denied", "expired"):
        raise ValueError(f"status must be one of pending, signed, denied, expired, got {status!r}")
    given = recipients or DEFAULT_RECIPIENTS
    problems: list[str] = []
    check_recipients(given, problems)
    if problems:
        raise ValueError("; ".join(problems))
    from nextsign_sandbox import documents

    store = sandbox.store
    content = documents.make_pdf("Seeded case", ["A case seeded by the NextSign sandbox."])
    pdf = store.put_file("Seeded.pdf", documents.PDF_MIME, content)
    ids = []
    for n in range(1, count + 1):
        reference = referenceId or (f"{reference_prefix}{n}" if reference_prefix is not None else None)
        body = {
            "title": title.format(n=n),
            "folder": folder,
            "referenceId": reference.format(n=n) if reference else None,
            "recipients": given,
        }
        document = {
            "name": "Seeded.pdf",
            "sign_obligated": True,
            "document_id": object_id(),
            "file": store.file_url(pdf.key),
        }
        case = build_case(body, [document])
        if age_days:
            case["createdAt"] = case["updatedAt"] = iso(int((time.time() - age_days * 86400) * 1000))
        ids.append(sandbox.lifecycle.create(case, status=status, notify=notify)["_id"])
    return ids
