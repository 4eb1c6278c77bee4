"""Input checks run before any request: tags against a form's tag list, recipients, signing schemas."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
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
DELIVERY_TYPES = frozenset({"email", "phone", "eboks"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CPR = re.compile(r"^\d{6}-?\d{4}$")


def normalize_tags(tags: Any) -> list[dict[str, Any]]:
    """Turn ``{tag: value}`` or the API's ``[{"tag", "value", ...}]`` into the API's list (no request)."""
    if isinstance(tags, Mapping):
        items = [{"tag": str(k), "value": v} for k, v in tags.items()]
    elif isinstance(tags, Iterable) and not isinstance(tags, (str, bytes)):
        items = []
        for i, item in enumerate(tags):
            if not isinstance(item, Mapping) or "tag" not in item:
                raise ValueError(
                    f"tags[{i}] must be a mapping with 'tag' and 'value' keys, got {item!r}; "
                    "or pass tags as a {tag: value} dict"
                )
            items.append(dict(item))
    else:
        raise ValueError(f"tags must be a {{tag: value}} dict or a list of {{'tag', 'value'}}, got {tags!r}")
    for item in items:
        value = item.get("value")
        if isinstance(value, (dt.datetime, dt.date)):
            item["value"] = value.isoformat()
        elif (value is not None and not isinstance(value, (str, int, float))) or isinstance(value, bool):
            raise ValueError(f"tag {item['tag']!r}: value must be text, a number or a date, got {value!r}")
    return items


def _type_error(tag: str, expected: str, value: Any) -> str | None:
    if expected == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        try:
            float(str(value).replace(",", "."))
        except ValueError:
            return f"tag {tag!r} is a number tag, got {value!r}"
        return None
    if expected == "date":
        if isinstance(value, str) and value.strip():
            return None
        return f"tag {tag!r} is a date tag: pass an ISO date string or a date, got {value!r}"
    return None


def check_tags(tags: list[dict[str, Any]], form_tags: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check ``tags`` against the form's tag definitions; return the payload list with each tag's type.

    Fails on unknown tags, on tags the form needs and that were not given (a tag with a non-empty
    default is optional), and on values of the wrong type. The message lists the form's valid tags.
    """
    spec = {str(t.get("tag") or t.get("name")): t for t in form_tags}
    valid = ", ".join(f"{name} ({t.get('type') or 'text'})" for name, t in spec.items()) or "(none)"
    problems: list[str] = []
    given = {t["tag"] for t in tags}
    unknown = sorted(given - spec.keys())
    if unknown:
        problems.append(f"unknown tag(s) {', '.join(map(repr, unknown))}")
    missing = sorted(name for name, t in spec.items() if name not in given and t.get("value") in (None, ""))
    if missing:
        problems.append(f"missing tag(s) {', '.join(map(repr, missing))}")
    payload = []
    for item in tags:
        definition = spec.get(item["tag"])
        if definition is None:
            continue
        tag_type = str(definition.get("type") or "text")
        if item.get("value") in (None, ""):
            problems.append(f"tag {item['tag']!r} has no value")
        elif (err := _type_error(item["tag"], tag_type, item["value"])) is not None:
            problems.append(err)
        payload.append({**item, "type": item.get("type") or tag_type})
    if problems:
        raise ValueError(f"Invalid tags: {'; '.join(problems)}. The form's tags are: {valid}")
    return payload


def check_signing_schemas(schemas: Any, field: str = "signing_schemas") -> list[str]:
    """Check a list of signing schema values; return it as a list."""
    if isinstance(schemas, str):
        schemas = [schemas]
    bad = [s for s in schemas if s not in SIGNING_SCHEMAS]
    if bad:
        raise ValueError(f"{field}: unknown value(s) {bad}; use any of {sorted(SIGNING_SCHEMAS)}")
    return list(schemas)


def check_recipients(recipients: Any) -> list[dict[str, Any]]:
    """Check recipients (a dict or a list of dicts) and return them as a list of dicts."""
    if isinstance(recipients, Mapping):
        recipients = [recipients]
    if not isinstance(recipients, Sequence) or isinstance(recipients, str) or not recipients:
        raise ValueError("recipients must be a non-empty list of dicts with at least 'name' and 'email'")
    out = []
    for i, rec in enumerate(recipients):
        if not isinstance(rec, Mapping):
            raise ValueError(f"recipients[{i}] must be a dict with 'name' and 'email', got {rec!r}")
        rec = dict(rec)
        delivery = rec.get("type", "email")
        if delivery not in DELIVERY_TYPES:
            raise ValueError(
                f"recipients[{i}].type must be one of {sorted(DELIVERY_TYPES)}, got {delivery!r}"
            )
        if not rec.get("name"):
            raise ValueError(f"recipients[{i}].name is required")
        email = rec.get("email")
        if (delivery == "email" or email) and (not isinstance(email, str) or not _EMAIL.match(email)):
            raise ValueError(
                f"recipients[{i}].email must be an email address like name@example.com, got {email!r}"
            )
        if delivery == "phone" and not rec.get("phone"):
            raise ValueError(f"recipients[{i}].phone is required when type is 'phone'")
        if rec.get("needsCpr"):
            cpr = rec.get("cpr")
            if not isinstance(cpr, str) or not _CPR.match(cpr):
                raise ValueError(
                    f"recipients[{i}].cpr is required when needsCpr is true: "
                    "10 digits as DDMMYYXXXX or DDMMYY-XXXX"
                )
        if "signingSchema" in rec:
            check_signing_schemas([rec["signingSchema"]], field=f"recipients[{i}].signingSchema")
        rec.setdefault("signing", True)
        out.append(rec)
    return out
