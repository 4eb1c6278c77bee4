"""Checks and shapes request input before anything is sent, shared by the sync and async clients.

Every check raises :class:`NextSignInputError` naming the field and the fix, so bad input never costs
a request from the budget.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_nextsign.api.errors import NextSignInputError

CASE_LIST_STATUSES = ("signed", "denied", "pending")
SIGNING_SCHEMAS = (
    "urn:grn:authn:dk:mitid:substantial",
    "urn:grn:authn:dk:mitid:low",
    "urn:grn:authn:dk:mitid:business",
    "urn:grn:authn:se:bankid",
    "draw-cpr",
    "draw",
    "sms-email",
)
PDF_MIME = "application/pdf"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
UPLOAD_MIME_TYPES = (PDF_MIME, DOCX_MIME)

DELIVERY_TYPES = ("email", "phone", "eboks")

#: NextSign ids are 24-hex ObjectIds; letters, digits, "-" and "_" keep any id one literal path segment
#: (urllib3 removes "." and ".." segments, so get_case("..") would reach another endpoint).
_ID = re.compile(r"[A-Za-z0-9_-]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CPR = re.compile(r"^\d{6}-?\d{4}$")


def check_id(value: Any, field: str) -> str:
    """Return ``value`` as an id usable in a URL path, or raise naming ``field``."""
    if not isinstance(value, str) or not value.strip():
        raise NextSignInputError(f"{field} must be a non-empty string, got {value!r}")
    value = value.strip()
    if not _ID.fullmatch(value):
        raise NextSignInputError(
            f"{field} {value!r} is not a NextSign id: pass the bare _id (like 657b2ffb0965b111023fb0d1); "
            "ids hold only letters, digits, '-' and '_'"
        )
    return value


def check_ids(values: Any, field: str) -> list[str]:
    """Return the distinct ids of ``values`` in order (a single string counts as one id)."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable):
        raise NextSignInputError(f"{field} must be a list of case ids, got {type(values).__name__}")
    seen: dict[str, None] = {}
    for index, value in enumerate(values):
        seen.setdefault(check_id(value, f"{field}[{index}]"), None)
    return list(seen)


def tag_list(tags: Any, field: str = "tags", *, infer_types: bool = True) -> list[dict[str, Any]]:
    """Turn tags given as ``{tag: value}`` or as the API's ``[{"tag", "value", "type"}]`` into the list form.

    Values must be text, numbers or dates (dates become ISO strings). With ``infer_types`` a tag without
    a ``type`` gets one from its Python value (``number`` or ``date``, else ``text``); without it the type
    is left for the caller to take from the form's tag definitions.
    """
    if tags is None:
        return []
    if isinstance(tags, Mapping):
        items = [{"tag": str(name), "value": value} for name, value in tags.items()]
    elif isinstance(tags, Iterable) and not isinstance(tags, (str, bytes)):
        items = []
        for index, item in enumerate(tags):
            if not isinstance(item, Mapping) or "tag" not in item or "value" not in item:
                raise NextSignInputError(
                    f"{field}[{index}] must be an object with 'tag' and 'value' (and optionally 'type'), "
                    f"got {item!r}; or pass {field} as a {{tag: value}} dict"
                )
            items.append(dict(item))
    else:
        raise NextSignInputError(
            f"{field} must be a dict {{tag: value}} or a list of {{'tag', 'value'}} objects, "
            f"got {type(tags).__name__}"
        )
    for item in items:
        value = item["value"]
        kind = "text"
        if isinstance(value, (dt.date, dt.datetime)):
            item["value"], kind = value.isoformat(), "date"
        elif isinstance(value, bool) or not (value is None or isinstance(value, (str, int, float))):
            raise NextSignInputError(
                f"{field}: tag {item['tag']!r} must be text, a number or a date, got {value!r}"
            )
        elif isinstance(value, (int, float)):
            kind = "number"
        if infer_types:
            item.setdefault("type", kind)
    return items


