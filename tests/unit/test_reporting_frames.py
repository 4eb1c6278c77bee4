"""Flattening case bodies into the declared report schema, and chunked iteration over a fake client."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from airflow_provider_nextsign.api.errors import NextSignNotFoundError, NextSignServerError
from airflow_provider_nextsign.reporting.frames import flatten_case, iter_case_frames, to_frames
from airflow_provider_nextsign.reporting.progress import ReportProgress
from airflow_provider_nextsign.reporting.schema import CASES, DOCUMENTS, RECIPIENTS, schema_markdown

try:
    from ._reporting_cases import FakeClient, make_case
except ImportError:  # tests/ run as rootdir modules (no __init__.py)
    from _reporting_cases import FakeClient, make_case  # type: ignore[no-redef]


def test_flatten_pending_case_matches_schema_columns() -> None:
    rows = flatten_case(make_case(1))
    assert list(rows.case) == CASES.column_names
    assert all(list(r) == RECIPIENTS.column_names for r in rows.recipients)
    assert all(list(d) == DOCUMENTS.column_names for d in rows.documents)
    assert rows.case["state"] == "pending"
    assert (rows.case["recipient_count"], rows.case["signer_count"], rows.case["signed_count"]) == (3, 2, 0)
    assert rows.case["signed_at"] is None
    assert [d["signed"] for d in rows.documents] == [False, False]


def test_flatten_signed_case_takes_last_signature_and_matches_pdf_by_name() -> None:
    rows = flatten_case(make_case(2, signed=2))
    assert rows.case["state"] == "signed"
    assert rows.case["signed_at"] == "2024-02-12T09:00:00.000Z"
    assert rows.case["signed_document_count"] == 1
    contract, terms = rows.documents
    assert contract["signed"] and contract["file_url"].endswith(".pdf")
    assert not terms["signed"] and terms["file_url"] is None


def test_signed_pdf_left_over_after_matching_becomes_an_extra_document_row() -> None:
    body = make_case(3, signed=2)
    body["signedDocuments"] = [
        {"name": "bundle-signed.pdf", "file": "https://f/x.pdf"},
        {"name": "audit-trail.pdf", "file": "https://f/audit.pdf"},
    ]
    rows = flatten_case(body)
    assert [d["name"] for d in rows.documents] == ["contract.pdf", "terms.pdf", "audit-trail.pdf"]
    assert rows.documents[0]["file_url"] == "https://f/x.pdf"  # the one sign-obligated document
    assert rows.documents[2]["position"] == 2 and rows.documents[2]["sign_obligated"] is None
    assert rows.case["document_count"] == 2


def test_signed_pdfs_match_the_sign_obligated_documents_in_order() -> None:
    # Production (nextsign-api.md §0 P4): only sign-obligated documents get a signed copy, and its name
    # need not be the document's. Here 3 documents, 2 signed copies: no name matches, counts differ.
    body = make_case(11, signed=2)
    body["documents"] = [
        {"name": "offer.docx", "sign_obligated": True},
        {"name": "terms.pdf", "sign_obligated": False},
        {"name": "dpa.docx", "signObligated": "true"},
    ]
    body["signedDocuments"] = [
        {"name": "offer-signed.pdf", "file": "https://f/offer.pdf"},
        {"name": "dpa-signed.pdf", "file": "https://f/dpa.pdf"},
    ]
    rows = flatten_case(body)
    assert [(d["name"], d["signed"], d["file_url"]) for d in rows.documents] == [
        ("offer.docx", True, "https://f/offer.pdf"),
        ("terms.pdf", False, None),
        ("dpa.docx", True, "https://f/dpa.pdf"),
    ]
    assert rows.case["signed_document_count"] == 2


def test_signing_given_as_text_and_group_as_text_are_typed() -> None:
    body = make_case(12)
    body["recipients"] = [
        {"name": "A", "signing": "false", "group": "10", "signed": "pending"},
        {"name": "B", "signing": "true", "group": 2, "signed": "pending"},
        {"name": "C", "signing": "0", "group": "x", "signed": "pending"},
    ]
    recipients = flatten_case(body).recipients
    assert [r["signing"] for r in recipients] == [False, True, False]
    assert [r["recipient_group"] for r in recipients] == [10, 2, None]
    _, frame, _ = to_frames([body])
    assert str(frame["recipient_group"].dtype) == "Int64"
    assert list(frame.sort_values("recipient_group")["recipient_group"].dropna()) == [2, 10]
    assert flatten_case(body).case["signer_count"] == 1


def test_document_count_counts_the_documents_list_only() -> None:
    body = make_case(9, signed=2)
    body["documents"] = [{"name": "bare.pdf"}]  # no document_id, no sign_obligated
    body["signedDocuments"] = [
        {"name": "signed-1.pdf", "file": "https://f/1.pdf"},
        {"name": "signed-2.pdf", "file": "https://f/2.pdf"},
    ]
    rows = flatten_case(body)
    assert rows.case["document_count"] == 1 and rows.case["signed_document_count"] == 2
    assert [d["name"] for d in rows.documents] == ["bare.pdf", "signed-1.pdf", "signed-2.pdf"]
    assert rows.documents[0]["signed"] is False  # names differ and counts differ: no match


def test_single_document_and_single_pdf_match_by_position() -> None:
    body = make_case(10, signed=2)
    body["documents"] = [{"name": "contract.docx", "document_id": "d"}]
    body["signedDocuments"] = [{"name": "contract.pdf", "file": "https://f/c.pdf"}]
    (doc,) = flatten_case(body).documents
    assert doc["signed"] is True and doc["file_url"] == "https://f/c.pdf"


def test_in_progress_and_expired_states() -> None:
    assert flatten_case(make_case(4, signed=1)).case["state"] == "in_progress"
    expired = make_case(5)
    expired["settings"]["availability"]["isExpired"] = True
    row = flatten_case(expired).case
    assert row["state"] == "expired" and row["is_expired"] is True


def test_row_hash_changes_with_content_only() -> None:
    a, b = flatten_case(make_case(6)).case["row_hash"], flatten_case(make_case(6)).case["row_hash"]
    assert a == b
    assert flatten_case(make_case(6, signed=1)).case["row_hash"] != a


def test_body_without_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="'_id'"):
        flatten_case({"title": "list item without id"})


def test_frames_have_declared_dtypes_even_when_empty_or_all_missing() -> None:
    sparse = {"_id": "a" * 24}  # no recipients, documents, times
    for bodies in ([], [sparse], [make_case(7, signed=2), sparse]):
        cases, recipients, documents = to_frames(bodies)
        assert {k: str(v) for k, v in cases.dtypes.items()} == {
            k: str(pd.Series(dtype=v).dtype) for k, v in CASES.dtypes.items()
        }
        assert list(recipients.dtypes.astype(str)) == [
            str(pd.Series(dtype=v).dtype) for v in RECIPIENTS.dtypes.values()
        ]
        assert list(documents.dtypes.astype(str)) == [
            str(pd.Series(dtype=v).dtype) for v in DOCUMENTS.dtypes.values()
        ]


def test_timestamps_are_utc_microseconds_and_bad_ones_are_missing() -> None:
    body = make_case(8)
    body["createdAt"] = "2024-01-01T12:00:00+02:00"
    body["updatedAt"] = "yesterday"
    cases, _, _ = to_frames([body])
    assert cases.loc[0, "created_at"] == pd.Timestamp("2024-01-01T10:00:00", tz="UTC")
    assert str(cases["created_at"].dtype) == "datetime64[us, UTC]"
    assert pd.isna(cases.loc[0, "updated_at"])


def test_unparseable_timestamps_are_counted_and_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    bodies = [make_case(8), make_case(9, signed=2)]
    bodies[0]["updatedAt"] = "yesterday"
    bodies[1]["createdAt"] = 1700000000  # not ISO 8601 text either
    bodies[1]["recipients"][0]["signedDateAndTime"] = "12/02/2024 09:00"
    from airflow_provider_nextsign.reporting.frames import TimestampIssues, frames_of

    issues = TimestampIssues()
    to_frames(bodies, issues=issues)
    assert issues.count == 3
    assert set(issues.examples) == {"cases.updated_at", "cases.created_at", "recipients.signed_at"}
    with caplog.at_level(logging.WARNING, logger="airflow_provider_nextsign.reporting.frames"):
        frames = frames_of(bodies)
    assert frames.unparseable_timestamps == 3
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "3 timestamp(s)" in warning.getMessage() and "'yesterday'" in warning.getMessage()


def test_iter_case_frames_chunks_bounded_and_complete() -> None:
    client = FakeClient([make_case(i) for i in range(1, 12)])
    chunks = list(iter_case_frames(client, status="pending", folder="Default", chunk_size=5))
    assert [len(c.cases) for c in chunks] == [5, 5, 1]
    assert [len(ids) for ids in client.get_calls] == [5, 5, 1] and client.case_gets == []
    assert client.list_calls == [{"status": "pending", "folder": "Default", "page_size": 100}]
    assert sum(len(c.recipients) for c in chunks) == 11 * 3
    assert chunks[0].case_ids == [f"{i:024x}" for i in range(1, 6)]


def test_iter_case_frames_skip_predicate_avoids_detail_fetch() -> None:
    client = FakeClient([make_case(i) for i in range(1, 5)])
    skip_ids = {f"{1:024x}", f"{3:024x}"}
    (chunk,) = iter_case_frames(
        client, chunk_size=10, skip=lambda items: skip_ids & {i["_id"] for i in items}
    )
    assert client.get_calls == [[f"{2:024x}", f"{4:024x}"]]
    assert chunk.skipped == 2 and chunk.listed == 4
    assert set(chunk.listed_updated_at) == {f"{2:024x}", f"{4:024x}"}


def test_all_skipped_chunk_makes_no_detail_request() -> None:
    client = FakeClient([make_case(1)])
    (chunk,) = iter_case_frames(client, skip=lambda items: {i["_id"] for i in items})
    assert client.get_calls == [] and chunk.cases.empty and chunk.skipped == 1


def test_case_deleted_between_list_and_fetch_is_confirmed_by_case_get(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = f"{2:024x}"
    client = FakeClient([make_case(1), make_case(2)], vanish={gone})
    with caplog.at_level(logging.WARNING):
        (chunk,) = iter_case_frames(client)
    assert chunk.deleted == [gone] and chunk.case_ids == [f"{1:024x}"]
    assert client.case_gets == [gone]  # Get Multiple's silence alone proves nothing
    assert gone not in chunk.listed_updated_at
    assert any("1 listed case(s)" in r.getMessage() and gone in r.getMessage() for r in caplog.records)


def test_case_get_multiple_misses_but_case_get_finds_is_read_not_deleted() -> None:
    hidden = f"{2:024x}"
    client = FakeClient([make_case(1), make_case(2)], hidden={hidden})
    (chunk,) = iter_case_frames(client)
    assert chunk.deleted == [] and chunk.case_ids == [f"{1:024x}", hidden]


def test_a_failed_read_raises_and_is_never_taken_for_a_deletion() -> None:
    client = FakeClient([make_case(1), make_case(2)], hidden={f"{2:024x}"})

    def gateway_404(case_id):
        raise NextSignNotFoundError(
            "Not Found", status_code=404, body="<html>404</html>", operation="case_get"
        )

    client.get_case = gateway_404  # type: ignore[method-assign]
    with pytest.raises(NextSignNotFoundError):
        list(iter_case_frames(client))
    client.get_cases = lambda ids: (_ for _ in ()).throw(  # type: ignore[method-assign]
        NextSignServerError("Bad Gateway", status_code=502, operation="cases_get_multiple")
    )
    with pytest.raises(NextSignServerError):
        list(iter_case_frames(client))


def test_a_summary_never_updated_since_its_creation_is_still_read_in_full() -> None:
    # The waiting core knows such a case is pending without a Case Get; a report needs its rows.
    body = make_case(1, updated="2023-12-14T16:40:27.431Z")  # updatedAt == createdAt
    client = FakeClient([body], summaries=True)
    (chunk,) = iter_case_frames(client)
    assert chunk.case_ids == [body["_id"]] and len(chunk.recipients) == 3
    assert client.case_gets == [body["_id"]]


def test_summary_items_are_read_with_case_get_and_keep_their_true_state() -> None:
    bodies = [make_case(1, signed=2), make_case(2), make_case(3, signed=1)]
    client = FakeClient(bodies, summaries=True)
    (chunk,) = iter_case_frames(client)
    states = dict(zip(chunk.cases["case_id"], chunk.cases["state"], strict=True))
    assert states == {
        bodies[0]["_id"]: "signed",
        bodies[1]["_id"]: "pending",
        bodies[2]["_id"]: "in_progress",
    }
    assert len(chunk.recipients) == 9 and len(chunk.documents) == 6
    assert (chunk.multiple_requests, chunk.case_gets) == (1, 3)


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"status": "expired"}, "status"), ({"chunk_size": 0}, "chunk_size")]
)
def test_bad_arguments_fail_before_any_request(kwargs: dict, field: str) -> None:
    client = FakeClient([make_case(1)])
    with pytest.raises(ValueError, match=field):
        next(iter_case_frames(client, **kwargs))
    assert client.list_calls == [] and client.get_calls == []


def test_hook_is_accepted_through_get_conn() -> None:
    client = FakeClient([make_case(1)])

    class Hook:
        def get_conn(self):
            return client

    assert [c.case_ids for c in iter_case_frames(Hook())] == [[f"{1:024x}"]]


class FakeBudget:
    """A budget whose counters move like the real one's ``stats`` property."""

    requests_per_minute = 60

    def __init__(self, granted: int = 0) -> None:
        self.stats = {"granted": granted, "waited_seconds": 10.0, "penalties": 0}


