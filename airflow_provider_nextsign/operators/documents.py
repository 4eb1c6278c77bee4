"""Documents: DOCX-to-PDF conversion and signed PDFs into any storage."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.exceptions import NextSignInputError
from airflow_provider_nextsign.hooks.checks import document_kind, sniff_mime, tag_list
from airflow_provider_nextsign.operators.base import NextSignBaseOperator
from airflow_provider_nextsign.storage import (
    as_path,
    download_to,
    fit_name,
    is_folder,
    read_source,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")


def _open_signed(hook: NextSignHook, file_url: str) -> Iterator[bytes]:
    """The chunks of a stored file, through a pre-signed URL asked for now."""
    return hook.stream_file(hook.get_presigned_url(file_url))


def _safe_name(name: str, default: str) -> str:
    """A file name from NextSign's document name: no path, no odd characters, at most 255 bytes."""
    cleaned = _UNSAFE_NAME.sub("_", name.rsplit("/", 1)[-1]).strip(" .")
    return fit_name(cleaned or default)


class NextSignConvertDocumentOperator(NextSignBaseOperator):
    """Replace tags in a DOCX and convert it to PDF with NextSign; returns the destination path.

    The DOCX is read from ``source`` (a local path, ``ObjectStoragePath`` or ``scheme://`` string),
    uploaded through the files API, converted with ``tags`` (``{tag: value}`` or the API's list), and the
    PDF streamed from its pre-signed URL to ``destination`` (a file, or a folder ending in "/").

    The connection (``nextsign_conn_id``) and ``hook_params`` are those of
    :class:`~airflow_provider_nextsign.operators.base.NextSignBaseOperator`.

    :param source: the DOCX: a local path, ``ObjectStoragePath`` or ``scheme://`` string (templated).
    :param destination: the PDF's path, or a folder ending in "/" to keep the converted document's name
        (templated).
    :param tags: ``{tag: value}`` or the API's list of ``{"tag", "value"[, "type"]}`` to replace
        (templated).
    """

    template_fields: Sequence[str] = ("source", "tags", "destination", "nextsign_conn_id")
    template_fields_renderers = {"tags": "json"}

    def __init__(
        self,
        *,
        source: Any,
        destination: Any,
        tags: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.tags = tags
        self.destination = destination

    def execute(self, context: Context) -> str:
        """Upload the DOCX, convert it with the tags, stream the PDF to ``destination``; return its path."""
        tags = tag_list(self.tags or {})
        for item in tags:
            item.setdefault("type", "number" if isinstance(item.get("value"), (int, float)) else "text")
        if not self.destination:
            raise ValueError("destination is required: a file path, or a folder ending in '/'")
        name, content = read_source(self.source, field="source")
        if document_kind(content) is None:
            raise ValueError(f"source: {name} is not a .docx (or PDF) file, judged by its content")
        try:
            mime = sniff_mime(content, name, None)  # a PDF is passed through, labelled as a PDF
        except NextSignInputError as err:
            raise NextSignInputError(f"source: {err.message}") from None
        hook = self.hook
        file_url = hook.upload_document(content, name=name, mime_type=mime)
        converted = hook.convert_documents([{"file": file_url, "name": name}], tags=tags)
        if not converted or not converted[0].get("file"):
            raise ValueError(f"NextSign converted {name} but returned no document")
        pdf = converted[0]
        destination = as_path(self.destination)
        if is_folder(self.destination):
            destination = destination / _safe_name(pdf.get("name") or "", name.rsplit(".", 1)[0] + ".pdf")
        size = download_to(destination, functools.partial(_open_signed, hook, str(pdf["file"])))
        self.log.info("Converted %s to %s (%d bytes)", name, destination, size)
        return str(destination)


class NextSignSignedDocumentsToStorageOperator(NextSignBaseOperator):
    """Stream the signed PDFs of a case into a storage folder; returns the written paths.

    Each signed document is fetched from a fresh pre-signed URL and written chunk by chunk to
    ``destination/<case_id>/<document name>`` (constant memory, any fsspec scheme). Each file is
    written under a temporary name and renamed when complete; a download that breaks off part way is
    started again (three attempts in all). Names longer than 255 bytes are shortened, keeping the
    extension and adding a hash of the full name.

    The connection (``nextsign_conn_id``) and ``hook_params`` are those of
    :class:`~airflow_provider_nextsign.operators.base.NextSignBaseOperator`.

    :param case_id: the signed case (templated).
    :param destination: a folder: local path, ``ObjectStoragePath`` or ``scheme://`` string (templated).
    :param per_case_folder: put each case's files in a ``<case_id>`` sub-folder (default True), so
        several cases with same-named documents never overwrite each other.
    """

    template_fields: Sequence[str] = ("case_id", "destination", "nextsign_conn_id")

    def __init__(
        self,
        *,
        case_id: str,
        destination: Any,
        per_case_folder: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.case_id = case_id
        self.destination = destination
        self.per_case_folder = per_case_folder

    def execute(self, context: Context) -> list[str]:
        """Write every signed document of the case to the destination; return the written paths."""
        if not self.case_id or not isinstance(self.case_id, str):
            raise ValueError(f"case_id must be a case _id string, got {self.case_id!r}")
        if not self.destination:
            raise ValueError(
                "destination is required: a folder such as file:///data/signed or s3://bucket/signed"
            )
        hook = self.hook
        case = hook.get_case(self.case_id)
        docs = hook.signed_documents(case)
        if not docs:
            raise ValueError(
                f"Case {self.case_id} has no signed documents (state: {hook.case_state(case).value}); "
                "wait for it with NextSignCaseSensor first"
            )
        folder = as_path(self.destination)
        if self.per_case_folder:
            folder = folder / self.case_id
        written: list[str] = []
        used: set[str] = set()
        for index, doc in enumerate(docs, start=1):
            name = _safe_name(str(doc.get("name") or ""), f"signed-{index}.pdf")
            if name in used:
                name = fit_name(f"{index}-{name}")
            used.add(name)
            target = folder / name
            # A fresh pre-signed URL for each attempt: a restarted download may outlive the first one.
            size = download_to(target, functools.partial(_open_signed, hook, str(doc["file"])))
            self.log.info("Wrote %s (%d bytes)", target, size)
            written.append(str(target))
        return written