def check_recipients(recipients: Any, field: str = "recipients") -> list[dict[str, Any]]:
    """Check the recipient objects shared by Forms Submit and Case Create; ``signing`` defaults to true."""
    if isinstance(recipients, Mapping):
        recipients = [recipients]
    if not isinstance(recipients, (list, tuple)) or not recipients:
        raise NextSignInputError(
            f"{field} must be a non-empty list of recipient objects like "
            "{'name': 'Jane Doe', 'email': 'jane@example.com', 'signing': True}"
        )
    checked = []
    for index, recipient in enumerate(recipients):
        where = f"{field}[{index}]"
        if not isinstance(recipient, Mapping):
            raise NextSignInputError(f"{where} must be an object with 'name' and 'email', got {recipient!r}")
        recipient = dict(recipient)
        delivery = recipient.get("type", "email")
        if delivery not in DELIVERY_TYPES:
            raise NextSignInputError(f"{where}.type must be one of {list(DELIVERY_TYPES)}, got {delivery!r}")
        if not recipient.get("name"):
            raise NextSignInputError(f"{where}.name is missing; give the recipient's full name")
        email = recipient.get("email")
        if (delivery == "email" or email) and (not isinstance(email, str) or not _EMAIL.match(email)):
            raise NextSignInputError(
                f"{where}.email must be an email address like name@example.com, got {email!r}"
            )
        if delivery == "phone" and not recipient.get("phone"):
            raise NextSignInputError(f"{where}.phone is required when type is 'phone'")
        # needsCpr without cpr is valid: the signer then enters the CPR number in MitID (§0 P7).
        cpr = recipient.get("cpr")
        if cpr is not None and (not isinstance(cpr, str) or not _CPR.match(cpr)):
            raise NextSignInputError(
                f"{where}.cpr must be 10 digits as DDMMYYXXXX or DDMMYY-XXXX; or leave it out with "
                "needsCpr true and the signer enters it in MitID"
            )
        schema = recipient.get("signingSchema")
        if schema is not None and schema not in SIGNING_SCHEMAS:
            raise NextSignInputError(
                f"{where}.signingSchema {schema!r} is not valid; use one of {list(SIGNING_SCHEMAS)}"
            )
        recipient.setdefault("signing", True)
        checked.append(recipient)
    return checked


def check_signing_schemas(schemas: Any, field: str = "signingSchemas") -> list[str] | None:
    """Check a case-level ``signingSchemas`` list (one string counts as a list; ``None`` leaves it out)."""
    if schemas is None:
        return None
    if isinstance(schemas, str):
        schemas = [schemas]
    if not isinstance(schemas, Iterable):
        raise NextSignInputError(f"{field} must be a list of signing schemas, e.g. ['draw', 'sms-email']")
    values = list(schemas)
    bad = [s for s in values if s not in SIGNING_SCHEMAS]
    if bad:
        raise NextSignInputError(f"{field} has invalid values {bad}; use any of {list(SIGNING_SCHEMAS)}")
    return values


def check_documents(documents: Any, field: str = "documents") -> list[dict[str, Any]]:
    """Check Case Create / Convert document objects: each needs a ``file`` (URL or base64) and a ``name``.

    A ``file`` that is not an ``http(s)`` URL is inline content (``fileIsBlob``): it must be base64 (or a
    ``data:`` URL) of a PDF or a DOCX, checked here by its bytes.
    """
    if isinstance(documents, Mapping):
        documents = [documents]
    if not isinstance(documents, (list, tuple)) or not documents:
        raise NextSignInputError(f"{field} must be a non-empty list of {{'name', 'file'}} objects")
    checked = []
    for index, doc in enumerate(documents):
        if not isinstance(doc, Mapping) or not doc.get("file") or not doc.get("name"):
            raise NextSignInputError(
                f"{field}[{index}] needs 'name' and 'file' (a stored-file URL or base64 content), got "
                f"{sorted(doc) if isinstance(doc, Mapping) else type(doc).__name__}"
            )
        _check_inline_file(doc, f"{field}[{index}].file")
        checked.append(dict(doc))
    return checked


