"""The NextSign connection form, declared once.

Airflow 3.2+ builds the form from the provider info (``conn-fields``, ``ui-field-behaviour``);
Airflow 2.11 and 3.1 ask the hook (``get_connection_form_widgets``, ``get_ui_field_behaviour``). Both
come from the declarations here, so labels, defaults, placeholders and types cannot drift apart.
Importing this module imports nothing of Airflow.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_nextsign.api.endpoints import DEFAULT_FILES_HOST, DEFAULT_HOST

__all__ = ["CONN_FIELDS", "PLACEHOLDERS", "RECEIVER_FIELDS", "UI_FIELD_BEHAVIOUR", "wtforms_widgets"]

#: The extra fields, in the JSON-schema form of ``conn-fields``.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "files_host": {
        "label": "Files API host (v3)",
        "description": "Base URL of the v3 file API (upload, pre-signed URLs).",
        "schema": {"type": ["string", "null"], "default": DEFAULT_FILES_HOST},
    },
    "requests_per_minute": {
        "label": "Requests per minute",
        "description": "Request budget for this company and key, shared by every task on this host "
        "(on every host with the Redis connection below).",
        "schema": {"type": ["integer", "null"], "default": 100, "minimum": 1},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds to wait for each HTTP request.",
        "schema": {"type": ["number", "null"], "default": 30, "exclusiveMinimum": 0},
    },
    "redis_conn_id": {
        "label": "Redis connection (budget across hosts)",
        "description": "Id of an Airflow connection of type redis that holds the request budget shared by "
        "every host (Celery workers, Kubernetes pods). Empty: each host has its own budget.",
        "schema": {"type": ["string", "null"]},
    },
    "convert_api_version": {
        "label": "Convert API version",
        "description": "Path of Document Convert: auto (try v1, which production uses, then the documented "
        "v2, and remember), v1 or v2.",
        "schema": {"type": ["string", "null"], "default": "auto", "enum": ["auto", "v1", "v2", None]},
    },
    "api_profile": {
        "label": "API profile (from the probe)",
        "description": "JSON object the probe (python -m airflow_provider_nextsign.probe) prints as "
        "api_profile: where Convert answers and whether Get Multiple sends summaries. Saves requests; "
        "empty: detect as calls go.",
        "schema": {"type": ["string", "null"]},
    },
    "reconcile_window": {
        "label": "Reconcile window (seconds)",
        "description": "How long to look for a case whose create got no answer before failing the attempt "
        "without creating again. Empty: 3 x the timeout.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
}

#: Fields only the Airflow 3 webhook receiver reads.
RECEIVER_FIELDS: dict[str, dict[str, Any]] = {
    "webhook_secret": {
        "label": "Webhook secret",
        "description": "Shared secret NextSign sends in the webhook's custom header (Airflow 3 receiver).",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
}

PLACEHOLDERS: dict[str, str] = {
    "login": "6576e19662ec13c4faa7de7b",
    "password": "Bearer API key from Config -> API Keys",
    "host": DEFAULT_HOST,
    "files_host": DEFAULT_FILES_HOST,
    "requests_per_minute": "100",
    "timeout": "30",
    "redis_conn_id": "redis_default",
    "convert_api_version": "auto",
    "reconcile_window": "90",
    "api_profile": '{"convert_api_version": "v2", "get_multiple_items": "summary"}',
    "webhook_secret": "Random string, also set as the webhook's X-Webhook-Token header",
}

_POSITIVE_DECIMAL = r"^\s*(?:\d*[1-9]\d*(?:\.\d*)?|\d*\.\d*[1-9]\d*)\s*$"

HIDDEN_FIELDS = ["port", "schema", "extra"]
RELABELING = {"login": "Company ID", "password": "API key", "host": "API host (v2)"}

#: ``ui-field-behaviour`` of the provider info (Airflow 3.2+).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": HIDDEN_FIELDS,
    "relabeling": RELABELING,
    "placeholders": PLACEHOLDERS,
}


def wtforms_widgets(*, with_receiver: bool) -> dict[str, Any]:
    """The same fields as WTForms fields, for the hook's Airflow 2.11 / 3.1 form."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, PasswordField, StringField
    from wtforms.validators import AnyOf, NumberRange, Optional, Regexp

    fields = {**CONN_FIELDS, **(RECEIVER_FIELDS if with_receiver else {})}
    widgets: dict[str, Any] = {}
    for name, field in fields.items():
        schema = field["schema"]
        kind = schema["type"][0]
        common: dict[str, Any] = {
            "description": lazy_gettext(field["description"]),
            "validators": [Optional()],
        }
        if "default" in schema:
            common["default"] = schema["default"]
        label = lazy_gettext(field["label"])
        if schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), **common)
            continue
        if kind == "integer":
            if "minimum" in schema:
                common["validators"].append(NumberRange(min=schema["minimum"]))
            widgets[name] = IntegerField(label, widget=BS3TextFieldWidget(), **common)
            continue
        if kind == "number":
            # Airflow 2.11's providers manager refuses a hook whose form has a FloatField (and then
            # forgets the whole connection type), so a decimal is a text field checked by pattern.
            positive = Regexp(_POSITIVE_DECIMAL, message="Enter a positive number, e.g. 30 or 2.5")
            common["validators"].append(positive)
            widgets[name] = StringField(label, widget=BS3TextFieldWidget(), **common)
            continue
        if "enum" in schema:
            common["validators"].append(AnyOf([v for v in schema["enum"] if v is not None]))
        widgets[name] = StringField(label, widget=BS3TextFieldWidget(), **common)
    return widgets


def ui_field_behaviour() -> dict[str, Any]:
    """The hook's ``get_ui_field_behaviour`` (the same declarations, Airflow 2 key names)."""
    return {"hidden_fields": HIDDEN_FIELDS, "relabeling": RELABELING, "placeholders": PLACEHOLDERS}
