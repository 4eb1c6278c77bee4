"""The provider registers itself with Airflow and declares the NextSign connection form."""

from __future__ import annotations

import importlib.metadata

import pytest

from airflow_provider_nextsign import __version__
from airflow_provider_nextsign.get_provider_info import get_provider_info


def test_entry_point_points_at_provider_info():
    eps = importlib.metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in eps if ep.value.startswith("airflow_provider_nextsign")]
    assert len(ours) == 1
    info = ours[0].load()()
    assert info["package-name"] == "airflow-provider-nextsign"
    assert info["versions"] == [__version__]


def test_connection_type_declares_relabelled_form():
    (conn,) = get_provider_info()["connection-types"]
    assert conn["connection-type"] == "nextsign"
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["relabeling"]["login"] == "Company ID"
    assert behaviour["relabeling"]["password"] == "API key"
    assert {"port", "schema"} <= set(behaviour["hidden-fields"])
    assert set(conn["conn-fields"]) == {
        "files_host",
        "requests_per_minute",
        "timeout",
        "redis_conn_id",
        "convert_api_version",
        "reconcile_window",
        "api_profile",
        "webhook_secret",
    }
    assert conn["conn-fields"]["redis_conn_id"]["schema"]["type"] == ["string", "null"]  # optional
    assert conn["conn-fields"]["webhook_secret"]["schema"]["format"] == "password"  # masked in the form
    assert conn["conn-fields"]["requests_per_minute"]["schema"]["default"] == 100


def _installed(distribution: str) -> bool:
    """Whether ``distribution`` is really installed (Airflow 3.1 may put stand-ins for Flask-AppBuilder
    and WTForms into ``sys.modules`` when it loads hook widgets without them)."""
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


FAB_FORMS = pytest.mark.skipif(
    not (_installed("flask-appbuilder") and _installed("wtforms")),
    reason="the Flask-AppBuilder connection form (Airflow 2.11); Airflow 3 builds it from conn-fields",
)


@FAB_FORMS
def test_the_hooks_form_and_the_provider_info_form_declare_the_same_fields():
    """One declaration: the Airflow 2.11 / 3.1 widgets carry the conn-fields' labels, types and defaults."""
    from wtforms import IntegerField, PasswordField, StringField

    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    (conn,) = get_provider_info()["connection-types"]
    widgets = NextSignHook.get_connection_form_widgets()
    fields = conn["conn-fields"]
    assert set(widgets) <= set(fields) and set(fields) - set(widgets) <= {"webhook_secret"}
    # A decimal is a validated text field: Airflow 2.11 drops a hook whose form holds a FloatField.
    kinds = {"string": StringField, "integer": IntegerField, "number": StringField}
    for name, widget in widgets.items():
        schema = fields[name]["schema"]
        expected = PasswordField if schema.get("format") == "password" else kinds[schema["type"][0]]
        assert widget.field_class is expected, name
        assert str(widget.args[0]) == fields[name]["label"]
        assert widget.kwargs.get("default") == schema.get("default")
    assert NextSignHook.get_ui_field_behaviour()["placeholders"] == conn["ui-field-behaviour"]["placeholders"]


@FAB_FORMS
def test_the_hooks_form_uses_only_field_classes_airflow_2_accepts_and_checks_decimals():
    """Airflow 2.11's providers manager forgets the connection type when one widget is another class."""
    from flask import Flask
    from werkzeug.datastructures import MultiDict
    from wtforms import BooleanField, Form, IntegerField, PasswordField, StringField

    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    widgets = NextSignHook.get_connection_form_widgets()
    accepted = (IntegerField, PasswordField, StringField, BooleanField)
    assert all(widget.field_class in accepted for widget in widgets.values())

    form_class = type("ConnectionForm", (Form,), dict(widgets))
    with Flask(__name__).test_request_context():
        cases = [("2.5", True), ("90", True), (".5", True), ("0", False), ("-3", False), ("x", False)]
        for typed, valid in cases:
            form = form_class(MultiDict({"timeout": typed, "reconcile_window": typed}))
            form.validate()
            assert ("timeout" not in form.errors) is valid, typed
            assert ("reconcile_window" not in form.errors) is valid, typed
        empty = form_class(MultiDict({"timeout": "", "reconcile_window": ""}))
        empty.validate()
        assert "timeout" not in empty.errors and "reconcile_window" not in empty.errors  # optional
