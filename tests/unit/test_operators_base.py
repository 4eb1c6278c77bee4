"""NextSignBaseOperator and the conventions every public NextSign operator and the sensor follow."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import pytest

from airflow_provider_nextsign.api.retry import RetryPolicy
from airflow_provider_nextsign.exceptions import NextSignServerError
from airflow_provider_nextsign.hooks.nextsign import NextSignHook
from airflow_provider_nextsign.operators.base import NextSignBaseOperator
from airflow_provider_nextsign.operators.cases import NextSignCreateCaseOperator, NextSignDeleteCaseOperator
from airflow_provider_nextsign.operators.documents import (
    NextSignConvertDocumentOperator,
    NextSignSignedDocumentsToStorageOperator,
)
from airflow_provider_nextsign.operators.forms import NextSignSubmitFormOperator
from airflow_provider_nextsign.operators.reporting import NextSignCaseReportOperator
from airflow_provider_nextsign.sensors.case import NextSignCaseSensor

from .conftest import API_KEY, COMPANY, FILES, HOST, make_context

V2 = f"{HOST}/api/v2/{COMPANY}"

#: Every public operator that talks to NextSign, with the smallest valid arguments.
OPERATORS = {
    NextSignSubmitFormOperator: {"form_id": "F1", "tags": {"a": 1}, "recipients": []},
    NextSignCreateCaseOperator: {"title": "T", "recipients": [], "documents": []},
    NextSignDeleteCaseOperator: {"case_id": "c1"},
    NextSignConvertDocumentOperator: {"source": "in.docx", "destination": "out/"},
    NextSignSignedDocumentsToStorageOperator: {"case_id": "c1", "destination": "out/"},
    NextSignCaseReportOperator: {"destination": "out/"},
}
PUBLIC = [*OPERATORS, NextSignBaseOperator, NextSignCaseSensor]
#: Template fields holding JSON-like structures: the UI shows them rendered as JSON.
JSON_FIELDS = {"recipients", "tags", "case_fields", "submit_fields", "settings"}


def _documented_params(cls: type) -> dict[str, str]:
    """``{name: description}`` of the ``:param name:`` entries of the class docstring."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    entries = re.split(r"^:param ", doc, flags=re.MULTILINE)[1:]
    params = {}
    for entry in entries:
        name, _, text = entry.partition(":")
        params[name.strip()] = " ".join(text.split()).split(":raises")[0]
    return params


def _own_params(cls: type) -> list[str]:
    signature = inspect.signature(cls.__init__)
    return [
        name
        for name, param in signature.parameters.items()
        if name != "self" and param.kind is param.KEYWORD_ONLY
    ]


@pytest.mark.parametrize("cls", list(OPERATORS), ids=lambda cls: cls.__name__)
def test_every_operator_is_a_nextsign_base_operator(cls):
    assert issubclass(cls, NextSignBaseOperator)
    op = cls(task_id="t", nextsign_conn_id="other", hook_params={"retry_policy": None}, **OPERATORS[cls])
    assert op.nextsign_conn_id == "other"
    assert op.hook_params == {"retry_policy": None}
    assert "nextsign_conn_id" in cls.template_fields


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda cls: cls.__name__)
def test_every_parameter_is_documented_and_template_fields_say_so(cls):
    documented = _documented_params(cls)
    missing = [name for name in _own_params(cls) if name not in documented]
    assert not missing, f"{cls.__name__}: no ':param {missing[0]}:' in the class docstring"
    for name, text in documented.items():
        templated = name in cls.template_fields
        assert ("(templated)" in text) is templated, (
            f"{cls.__name__}: ':param {name}:' must {'' if templated else 'not '}say '(templated)'"
        )


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda cls: cls.__name__)
def test_structured_template_fields_render_as_json(cls):
    renderers = getattr(cls, "template_fields_renderers", {})
    assert set(renderers) <= set(cls.template_fields)
    for name in JSON_FIELDS & set(cls.template_fields):
        assert renderers.get(name) == "json", f"{cls.__name__}.{name} has no 'json' renderer"


def test_the_hook_is_built_on_first_use_once_with_the_connection_and_hook_params():
    policy = RetryPolicy(max_attempts=2)
    op = NextSignDeleteCaseOperator(
        task_id="delete", case_id="c1", nextsign_conn_id="ns_other", hook_params={"retry_policy": policy}
    )
    assert "hook" not in vars(op)  # nothing built (and no connection read) when the DAG file is parsed
    hook = op.hook
    assert isinstance(hook, NextSignHook)
    assert hook.nextsign_conn_id == "ns_other"
    assert hook.retry_policy is policy
    assert op.hook is hook


@pytest.mark.usefixtures("nextsign_connection")
def test_hook_params_reach_the_requests(requests_mock):
    tags = requests_mock.get(f"{V2}/forms/F1/tags/get", status_code=503, json={"message": "down"})
    op = NextSignSubmitFormOperator(
        task_id="submit",
        form_id="F1",
        tags={"customer_name": "A"},
        recipients=[{"name": "Jane", "email": "jane@example.com"}],
        hook_params={"retry_policy": RetryPolicy(max_attempts=1)},
    )
    with pytest.raises(NextSignServerError):
        op.execute(make_context())
    assert tags.call_count == 1  # the default policy would have tried six times


def test_the_sensor_keeps_one_hook_across_pokes_and_rebuilds_it_when_old(requests_mock, monkeypatch):
    conn = {"conn_type": "nextsign", "login": COMPANY, "password": API_KEY, "host": HOST}
    conn["extra"] = {"files_host": FILES, "requests_per_minute": 1_000_000}
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(conn))
    pending = {"_id": "a", "recipients": [{"name": "J", "email": "j@x.dk", "signing": True, "signed": ""}]}
    cases = requests_mock.get(f"{V2}/cases/a/get", json={"status": "cases_found", "cases": [pending]})
    sensor = NextSignCaseSensor(task_id="wait", case_ids="a", mode="poke")

    assert sensor.poke({}) is False
    first = sensor.hook
    assert sensor.poke({}) is False
    assert sensor.hook is first  # one hook, one HTTP session for the whole poke-mode wait

    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps({**conn, "password": "rotated-key"}))
    sensor.hook_max_age = 0.0  # as if the hook were older than the limit
    assert sensor.poke({}) is False
    assert cases.last_request.headers["Authorization"] == "Bearer rotated-key"  # a key rotation is seen


def test_operator_and_sensor_modules_import_no_hook_or_http_client_at_parse():
    modules = [
        "airflow_provider_nextsign.operators.forms",
        "airflow_provider_nextsign.operators.cases",
        "airflow_provider_nextsign.operators.documents",
        "airflow_provider_nextsign.sensors.case",
    ]
    # What our modules add on top of the operator framework (Airflow 2.11 itself imports requests).
    code = (
        "import importlib, json, sys\n"
        "from airflow.providers.common.compat.sdk import BaseOperator, BaseSensorOperator\n"
        "before = set(sys.modules)\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in ('airflow_provider_nextsign.hooks.nextsign', 'requests') "
        "if m in set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
