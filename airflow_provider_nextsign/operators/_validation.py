"""The operators' own checks before any request: tags against a form's tag definitions, extra body fields.

Shape checks of tags, recipients and signing schemas: :mod:`airflow_provider_nextsign.hooks.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_nextsign.exceptions import NextSignInputError
from airflow_provider_nextsign.hooks.checks import check_settings


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
        raise NextSignInputError(f"Invalid tags: {'; '.join(problems)}. The form's tags are: {valid}")
    return payload


def check_extra_fields(fields: Any, argument: str, owned: Mapping[str, str]) -> dict[str, Any]:
    """Check a dict of extra request body fields (``case_fields``, ``submit_fields``) and return a copy.

    :param argument: the operator argument holding ``fields``, named in the messages.
    :param owned: body fields the operator sets itself, each mapped to the argument to use instead.
    """
    if fields is None:
        return {}
    if not isinstance(fields, Mapping):
        raise NextSignInputError(
            f"{argument} must be a dict of extra body fields, e.g. {{'folder': 'Leases'}}; got "
            f"{type(fields).__name__}"
        )
    for name, use in owned.items():
        if name in fields:
            raise NextSignInputError(
                f"{argument}: {name!r} is set by the operator; pass {use}=... instead of putting it here"
            )
    checked = dict(fields)
    if "settings" in checked:
        checked["settings"] = check_settings(checked["settings"])
    return checked
