"""NextSignSubmitFormOperator: validation before any request, referenceId, create-once, XCom."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_nextsign.exceptions import (
    NextSignAmbiguousWriteError,
    NextSignError,
    NextSignIncompleteListingError,
    NextSignServerError,
)
from airflow_provider_nextsign.operators.forms import NextSignSubmitFormOperator

from .conftest import API_KEY, COMPANY, HOST, make_context

FORM = "F1"

pytestmark = pytest.mark.usefixtures("nextsign_connection")
V2 = f"{HOST}/api/v2/{COMPANY}"
TAGS_URL = f"{V2}/forms/{FORM}/tags/get"
SUBMIT_URL = f"{V2}/forms/{FORM}/submit"
LIST_URL = f"{V2}/cases/get"
FORM_TAGS = [
    {"_id": "t1", "name": "Customer", "tag": "customer_name", "value": "", "type": "text"},
    {"_id": "t2", "name": "Price", "tag": "price", "value": "", "type": "number"},
    {"_id": "t3", "name": "Zip", "tag": "customer_zip", "value": "0000", "type": "text"},
]
RECIPIENTS = [{"name": "Jane Doe", "email": "jane@example.com"}]


def _context(**kwargs):
    return make_context(
        **{**dict(dag_id="contracts", task_id="submit", run_id="manual__2025-01-01T00:00:00+00:00"), **kwargs}
    )


def _created(case_id: str = "c1", reference_id: str = "ref") -> dict:
    return {
        "status": "OK",
        "message": "Contract created",
        "contract": {"_id": case_id, "referenceId": reference_id},
    }


def _operator(**kwargs) -> NextSignSubmitFormOperator:
    kwargs.setdefault("tags", {"customer_name": "Holm ApS", "price": 4500})
    kwargs.setdefault("recipients", RECIPIENTS)
    return NextSignSubmitFormOperator(task_id="submit", form_id=FORM, **kwargs)


def test_submits_typed_tags_with_reference_id_and_pushes_case(requests_mock):
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    submit = requests_mock.post(SUBMIT_URL, json=_created("c1"))
    context = _context(map_index=2)

    assert _operator(title="Deal").execute(context) == "c1"

    body = submit.last_request.json()
    assert body["tags"] == [
        {"tag": "customer_name", "value": "Holm ApS", "type": "text"},
        {"tag": "price", "value": 4500, "type": "number"},
    ]
    assert body["recipients"][0]["email"] == "jane@example.com"
    assert body["title"] == "Deal"
    assert body["referenceId"] == "airflow:contracts:submit[2]:manual__2025-01-01T00:00:00+00:00"
    assert context["ti"].xcom["nextsign_case_id"] == "c1"
    assert "c1" in context["ti"].xcom["nextsign_case_url"]


def test_list_tags_and_explicit_reference_id(requests_mock):
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    submit = requests_mock.post(SUBMIT_URL, json=_created("c2"))
    tags = [{"tag": "customer_name", "value": "A"}, {"tag": "price", "value": "12,5"}]
    assert _operator(tags=tags, reference_id="ORDER-7").execute(_context()) == "c2"
    assert submit.last_request.json()["referenceId"] == "ORDER-7"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"customer_name": "A", "price": 1, "colour": "red"}, "unknown tag(s) 'colour'"),
        ({"price": 1}, "missing tag(s) 'customer_name'"),
        ({"customer_name": "A", "price": "cheap"}, "'price' is a number tag"),
        ({"customer_name": "", "price": 1}, "'customer_name' has no value"),
    ],
)
def test_bad_tags_fail_before_submitting_and_list_valid_tags(requests_mock, tags, expected):
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    submit = requests_mock.post(SUBMIT_URL, json=_created())
    with pytest.raises(ValueError, match="Invalid tags") as err:
        _operator(tags=tags).execute(_context())
    assert expected in str(err.value)
    assert "customer_name (text), price (number), customer_zip (text)" in str(err.value)
    assert not submit.called


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"tags": "customer_name=A"}, "tags must be"),
        ({"tags": [{"value": "A"}]}, "tags[0] must be an object with"),
        ({"tags": {"customer_name": ["A"]}}, "must be text, a number or a date"),
        ({"recipients": [{"name": "J", "email": "not-an-email"}]}, "recipients[0].email"),
        (
            {"recipients": [{"name": "J", "email": "j@example.com", "needsCpr": True, "cpr": "01-01-90"}]},
            "recipients[0].cpr",
        ),
        ({"recipients": [{"name": "J", "email": "j@x.dk", "signingSchema": "mitid"}]}, "signingSchema"),
        ({"recipients": []}, "recipients must be a non-empty list"),
        ({"signing_schemas": ["draw", "fax"]}, "signing_schemas has invalid values ['fax']"),
    ],
)
def test_malformed_input_fails_before_any_request(requests_mock, kwargs, expected):
    with pytest.raises(ValueError) as err:
        _operator(**kwargs).execute(_context())
    assert expected in str(err.value)
    assert requests_mock.call_count == 0


def test_valid_cpr_and_signing_schema_pass(requests_mock):
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    submit = requests_mock.post(SUBMIT_URL, json=_created("c3"))
    recipients = [
        {
            "name": "J",
            "email": "j@example.com",
            "needsCpr": True,
            "cpr": "010190-1234",
            "signingSchema": "draw",
        }
    ]
    _operator(recipients=recipients, signing_schemas=["urn:grn:authn:dk:mitid:substantial"]).execute(
        _context()
    )
    body = submit.last_request.json()
    assert body["recipients"][0]["cpr"] == "010190-1234"
    assert body["signingSchemas"] == ["urn:grn:authn:dk:mitid:substantial"]


def _list_cases(cases):
    def callback(request, context):
        index = int(request.qs.get("index", ["0"])[0])
        return {"status": "company_found", "cases": cases if index == 0 else []}

    return callback


def test_retry_reuses_the_case_with_the_same_reference(requests_mock):
    ref = "airflow:contracts:submit:manual__2025-01-01T00:00:00+00:00"
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    requests_mock.get(
        LIST_URL,
        json=_list_cases([{"_id": "old", "referenceId": "other"}, {"_id": "c9", "referenceId": ref}]),
    )
    submit = requests_mock.post(SUBMIT_URL, json=_created("new"))
    context = _context(try_number=2)

    assert _operator().execute(context) == "c9"
    assert not submit.called
    assert context["ti"].xcom["nextsign_case_id"] == "c9"


def test_retry_submits_when_no_case_has_the_reference(requests_mock):
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    requests_mock.get(LIST_URL, json=_list_cases([{"_id": "old", "referenceId": "other"}]))
    submit = requests_mock.post(SUBMIT_URL, json=_created("new"))
    assert _operator().execute(_context(try_number=3)) == "new"
    assert submit.call_count == 1


def test_lost_response_is_looked_up_not_resubmitted(requests_mock):
    ref = "airflow:contracts:submit:manual__2025-01-01T00:00:00+00:00"
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    requests_mock.get(LIST_URL, json=_list_cases([{"_id": "c5", "referenceId": ref}]))
    submit = requests_mock.post(SUBMIT_URL, exc=requests.exceptions.ReadTimeout("read timed out"))

    assert _operator().execute(_context()) == "c5"
    assert submit.call_count == 1


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The reconcile loop's sleeps, recorded instead of slept."""
    from airflow_provider_nextsign.operators import _reference

    recorded: list[float] = []
    monkeypatch.setattr(_reference, "_sleep", recorded.append)
    return recorded


