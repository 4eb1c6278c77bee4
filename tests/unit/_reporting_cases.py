"""Case bodies and a fake client shared by the report tests (no test here; nothing new imported, so
these helpers load against any version of the report code)."""

from __future__ import annotations

from typing import Any

from airflow_provider_nextsign.api.errors import NextSignNotFoundError


def make_case(
    n: int, *, signed: int = 0, signers: int = 2, updated: str = "2024-02-19T10:52:25.836Z"
) -> dict:
    """A Case Get body shaped like nextsign-api.md §3.5 with ``signed`` of ``signers`` signed."""
    case_id = f"{n:024x}"
    recipients = [
        {
            "name": f"Signer {i}",
            "email": f"s{i}@example.com",
            "order": i + 1,
            "group": 1,
            "signing": True,
            "needsCpr": False,
            "signed": "signed" if i < signed else "pending",
            **({"signedDateAndTime": f"2024-02-1{i + 1}T09:00:00.000Z"} if i < signed else {}),
        }
        for i in range(signers)
    ]
    recipients.append({"name": "Reader", "email": "r@example.com", "signing": False, "signed": "pending"})
    body: dict[str, Any] = {
        "_id": case_id,
        "nextSignKey": f"NS-{n}",
        "referenceId": f"ref-{n}",
        "title": f"Contract {n}",
        "folder": "Default",
        "type": "Simple sign",
        "user_name": "Owner",
        "user_email": "owner@example.com",
        "createdAt": "2023-12-14T16:40:27.431Z",
        "updatedAt": updated,
        "settings": {"availability": {"days": 10, "isExpired": False, "unlimited": False}},
        "recipients": recipients,
        "documents": [
            {"name": "contract.pdf", "sign_obligated": True, "document_id": f"doc-{n}"},
            {"name": "terms.pdf", "sign_obligated": False, "document_id": f"terms-{n}"},
        ],
        "signedDocuments": [],
    }
    if signed >= signers:
        body["signedDocuments"] = [{"name": "contract.pdf", "file": f"https://files.example/{case_id}.pdf"}]
    return body


SUMMARY_KEYS = ("_id", "title", "createdAt", "updatedAt")


def not_found(message: str = "Case not found", status: int = 200) -> NextSignNotFoundError:
    """The error the client raises for NextSign's documented not-found answer."""
    return NextSignNotFoundError(message, status_code=status, body={"message": message}, operation="case_get")


class FakeClient:
    """Case List, Get Multiple (full items, or summaries with ``summaries=True``) and Case Get over a
    dict of bodies; ``vanish`` ids are gone (Case Get answers NextSign's documented not-found) and
    ``hidden`` ids are missing from Get Multiple only. Records every call."""

    batch_size = 50

    def __init__(
        self,
        bodies: list[dict],
        *,
        vanish: set[str] = frozenset(),  # type: ignore[assignment]
        hidden: set[str] = frozenset(),  # type: ignore[assignment]
        summaries: bool = False,
    ):
        self.bodies = {b["_id"]: b for b in bodies}
        self.vanish = set(vanish)
        self.hidden = set(hidden)
        self.summaries = summaries
        self.list_calls: list[dict] = []
        self.get_calls: list[list[str]] = []  # the ids asked, per Get Multiple batch
        self.case_gets: list[str] = []

    def list_cases(self, *, status=None, folder=None, page_size=100):
        self.list_calls.append({"status": status, "folder": folder, "page_size": page_size})
        for body in list(self.bodies.values()):
            yield {k: body[k] for k in ("_id", "title", "folder", "createdAt", "updatedAt")}

    def get_cases(self, case_ids):
        ids = list(case_ids)
        self.get_calls.append(ids)
        found = [self.bodies[i] for i in ids if i in self.bodies and i not in self.vanish | self.hidden]
        return [{k: b[k] for k in SUMMARY_KEYS} for b in found] if self.summaries else found

    def get_case(self, case_id):
        self.case_gets.append(case_id)
        if case_id in self.vanish or case_id not in self.bodies:
            raise not_found()
        return self.bodies[case_id]