def test_progress_estimates_requests_and_time_left_without_budget_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    client = FakeClient([make_case(i) for i in range(1, 251)])
    client.requests_per_minute = 60  # type: ignore[attr-defined]
    progress = ReportProgress.for_client(client, expected_cases=500, interval=10, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="airflow_provider_nextsign.reporting.progress"):
        for chunk in iter_case_frames(client, chunk_size=100, progress=progress):
            now[0] += 11
            assert len(chunk.cases) <= 100
    # 250 cases: 3 list pages (100, 100, 50) + 5 Get Multiple batches of 50 (full items: no Case Get).
    assert progress.pages == 3 and progress.requests_spent == 8 and progress.case_gets == 0
    # 250 cases still expected at 8/250 requests per case and 1 request per second.
    assert progress.seconds_left() == pytest.approx(8.0)
    assert "budget_wait_seconds" not in progress.summary()
    assert any("time left ~" in r.getMessage() for r in caplog.records)


def test_progress_states_the_case_gets_summaries_cost(caplog: pytest.LogCaptureFixture) -> None:
    client = FakeClient([make_case(i) for i in range(1, 121)], summaries=True)
    progress = ReportProgress.for_client(client, interval=1e9)
    with caplog.at_level(logging.INFO, logger="airflow_provider_nextsign.reporting.progress"):
        chunks = list(iter_case_frames(client, chunk_size=100, progress=progress))
        progress.maybe_log(force=True)
    assert [(c.multiple_requests, c.case_gets) for c in chunks] == [(2, 100), (1, 20)]
    # 2 list pages + 3 Get Multiple + 120 Case Get.
    assert progress.requests_spent == 125 and progress.summary()["case_gets"] == 120
    messages = [r.getMessage() for r in caplog.records]
    assert any("each case read costs one Case Get" in m and "100 case(s)" in m for m in messages)
    assert "3 Get Multiple + 120 Case Get" in caplog.records[-1].getMessage()


