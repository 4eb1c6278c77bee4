"""Validation of Case Create and Forms Submit bodies; each problem becomes one ``errors[]`` description."""

from __future__ import annotations

import re
from typing import Any

SIGNING_SCHEMAS = frozenset(
    {
        "urn:grn:authn:dk:mitid:substantial",
        "urn:grn:authn:dk:mitid:low",
        "urn:grn:authn:dk:mitid:business",
        "urn:grn:authn:se:bankid",
        "draw-cpr",
        "draw",
        "sms-email",
    }
)
RECIPIENT_TYPES = frozenset({"email", "phone", "eboks"})
TAG_TYPES = frozenset({"text", "number", "date"})
_CPR = re.compile(r"^\d{6}-?\d{4}$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_signing_schemas(body: dict[str, Any], problems: list[str]) -> None:
    """Case-level ``signingSchemas``: a list of the documented values."""
    schemas = body.get("signingSchemas")
    if schemas is None:
        return
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        problems.append("signingSchemas must be an array of strings")
        return
    for schema in schemas:
        if schema not in SIGNING_SCHEMAS:
            problems.append(f"Invalid signingSchema: {schema}")


def check_recipients(recipients: Any, problems: list[str]) -> None:
    """Recipients: non-empty array; name, email/phone by type, cpr when needsCpr, schema values, group."""
    if recipients is None:
        problems.append("Missing recipients")
        return
    if not isinstance(recipients, list) or not recipients:
        problems.append("recipients must be a non-empty array")
        return
    signers = 0
    for i, recipient in enumerate(recipients):
        where = f"recipients[{i}]"
        if not isinstance(recipient, dict):
            problems.append(f"{where} must be an object")
            continue
        kind = recipient.get("type", "email")
        if kind not in RECIPIENT_TYPES:
            problems.append(f"{where}.type must be one of email, phone, eboks")
        if not isinstance(recipient.get("name"), str) or not recipient["name"].strip():
            problems.append(f"Missing {where}.name")
        if kind == "phone":
            if not recipient.get("phone"):
                problems.append(f"Missing {where}.phone")
        elif not isinstance(recipient.get("email"), str) or "@" not in recipient["email"]:
            problems.append(f"Missing or invalid {where}.email")
        if "signing" in recipient and not isinstance(recipient["signing"], bool):
            problems.append(f"{where}.signing must be a boolean")
        if recipient.get("signing", True) is not False:
            signers += 1
        # needsCpr without cpr is how production sends it: the signer enters the CPR in MitID (§0 P7).
        cpr = recipient.get("cpr")
        if cpr is not None and not (isinstance(cpr, str) and _CPR.match(cpr.strip())):
            problems.append(f"Invalid {where}.cpr: 10 digits, DDMMYYXXXX or DDMMYY-XXXX")
        schema = recipient.get("signingSchema")
        if schema is not None and schema not in SIGNING_SCHEMAS:
            problems.append(f"Invalid {where}.signingSchema: {schema}")
        for number in ("group", "order"):
            if number in recipient and not (_is_int(recipient[number]) and recipient[number] >= 0):
                problems.append(f"{where}.{number} must be a non-negative integer")
    if signers == 0 and not problems:
        problems.append("At least one recipient must have signing set to true")


def check_case_create(body: Any) -> list[str]:
    """Problems with a Case Create body (documents are checked when they are read)."""
    if not isinstance(body, dict):
        return ["Body must be a JSON object"]
    problems: list[str] = []
    if not isinstance(body.get("title"), str) or not body["title"].strip():
        problems.append("Missing title")
    if "settings" not in body:
        problems.append("Missing settings")
    elif not isinstance(body["settings"], dict):
        problems.append("settings must be an object")
    check_signing_schemas(body, problems)
    check_recipients(body.get("recipients"), problems)
    documents = body.get("documents")
    if documents is None:
        problems.append("Missing documents")
    elif not isinstance(documents, list) or not documents:
        problems.append("documents must be a non-empty array")
    else:
        for i, document in enumerate(documents):
            if (
                not isinstance(document, dict)
                or not isinstance(document.get("file"), str)
                or not document["file"]
            ):
                problems.append(f"Missing documents[{i}].file")
    _check_optional_strings(body, ("referenceId", "folder", "message", "user_email", "user_name"), problems)
    return problems


def check_form_submit(body: Any, form_tags: list[dict[str, Any]]) -> list[str]:
    """Problems with a Forms Submit body: tags (every form tag given, values typed) and recipients."""
    if not isinstance(body, dict):
        return ["Body must be a JSON object"]
    problems: list[str] = []
    tags = body.get("tags")
    if tags is None:
        problems.append("Missing tags")
    elif not isinstance(tags, list):
        problems.append("tags must be an array")
    else:
        given: dict[str, Any] = {}
        for i, tag in enumerate(tags):
            if not isinstance(tag, dict) or not isinstance(tag.get("tag"), str) or not tag["tag"]:
                problems.append(f"Missing tags[{i}].tag")
                continue
            value = tag.get("value")
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                problems.append(f"tags[{i}].value must be a string or a number")
            kind = tag.get("type", "text")
            if kind not in TAG_TYPES:
                problems.append(f"tags[{i}].type must be one of text, number, date")
            elif kind == "number" and not _is_number(value):
                problems.append(f"tags[{i}].value must be a number for type number")
            given[tag["tag"]] = value
        for expected in form_tags:
            if expected["tag"] not in given or given[expected["tag"]] in ("", None):
                problems.append(f"Missing tag: {expected['tag']}")
    if "settings" in body and not isinstance(body["settings"], dict):
        problems.append("settings must be an object")
    check_signing_schemas(body, problems)
    check_recipients(body.get("recipients"), problems)
    _check_optional_strings(body, ("title", "referenceId", "folder", "message", "state"), problems)
    return problems


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _check_optional_strings(body: dict[str, Any], names: tuple[str, ...], problems: list[str]) -> None:
    for name in names:
        if body.get(name) is not None and not isinstance(body[name], str):
            problems.append(f"{name} must be a string")
