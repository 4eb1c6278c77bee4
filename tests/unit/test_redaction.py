"""Pre-signed URLs work like passwords for about an hour: no error or log line may carry their query."""

from __future__ import annotations

import json
import logging
import socket

import pytest
import requests

from airflow_provider_nextsign.api.errors import NextSignConnectionError, NextSignError, without_query_strings

from .conftest import API_KEY, COMPANY, FILES, HOST, V3

SIGNATURE = "X-Amz-Signature=4f2b9c0d1e7a"
QUERY = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&{SIGNATURE}"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"https://store.test/a/signed.pdf?{QUERY}", "https://store.test/a/signed.pdf?…"),
        (f"exceeded with url: /a/b.pdf?{QUERY} (Caused by X)", "exceeded with url: /a/b.pdf?… (Caused by X)"),
        (f"'{HOST}/x?sig=1' and /y?z=2", f"'{HOST}/x?…' and /y?…"),
        ("Case not found", "Case not found"),
        ("status? what is wrong", "status? what is wrong"),
    ],
)
def test_query_strings_are_cut_from_text(text, expected):
    assert without_query_strings(text) == expected


def test_every_nextsign_error_drops_query_strings():
    err = NextSignError(f"download of https://store.test/s.pdf?{QUERY} failed", operation="file_download")
    assert SIGNATURE not in str(err) and SIGNATURE not in err.message and SIGNATURE not in repr(err)


def test_real_connection_failure_to_a_presigned_url_never_shows_the_signature(client, sleeps, caplog):
    url = f"http://127.0.0.1:{_closed_port()}/{COMPANY}/case/signed.pdf?{QUERY}"
    with (
        caplog.at_level(logging.DEBUG, logger="airflow_provider_nextsign"),
        pytest.raises(NextSignConnectionError) as info,
    ):
        list(client.stream_file(url))
    assert len(sleeps) == 5  # retried, and each retry logged
    texts = [str(info.value), repr(info.value), info.value.message, *(r.getMessage() for r in caplog.records)]
    assert "signed.pdf" in texts[0]  # the path still helps to debug
    assert not [t for t in texts if "X-Amz" in t]
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_retry_log_of_a_read_shows_no_query_string(client, requests_mock, sleeps, caplog):
    failing = requests.ConnectionError(f"Max retries exceeded with url: /x?{QUERY}")
    requests_mock.post(f"{V3}/view-presigned-url", [{"exc": failing}, {"json": {"signedUrl": "https://s/x"}}])
    with caplog.at_level(logging.WARNING, logger="airflow_provider_nextsign"):
        client.get_presigned_url("https://s/x")
    (line,) = [r.getMessage() for r in caplog.records]
    assert "retry 1" in line and "X-Amz" not in line


def test_a_download_failing_mid_stream_is_a_connection_error_without_the_url(client, requests_mock):
    class Broken:
        closed = False

        def __init__(self) -> None:
            self.sent = False

        def close(self) -> None:
            self.closed = True

        def read(self, *args, **kwargs):
            if self.sent:
                raise requests.exceptions.ChunkedEncodingError(f"Connection broken at /s.pdf?{QUERY}")
            self.sent = True
            return b"%PDF-1.7 half"

    requests_mock.get("https://store.test/s.pdf", body=Broken())
    chunks = client.stream_file(f"https://store.test/s.pdf?{QUERY}", chunk_size=64)
    with pytest.raises(NextSignConnectionError) as info:
        list(chunks)
    assert info.value.operation == "file_download" and "X-Amz" not in str(info.value)


def test_hook_masks_each_presigned_url_it_obtains(monkeypatch, requests_mock):
    from airflow.providers.common.compat.sdk import redact

    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

    conn = {"conn_type": "nextsign", "login": COMPANY, "password": API_KEY, "host": HOST}
    conn["extra"] = {"files_host": FILES, "requests_per_minute": 100000}
    monkeypatch.setenv("AIRFLOW_CONN_NEXTSIGN_DEFAULT", json.dumps(conn))
    signed = f"https://store.test/{COMPANY}/case/signed.pdf?{QUERY}&n=masked-once"
    requests_mock.post(f"{V3}/view-presigned-url", json={"signedUrl": signed})

    assert NextSignHook().get_presigned_url("https://store.test/signed.pdf") == signed
    # Task logs pass through Airflow's masker: neither the URL nor a request line with its query survives.
    for line in (f"GET {signed}", f'"GET /{COMPANY}/case/signed.pdf?{QUERY}&n=masked-once HTTP/1.1" 200'):
        assert "X-Amz-Signature" not in str(redact(line)), line


def _with_cpr(cpr: str) -> list[dict]:
    return [
        {"name": "Jane", "email": "jane@example.com", "needsCpr": True, "cpr": cpr},
        {"name": "Carl", "email": "carl@example.com"},
    ]


@pytest.mark.parametrize(
    ("make", "cpr"),
    [
        (lambda r: _create_operator(r), "1203881234"),
        (lambda r: _submit_operator(r), "240175-4321"),
    ],
)
def test_cpr_numbers_are_masked_in_rendered_recipients(make, cpr):
    from airflow.providers.common.compat.sdk import redact

    operator = make(_with_cpr("{{ params.cpr }}"))
    # The mapped-task path of Airflow 2.11 and 3 renders through the same _do_render_template_fields.
    operator.render_template_fields({"params": {"cpr": cpr}})
    assert operator.recipients[0]["cpr"] == cpr  # rendered, and sent as given
    shown = json.dumps(redact(operator.recipients, "recipients"))
    digits = cpr.replace("-", "")
    for form in (cpr, digits, f"{digits[:6]}-{digits[6:]}"):
        assert form not in shown and form not in str(redact(f"recipient cpr {form}"))
    assert "jane@example.com" in shown  # only the CPR is hidden


def _create_operator(recipients):
    from airflow_provider_nextsign.operators.cases import NextSignCreateCaseOperator

    return NextSignCreateCaseOperator(task_id="c", title="T", recipients=recipients, documents=[b"%PDF-1.4"])


def _submit_operator(recipients):
    from airflow_provider_nextsign.operators.forms import NextSignSubmitFormOperator

    return NextSignSubmitFormOperator(task_id="s", form_id="F1", tags={}, recipients=recipients)
