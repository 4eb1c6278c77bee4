"""Create and delete NextSign signing cases."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.exceptions import NextSignInputError, NextSignNotFoundError
from airflow_provider_nextsign.hooks.checks import (
    DOCX_MIME,
    check_recipients,
    check_settings,
    check_signing_schemas,
    check_title,
    document_kind,
    sniff_mime,
)
from airflow_provider_nextsign.links import NextSignCaseLink
from airflow_provider_nextsign.operators._masking import mask_recipient_secrets
from airflow_provider_nextsign.operators._reference import (
    case_id_of,
    create_once,
    default_reference_id,
    push_case,
    run_started_at,
)
from airflow_provider_nextsign.operators._validation import check_extra_fields
from airflow_provider_nextsign.operators.base import NextSignBaseOperator
from airflow_provider_nextsign.storage import read_source

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

#: Above this combined size NextSign wants documents uploaded first and referenced by URL.
INLINE_LIMIT_BYTES = 3_500_000

#: Case Create body fields the operator sets from its own arguments (not from ``case_fields``).
OWNED_FIELDS = {
    "title": "title",
    "recipients": "recipients",
    "documents": "documents",
    "settings": "settings",
    "referenceId": "reference_id",
    "signingSchemas": "signing_schemas",
}

DEFAULT_SETTINGS: dict[str, Any] = {
    "reminders": {"send": True, "amount": 2, "daysBetween": 3},
    "deletion": {"autoDelete": False, "days": 30},
    "availability": {"unlimited": False, "days": 14},
}


def _load_document(index: int, doc: Any) -> dict[str, Any]:
    """Return ``{"name", "content", "mime", "signObligated"}`` for one documents[] entry.

    The content must be a PDF or a DOCX (judged by its bytes), and a ``.pdf`` / ``.docx`` name must
    match it: checked here, before anything is uploaded or created.
    """
    field = f"documents[{index}]"
    sign_obligated = True
    name: str | None = None
    if isinstance(doc, Mapping):
        name = doc.get("name")
        sign_obligated = bool(doc.get("signObligated", doc.get("sign_obligated", True)))
        if "content" in doc:
            doc = doc["content"]
        elif "path" in doc:
            doc = doc["path"]
        else:
            raise ValueError(
                f"{field}: a dict document needs 'content' (bytes) or 'path', plus an optional 'name'"
            )
    if isinstance(doc, (bytes, bytearray)):
        content = bytes(doc)
    else:
        source_name, content = read_source(doc, field=field)
        name = name or source_name
    if not content:
        raise ValueError(f"{field}: {name or 'the content'} is empty")
    kind = document_kind(content)
    if kind is None:
        raise ValueError(
            f"{field}: {repr(name) if name else 'the content'} is neither a PDF nor a DOCX (judged by its "
            "bytes); NextSign accepts only those"
        )
    name = name or f"document-{index + 1}.{'docx' if kind == DOCX_MIME else 'pdf'}"
    try:
        mime = sniff_mime(content, name, None)
    except NextSignInputError as err:
        raise NextSignInputError(f"{field}: {err.message}") from None
    return {"name": name, "content": content, "mime": mime, "signObligated": sign_obligated}


class NextSignCreateCaseOperator(NextSignBaseOperator):
    """Create a signing case from documents; returns the case id.

    ``documents`` is a list whose entries are local paths, ``ObjectStoragePath`` objects or
    ``scheme://`` strings (file, s3, gs, ... through fsspec), raw ``bytes``, or dicts
    ``{"path" | "content", "name", "signObligated"}``. When the documents together pass 3.5 MB they are
    uploaded through the files API first and referenced by URL; otherwise they travel inline as base64.

    The create carries a ``referenceId`` (derived from dag, task, map index and run, or ``reference_id``);
    a retried task, or a create whose response was lost, reuses the case with that id. A create whose
    answer is lost is never sent again in the same attempt: the case is looked for during
    ``reconcile_window`` seconds (default: the connection's ``reconcile_window`` extra, else 3 x its
    timeout), and the next attempt looks it up completely before creating.

    Every argument is checked before the first document is read or uploaded. Recipients' ``cpr``
    numbers are masked in logs and in the rendered template fields.

    The connection (``nextsign_conn_id``) and ``hook_params`` are those of
    :class:`~airflow_provider_nextsign.operators.base.NextSignBaseOperator`.

    :param title: the case title recipients see (templated).
    :param recipients: list of recipient dicts (``name``, ``email``, ``signing``, ``needsCpr``/``cpr``,
        ...) (templated).
    :param documents: the documents to sign: one entry or a list, as above (templated).
    :param settings: the case's ``settings`` (reminders, deletion, availability); default
        ``DEFAULT_SETTINGS``: 2 reminders 3 days apart, no auto-deletion, open for 14 days (templated).
    :param reference_id: overrides the derived ``referenceId`` (templated).
    :param signing_schemas: allowed signature methods for the case.
    :param case_fields: any other Case Create body field (``folder``, ``message``, ...) (templated).
    :param reconcile_window: seconds to keep looking for the case when the create's answer is lost
        (default: the connection's ``reconcile_window`` extra, else 3 x its timeout).
    """

    template_fields: Sequence[str] = (
        "title",
        "recipients",
        "documents",
        "settings",
        "reference_id",
        "case_fields",
        "nextsign_conn_id",
    )
    template_fields_renderers = {"recipients": "json", "settings": "json", "case_fields": "json"}
    operator_extra_links = (NextSignCaseLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        title: str,
        recipients: Any,
        documents: Any,
        settings: dict[str, Any] | None = None,
        reference_id: str | None = None,
        signing_schemas: list[str] | None = None,
        case_fields: dict[str, Any] | None = None,
        reconcile_window: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.reconcile_window = reconcile_window
        self.title = title
        self.recipients = recipients
        self.documents = documents
        self.settings = settings
        self.reference_id = reference_id
        self.signing_schemas = signing_schemas
        self.case_fields = case_fields if case_fields is not None else {}

    def _do_render_template_fields(self, *args: Any, **kwargs: Any) -> None:
        # Both the plain and the mapped-task render path of Airflow 2.11 and 3 end here.
        super()._do_render_template_fields(*args, **kwargs)
        mask_recipient_secrets(self.recipients)

    def _documents_payload(self, hook: NextSignHook, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        total = sum(len(d["content"]) for d in docs)
        if total > INLINE_LIMIT_BYTES:
            self.log.info("Documents total %d bytes (> 3.5 MB): uploading them first", total)
            return [
                {
                    "name": d["name"],
                    "file": hook.upload_document(d["content"], name=d["name"], mime_type=d["mime"]),
                    "signObligated": d["signObligated"],
                }
                for d in docs
            ]
        return [
            {
                "name": d["name"],
                "file": base64.b64encode(d["content"]).decode("ascii"),
                "fileIsBlob": True,
                "signObligated": d["signObligated"],
            }
            for d in docs
        ]

    def execute(self, context: Context) -> str:
        """Check everything, load the documents, create the case once (reusing a case an earlier attempt
        created), push the case id and link to XCom, and return the case id."""
        if not self.title:
            raise ValueError("title is required: the case title recipients see")
        title = check_title(self.title)
        recipients = check_recipients(self.recipients)
        fields = check_extra_fields(self.case_fields, "case_fields", OWNED_FIELDS)
        if self.signing_schemas:
            fields["signingSchemas"] = check_signing_schemas(self.signing_schemas, "signing_schemas")
        settings = check_settings(self.settings if self.settings is not None else DEFAULT_SETTINGS)
        documents = self.documents
        if isinstance(documents, (str, bytes, os.PathLike, Mapping)) or not isinstance(documents, Sequence):
            documents = [documents]
        if not documents:
            raise ValueError("documents must list at least one document (path, ObjectStoragePath or bytes)")
        docs = [_load_document(i, d) for i, d in enumerate(documents)]
        reference_id = self.reference_id or default_reference_id(context)
        fields["referenceId"] = reference_id

        hook = self.hook
        try_number = int(getattr(context["ti"], "try_number", 1) or 1)
        payload: list[dict[str, Any]] = []

        def create() -> dict[str, Any]:
            if not payload:  # upload at most once, even when the create is repeated
                payload.extend(self._documents_payload(hook, docs))
            return hook.create_case(
                title=title, recipients=recipients, documents=payload, settings=settings, **fields
            )

        case = create_once(
            hook,
            reference_id=reference_id,
            try_number=try_number,
            create=create,
            folder=fields.get("folder"),
            title=self.title,
            run_started=run_started_at(context),
            reconcile_window=self.reconcile_window,
        )
        case_id = case_id_of(case)
        push_case(context, hook, case_id)
        self.log.info(
            "Created case %s (referenceId %s) with %d document(s)", case_id, reference_id, len(docs)
        )
        return case_id


class NextSignDeleteCaseOperator(NextSignBaseOperator):
    """Delete a case; a case that is already gone counts as deleted. Returns the case id.

    The connection (``nextsign_conn_id``) and ``hook_params`` are those of
    :class:`~airflow_provider_nextsign.operators.base.NextSignBaseOperator`.

    :param case_id: the ``_id`` of the case to delete (templated).
    """

    template_fields: Sequence[str] = ("case_id", "nextsign_conn_id")

    def __init__(self, *, case_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case_id = case_id

    def execute(self, context: Context) -> str:
        """Delete the case (already gone: nothing to do) and return its id."""
        if not self.case_id or not isinstance(self.case_id, str):
            raise ValueError(f"case_id must be a case _id string, got {self.case_id!r}")
        try:
            result = self.hook.delete_case(self.case_id)
        except NextSignNotFoundError:
            self.log.info("Case %s is already gone; nothing to delete", self.case_id)
            return self.case_id
        if isinstance(result, Mapping) and result.get("status") not in (None, "removed"):
            self.log.info("Case %s is already gone (%s); nothing to delete", self.case_id, result)
        else:
            self.log.info("Deleted case %s", self.case_id)
        return self.case_id
