"""Answer profiles: the sandbox can answer the way the docs show, the way production was seen, or richly.

NextSign's docs and what a production integration observed (nextsign-api.md §0) disagree on several
shapes. Each profile is a preset of the settings below; a test or a user can still change any one of
them through ``/_sandbox/config``.

- ``docs`` (default): the documented shapes. Case List and Get Multiple items are summaries; create and
  submit answer ``{"status":"OK","message":…,"contract":{…}}``; Convert is served on ``/api/v2``.
- ``production``: create and submit answer ``{"data":{_id, nextSignKey, title, referenceId}}``; a new
  case is invisible to every read for ``visibility_delay`` seconds; only sign-obligated documents get
  signed copies; ``case_status`` stays null; Convert is served on ``/api/v1`` while ``/api/v2`` is 404.
- ``rich``: full case bodies everywhere (the sandbox's first reading of the docs).
"""

from __future__ import annotations

from typing import Any

PROFILE_NAMES = ("docs", "production", "rich")

#: Setting name -> allowed values (None = any non-negative number).
CHOICES: dict[str, tuple[Any, ...] | None] = {
    # Case List items: documented summary, summary plus the keys production lists carry, or full cases.
    "list_items": ("summary", "summary_ref", "full"),
    # Get Multiple items.
    "multiple_items": ("summary", "full"),
    # The envelope of a created case in Case Create / Forms Submit answers.
    "create_answer": ("contract", "data"),
    # Wall seconds a new case stays invisible to every read (Case Get answers 404 meanwhile).
    "visibility_delay": None,
    # Signed copies for every document, or only for sign-obligated ones.
    "signed_copies": ("all", "sign_obligated"),
    # Whether an expired case gets case_status "expired" (production: it stays null).
    "expired_case_status": (True, False),
    # The API versions Document Convert is served on.
    "convert_versions": (("v2",), ("v1",), ("v1", "v2")),
}

PROFILES: dict[str, dict[str, Any]] = {
    "docs": {
        "list_items": "summary",
        "multiple_items": "summary",
        "create_answer": "contract",
        "visibility_delay": 0.0,
        "signed_copies": "all",
        "expired_case_status": True,
        "convert_versions": ("v2",),
    },
    "production": {
        "list_items": "summary_ref",
        "multiple_items": "summary",
        "create_answer": "data",
        "visibility_delay": 3.0,
        "signed_copies": "sign_obligated",
        "expired_case_status": False,
        "convert_versions": ("v1",),
    },
    "rich": {
        "list_items": "full",
        "multiple_items": "full",
        "create_answer": "contract",
        "visibility_delay": 0.0,
        "signed_copies": "all",
        "expired_case_status": True,
        "convert_versions": ("v1", "v2"),
    },
}

DEFAULT_PROFILE = "docs"

_LIST_SUMMARY_KEYS = ("_id", "title", "folder", "createdAt", "updatedAt")
_LIST_REF_KEYS = ("_id", "nextSignKey", "referenceId", "title", "folder", "createdAt", "updatedAt")
_MULTIPLE_SUMMARY_KEYS = ("_id", "title", "createdAt", "updatedAt")
_CREATED_DATA_KEYS = ("_id", "nextSignKey", "title", "referenceId")


def check_setting(name: str, value: Any) -> Any:
    """Return ``value`` normalised for setting ``name``; ValueError naming the allowed values."""
    allowed = CHOICES[name]
    if allowed is None:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        return float(value)
    if isinstance(value, list):
        value = tuple(value)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {[list(a) if isinstance(a, tuple) else a for a in allowed]}")
    return value


def check_profile(name: Any) -> dict[str, Any]:
    """The settings of profile ``name``; ValueError naming the profiles."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILE_NAMES)}, got {name!r}")
    return dict(PROFILES[name])


def list_item(case: dict[str, Any], shape: str) -> dict[str, Any]:
    """A Case List item of ``case`` in ``shape``."""
    if shape == "full":
        return _copy(case)
    keys = _LIST_REF_KEYS if shape == "summary_ref" else _LIST_SUMMARY_KEYS
    return {key: case.get(key) for key in keys}


def multiple_item(case: dict[str, Any], shape: str) -> dict[str, Any]:
    """A Get Multiple item of ``case`` in ``shape``."""
    if shape == "full":
        return _copy(case)
    return {key: case.get(key) for key in _MULTIPLE_SUMMARY_KEYS}


def created_answer(case: dict[str, Any], envelope: str) -> dict[str, Any]:
    """The Case Create / Forms Submit answer for a new ``case``."""
    if envelope == "data":
        return {"data": {key: case.get(key) for key in _CREATED_DATA_KEYS}}
    return {"status": "OK", "message": "Contract created", "contract": case}


def _copy(case: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(case)