def _check_inline_file(doc: Mapping[str, Any], where: str) -> None:
    value = doc["file"]
    if not isinstance(value, str):
        kind = type(value).__name__
        raise NextSignInputError(f"{where} must be a stored-file URL or base64 text, got {kind}")
    if doc.get("fileIsBlob") is not True and value.startswith(("https://", "http://")):
        return
    text = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        content = _b64decode(text)
    except ValueError:
        raise NextSignInputError(
            f"{where} is neither a stored-file URL nor base64 content; upload the file or base64-encode it"
        ) from None
    try:
        sniff_mime(content, str(doc["name"]), None)
    except NextSignInputError as err:
        raise NextSignInputError(f"{where}: {err.message}") from None


def _b64decode(text: str) -> bytes:
    import base64
    import binascii

    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact)
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError("not base64") from err


def check_title(title: Any) -> str:
    """Check a case title."""
    if not isinstance(title, str) or not title.strip():
        raise NextSignInputError("title must be a non-empty string naming the case")
    return title


def check_settings(settings: Any) -> dict[str, Any]:
    """Check the Case Create ``settings`` object (required by NextSign; ``{}`` is allowed)."""
    if not isinstance(settings, Mapping):
        raise NextSignInputError(
            "settings must be an object, e.g. {'availability': {'unlimited': False, 'days': 10}}; "
            "pass {} for NextSign's defaults"
        )
    return dict(settings)


def check_list_filters(status: str | None, folder: str | None, page_size: Any) -> dict[str, Any]:
    """Return the Case List query parameters other than ``index``."""
    params: dict[str, Any] = {}
    if status is not None:
        if status not in CASE_LIST_STATUSES:
            raise NextSignInputError(
                f"status {status!r} is not a Case List filter; use one of {list(CASE_LIST_STATUSES)}"
            )
        params["status"] = status
    if folder is not None:
        if not isinstance(folder, str) or not folder:
            raise NextSignInputError(f"folder must be a non-empty folder name, got {folder!r}")
        params["folder"] = folder
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise NextSignInputError(
            f"page_size must be a positive integer (NextSign's default is 100), got {page_size!r}"
        )
    params["limit"] = page_size
    return params


def document_kind(content: bytes) -> str | None:
    """The MIME type of a PDF or a DOCX, told by the bytes alone; ``None`` for anything else.

    A PDF starts with ``%PDF-``; a DOCX is a ZIP archive holding ``word/document.xml``.
    """
    if content.startswith(b"%PDF-"):
        return PDF_MIME
    if content.startswith(b"PK\x03\x04") and _is_docx(content):
        return DOCX_MIME
    return None


def _is_docx(content: bytes) -> bool:
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:  # reads the directory only
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        return False


_KIND_NAMES = {PDF_MIME: "PDF", DOCX_MIME: "DOCX"}
_SUFFIX_KINDS = {"pdf": PDF_MIME, "docx": DOCX_MIME}


def sniff_mime(content: bytes, name: str, mime_type: str | None) -> str:
    """Return the MIME type of an upload (PDF or DOCX only), told by its bytes.

    ``mime_type`` and a ``.pdf`` / ``.docx`` file name, when given, must agree with the bytes: NextSign
    would store a mislabelled file as what its label says.
    """
    if mime_type is not None and mime_type not in UPLOAD_MIME_TYPES:
        raise NextSignInputError(
            f"mime_type {mime_type!r} cannot be uploaded; NextSign accepts {list(UPLOAD_MIME_TYPES)}"
        )
    kind = document_kind(content)
    if kind is None:
        raise NextSignInputError(
            f"{name!r} is neither a PDF nor a DOCX (judged by its content); NextSign accepts only those"
        )
    if mime_type is not None and mime_type != kind:
        raise NextSignInputError(
            f"{name!r} is a {_KIND_NAMES[kind]}, but mime_type says {mime_type!r}; "
            f"leave mime_type out or pass {kind!r}"
        )
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if _SUFFIX_KINDS.get(suffix, kind) != kind:
        right = next(s for s, k in _SUFFIX_KINDS.items() if k == kind)
        raise NextSignInputError(
            f"{name!r} is a {_KIND_NAMES[kind]}, but its name ends in .{suffix}; name it *.{right}"
        )
    return kind