def test_lost_response_with_no_case_fails_the_attempt_without_submitting_again(requests_mock, waits):
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    listing = requests_mock.get(LIST_URL, json=_list_cases([]))
    submit = requests_mock.post(
        SUBMIT_URL, [{"exc": requests.exceptions.ReadTimeout("read timed out")}, {"json": _created("c6")}]
    )

    with pytest.raises(NextSignAmbiguousWriteError) as info:
        _operator(reconcile_window=20).execute(_context())

    assert submit.call_count == 1
    message = str(info.value)
    assert "airflow:contracts:submit:manual__2025-01-01T00:00:00+00:00" in message
    assert "next task attempt looks it up" in message
    # Backoff 1, 2, 4, 8, 15 s fills the 20 s window: six looks, each through every status once.
    assert waits == [1, 2, 4, 8, 15]
    statuses = [r.qs.get("status", [""])[0] for r in listing.request_history]
    assert statuses == ["pending", "signed", "denied"] * 6


def test_lost_response_uses_the_case_once_it_appears(requests_mock, waits):
    ref = "airflow:contracts:submit:manual__2025-01-01T00:00:00+00:00"
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    looks: list[str] = []

    def listing(request, context):
        status = request.qs["status"][0]
        looks.append(status)
        # NextSign is still working: the case shows up (signed already) in the third look.
        appeared = status == "signed" and looks.count("pending") >= 3 and request.qs["index"] == ["0"]
        return {"status": "company_found", "cases": [{"_id": "late", "referenceId": ref}] if appeared else []}

    requests_mock.get(LIST_URL, json=listing)
    submit = requests_mock.post(SUBMIT_URL, exc=requests.exceptions.ReadTimeout("read timed out"))

    assert _operator(reconcile_window=60).execute(_context()) == "late"
    assert submit.call_count == 1
    assert waits == [1, 2]