def test_progress_counts_the_detail_requests_the_read_made_never_an_estimate() -> None:
    progress = ReportProgress(interval=1e9)
    progress.chunk_done(fetched=0, skipped=0, missing=0, multiple_requests=0, case_gets=10, detail_ids=10)
    progress.chunk_done(fetched=60, skipped=0, missing=0, multiple_requests=2, case_gets=0, detail_ids=60)
    assert (progress.detail_requests, progress.case_gets) == (2, 10)
    assert progress.requests_estimated == 1 + 2 + 10  # one list page


def test_progress_prefers_the_budget_counters_since_start() -> None:
    client = FakeClient([make_case(1)])
    client.budget = FakeBudget(granted=1000)  # type: ignore[attr-defined]
    client.batch_size = 10  # type: ignore[attr-defined]
    progress = ReportProgress.for_client(client)
    assert progress.requests_per_minute == 60
    # 9 tokens granted, 2 of them slots given up and taken again: 7 requests.
    client.budget.stats.update(granted=1009, reslotted=2, waited_seconds=13.5)  # type: ignore[attr-defined]
    assert progress.requests_spent == 7
    assert progress.summary()["budget_wait_seconds"] == 3.5
    assert progress.seconds_left() is None  # no expected total, no estimate


def test_schema_markdown_lists_every_column_and_the_docs_carry_it() -> None:
    text = schema_markdown()
    for table in (CASES, RECIPIENTS, DOCUMENTS):
        assert all(f"`{c}`" in text for c in table.column_names)
    docs = Path(__file__).resolve().parents[2] / "docs" / "reporting.md"
    assert text in docs.read_text(), "docs/reporting.md is out of date: paste schema_markdown() into it"
