"""The production evidence of nextsign-api.md §0 (P1-P11), replayed against the hook, sensor and trigger.

Each body below is shaped as the live API was observed to answer (or as the docs' own examples show).
The sync paths run through requests-mock; the trigger runs its real async client against a local aiohttp
server that answers the same bodies.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from aiohttp import web

from airflow_provider_nextsign.api.classify import classify, confirms_absence
from airflow_provider_nextsign.api.lookup import created_at
from airflow_provider_nextsign.exceptions import (
    NextSignCaseFailedError,
    NextSignNotFoundError,
)
from airflow_provider_nextsign.hooks.nextsign import NextSignHook
from airflow_provider_nextsign.sensors.case import NextSignCaseSensor

from .conftest import API_KEY, COMPANY, FILES, HOST, V2

pytestmark = pytest.mark.usefixtures("nextsign_connection")

CASE_ID = "657b2ffb0965b111023fb0d1"
STAMP = "2024-02-19T10:52:25.836Z"  # P11: milliseconds and Z


def full_case(signed: str = "pending", *, expired: bool = False, case_id: str = CASE_ID) -> dict:
    """A Case Get ``case`` as production saw it: case_status null, per-recipient signed values (P3)."""
    return {
        "_id": case_id,
        "nextSignKey": "NS-7K2P",
        "title": "Service agreement",
        "case_status": None,
        "settings": {"availability": {"days": 10, "isExpired": expired, "unlimited": False}},
        "recipients": [{"name": "Jane", "email": "jane@example.com", "signing": True, "signed": signed}],
        "documents": [
            {"name": "contract.pdf", "sign_obligated": True, "document_id": "d1"},
            {"name": "terms.pdf", "sign_obligated": False, "document_id": "d2"},
        ],
        # P4: only the sign-obligated document has a signed copy.
        "signedDocuments": [
            {"name": "contract.pdf", "file": "https://nextsign.hel1.your-objectstorage.com/x/case/c.pdf"}
        ]
        if signed == "signed"
        else [],
        "createdAt": "2024-02-19T10:40:27.431Z",
        "updatedAt": STAMP,
    }


SUMMARY = {
    "_id": CASE_ID,
    "title": "Service agreement",
    "createdAt": "2024-02-19T10:40:27.431Z",
    "updatedAt": STAMP,
}


def test_p1_create_and_submit_read_the_new_case_from_data(requests_mock):
    created = {"data": {"_id": CASE_ID, "nextSignKey": "NS-7K2P", "title": "Lease", "referenceId": "R1"}}
    requests_mock.post(f"{V2}/case/create", json=created)
    requests_mock.post(f"{V2}/forms/F1/submit", json=created)
    hook = NextSignHook()
    recipients = [{"name": "Jane", "email": "jane@example.com"}]
    documents = [{"name": "a.pdf", "file": "https://storage.test/a.pdf"}]
    case = hook.create_case(title="Lease", recipients=recipients, documents=documents, settings={})
    assert case["_id"] == CASE_ID
    assert hook.submit_form("F1", tags={"x": "1"}, recipients=recipients)["_id"] == CASE_ID


def test_p2_case_get_found_and_the_http_200_not_found(requests_mock):
    requests_mock.get(f"{V2}/case/{CASE_ID}/get", json={"status": "case_found", "case": full_case()})
    requests_mock.get(f"{V2}/case/0000000000000000000000aa/get", json={"message": "Case not found"})
    hook = NextSignHook()
    assert hook.get_case(CASE_ID)["nextSignKey"] == "NS-7K2P"
    with pytest.raises(NextSignNotFoundError) as err:
        hook.get_case("0000000000000000000000aa")
    assert confirms_absence(err.value)
    assert requests_mock.call_count == 2  # the not-found answer is final: not retried


def _mock_reads(requests_mock, *, multiple: list[dict] | None, case: dict | None):
    if multiple:
        requests_mock.get(
            re.compile(rf"{V2}/cases/[^/]+/get"), json={"status": "cases_found", "cases": multiple}
        )
    else:
        requests_mock.get(
            re.compile(rf"{V2}/cases/[^/]+/get"), status_code=404, json={"message": "Cases not found"}
        )
    body = {"status": "case_found", "case": case} if case else {"message": "Case not found"}
    return requests_mock.get(f"{V2}/case/{CASE_ID}/get", json=body)


@pytest.mark.parametrize(
    ("case", "outcome"),
    [
        (full_case("denied"), "denied"),  # P3: the recipient-level denied value
        (full_case("pending", expired=True), "expired"),  # P3: case_status null, isExpired true
        (full_case("signed", expired=True), "signed"),  # P3: fully signed wins over expired
    ],
)
def test_p3_states_come_from_recipients_and_is_expired(requests_mock, case, outcome):
    _mock_reads(requests_mock, multiple=[SUMMARY], case=case)  # P10: Get Multiple gives summaries
    sensor = NextSignCaseSensor(task_id="wait", case_ids=CASE_ID)
    if outcome == "signed":
        result = sensor.poke({})
        assert result.xcom_value[CASE_ID]["state"] == "signed"
        # P4: one signed copy for two documents, and that is complete.
        assert [d["name"] for d in result.xcom_value[CASE_ID]["signed_documents"]] == ["contract.pdf"]
    else:
        with pytest.raises(NextSignCaseFailedError, match=outcome):
            sensor.poke({})


def test_p5_presign_answer_and_a_download_without_the_key(requests_mock):
    stored = "https://nextsign.hel1.your-objectstorage.com/655e252f708ff057141e577e/case/example.pdf"
    signed = f"{stored}?X-Amz-Signature=abc&X-Amz-Expires=3600"
    requests_mock.post(
        f"{FILES}/v3/company/{COMPANY}/file/view-presigned-url",
        json={
            "key": "655e252f708ff057141e577e/case/example.pdf",
            "signedUrl": signed,
            "type": "application/pdf",
            "cached": True,
        },
    )
    requests_mock.get(signed, content=b"%PDF-1.7 signed")
    hook = NextSignHook()
    url = hook.get_presigned_url(stored)
    assert url == signed
    assert b"".join(hook.stream_file(url)) == b"%PDF-1.7 signed"
    assert "Authorization" not in requests_mock.last_request.headers


def test_p6_convert_on_v1_as_production_calls_it(requests_mock, monkeypatch):
    from airflow_provider_nextsign.api import client as client_module

    monkeypatch.setattr(client_module, "_CONVERT_VERSION_BY_HOST", {})
    answer = {
        "status": {"code": 200, "message": "OK"},
        "documents": [{"file": "https://s/c.pdf", "name": "c.pdf"}],
    }
    v1 = requests_mock.post(f"{HOST}/api/v1/document/convert", json=answer)
    v2 = requests_mock.post(f"{HOST}/api/v2/document/convert", status_code=404, json={"message": "Not Found"})
    assert (
        NextSignHook().convert_documents([{"file": "https://s/c.docx", "name": "c.docx"}])
        == answer["documents"]
    )
    assert v1.call_count == 1 and v2.call_count == 0


def test_p7_needs_cpr_without_cpr_is_sent(requests_mock):
    requests_mock.post(f"{V2}/forms/F1/submit", json={"data": {"_id": CASE_ID}})
    NextSignHook().submit_form(
        "F1", tags={"x": "1"}, recipients=[{"name": "Jane", "email": "jane@example.com", "needsCpr": True}]
    )
    (recipient,) = requests_mock.last_request.json()["recipients"]
    assert recipient["needsCpr"] is True and "cpr" not in recipient


def test_p8_a_case_missing_right_after_its_create_is_pending_not_deleted(requests_mock):
    case_get = _mock_reads(requests_mock, multiple=None, case=None)  # 404 from Get Multiple, Case Get too
    sensor = NextSignCaseSensor(task_id="wait", case_ids=CASE_ID)  # default grace: 5 minutes
    assert sensor.poke({}) is False
    assert not case_get.called


def test_p9_a_data_wrapped_case_list_is_read_without_retries(requests_mock):
    def listing(request, context):
        cases = [SUMMARY] if request.qs["index"] == ["0"] else []
        return {"data": {"cases": cases, "total": 1}}

    requests_mock.get(f"{V2}/cases/get", json=listing)
    assert [c["_id"] for c in NextSignHook().list_cases(page_size=50)] == [CASE_ID]
    assert requests_mock.call_count == 2  # page 0, then the empty page that ends the list


def test_p10_summaries_cost_one_case_get_only_when_updated_at_moves(requests_mock):
    case_get = _mock_reads(requests_mock, multiple=[SUMMARY], case=full_case("pending"))
    sensor = NextSignCaseSensor(task_id="wait", case_ids=CASE_ID)
    assert sensor.poke({}) is False and sensor.poke({}) is False
    assert case_get.call_count == 1


def test_p11_timestamps_with_milliseconds_and_z():
    moment = created_at({"createdAt": STAMP})
    assert moment is not None and moment.isoformat() == "2024-02-19T10:52:25.836000+00:00"


def test_an_unknown_200_body_fails_at_once_naming_its_keys(requests_mock):
    requests_mock.get(f"{V2}/cases/get", json={"status": "company_found", "items": [SUMMARY]})
    with pytest.raises(Exception, match=r"unknown shape .*items") as err:
        list(NextSignHook().list_cases())
    assert requests_mock.call_count == 1  # not transient: never retried
    assert CASE_ID not in str(err.value)


@pytest.fixture
async def live_like():
    """An aiohttp server answering the §0 shapes: summaries from Get Multiple, full cases from Case Get."""
    state: dict = {"case": full_case("pending"), "summary": dict(SUMMARY), "requests": []}

    async def multiple(request: web.Request) -> web.Response:
        state["requests"].append("cases_get_multiple")
        return web.json_response({"status": "cases_found", "cases": [state["summary"]]})

    async def one(request: web.Request) -> web.Response:
        state["requests"].append("case_get")
        return web.json_response({"status": "case_found", "case": state["case"]})

    app = web.Application()
    app.router.add_get(f"/api/v2/{COMPANY}/cases/{{ids}}/get", multiple)
    app.router.add_get(f"/api/v2/{COMPANY}/case/{{id}}/get", one)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield state
    await runner.cleanup()


async def test_the_trigger_waits_on_summaries_and_sees_the_signature(live_like, monkeypatch):
    from airflow_provider_nextsign.api.aio import AsyncNextSignClient
    from airflow_provider_nextsign.triggers import case as trigger_module
    from airflow_provider_nextsign.triggers.case import NextSignCaseTrigger

    async def factory(conn_id):
        return AsyncNextSignClient(COMPANY, API_KEY, host=live_like["url"], requests_per_minute=100_000)

    monkeypatch.setattr(trigger_module, "async_client_for", factory)
    trigger = NextSignCaseTrigger(
        [CASE_ID], "ns", poll_interval=0.01, max_interval=0.01, end_time=time.time() + 10
    )
    agen = trigger.run()
    waiting = asyncio.ensure_future(agen.__anext__())
    while live_like["requests"].count("cases_get_multiple") < 3:
        await asyncio.sleep(0.005)
    assert live_like["requests"].count("case_get") == 1  # unchanged summaries cost nothing more
    live_like["case"] = full_case("signed")
    live_like["summary"] = {**SUMMARY, "updatedAt": "2024-02-20T08:00:00.000Z"}
    event = await waiting
    await agen.aclose()
    assert event.payload["status"] == "success"
    assert event.payload["cases"][CASE_ID]["signed_documents"][0]["name"] == "contract.pdf"


def test_classify_accepts_both_created_envelopes():
    contract = {"status": "OK", "message": "Contract created", "contract": {"_id": CASE_ID}}
    data = {"data": {"_id": CASE_ID, "nextSignKey": "K", "title": "T", "referenceId": "R"}}
    assert classify("case_create", 200, contract) == contract
    assert classify("forms_submit", 200, data) == data