def test_a_retry_whose_lookup_cannot_complete_fails_without_submitting(requests_mock, monkeypatch):
    from airflow_provider_nextsign.api.client import NextSignClient

    # The client's own retries back off 1, 2, 4, 8, 16 s: record instead of sleeping.
    monkeypatch.setitem(NextSignClient.__init__.__kwdefaults__, "sleep", lambda seconds: None)
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    requests_mock.get(LIST_URL, status_code=503, json={"message": "Service unavailable"})
    submit = requests_mock.post(SUBMIT_URL, json=_created("new"))
    with pytest.raises(NextSignServerError):
        _operator().execute(_context(try_number=2))
    assert not submit.called


def test_a_retry_whose_listing_repeats_a_page_fails_without_submitting(requests_mock):
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    full_page = [{"_id": f"c{i}", "referenceId": "other"} for i in range(100)]
    requests_mock.get(
        LIST_URL, json={"status": "company_found", "cases": full_page}
    )  # every index: same page
    submit = requests_mock.post(SUBMIT_URL, json=_created("new"))
    with pytest.raises(NextSignIncompleteListingError, match="same cases"):
        _operator().execute(_context(try_number=2))
    assert not submit.called


def test_api_error_propagates_and_never_leaks_the_key(requests_mock):
    requests_mock.get(
        TAGS_URL, json={"errors": [{"code": 400, "message": "Bad Request", "description": "Form not found"}]}
    )
    with pytest.raises(NextSignError) as err:
        _operator().execute(_context())
    assert API_KEY not in repr(err.value) + str(err.value)


def test_operator_maps_over_tags():
    from airflow.providers.common.compat.sdk import DAG

    with DAG("mapped_forms", schedule=None) as dag:
        NextSignSubmitFormOperator.partial(task_id="submit", form_id=FORM, recipients=RECIPIENTS).expand(
            tags=[{"customer_name": "A", "price": 1}, {"customer_name": "B", "price": 2}]
        )
    task = dag.get_task("submit")
    assert "tags" in task.template_fields
    assert task.partial_kwargs["form_id"] == FORM


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"submit_fields": {"tags": []}}, "submit_fields: 'tags' is set by the operator; pass tags="),
        ({"submit_fields": {"recipients": []}}, "pass recipients="),
        ({"submit_fields": {"title": "T"}}, "pass title="),
        ({"submit_fields": {"referenceId": "r"}}, "pass reference_id="),
        ({"submit_fields": {"signingSchemas": ["draw"]}}, "pass signing_schemas="),
        ({"submit_fields": {"settings": "fast"}}, "settings must be an object"),
        ({"submit_fields": "folder=x"}, "submit_fields must be a dict"),
        ({"title": ["a"]}, "title must be a non-empty string"),
    ],
)
def test_field_clashes_fail_before_any_request(requests_mock, kwargs, expected):
    requests_mock.get(TAGS_URL, json=FORM_TAGS)
    requests_mock.post(SUBMIT_URL, json=_created("c1"))
    with pytest.raises(ValueError) as err:
        _operator(**kwargs).execute(_context())
    assert expected in str(err.value)
    assert requests_mock.call_count == 0
