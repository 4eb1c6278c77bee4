"""What the provider assumes about the live NextSign API: the one list the probe checks and the docs show.

Each :class:`Assumption` states the answer the documentation leads us to expect (``assumed``), the other
answers we know of and already handle (``known_variants``, mostly the production evidence of
nextsign-api.md §0), and how the provider copes. ``docs/live-api.md`` documents exactly this list; a test
keeps the two in step.

A probe verdict compares what one account answered with one assumption:

- ``matches``: the answer is the assumed one;
- ``differs``: the answer is a known variant, which the provider handles;
- ``new``: the answer is neither; please report it (the provider may not cope);
- ``not checked``: the probe could not see it this time (the reason says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["ASSUMPTIONS", "Assumption", "Verdict", "assumption"]


class Verdict(str, Enum):  # noqa: UP042  (str() of a member must stay its value in messages)
    """How an answer compares with an assumption."""

    MATCHES = "matches"
    DIFFERS = "differs"
    NEW = "new"
    NOT_CHECKED = "not checked"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Assumption:
    """One thing the provider assumes about NextSign's answers.

    :param id: a stable short name (used in the probe's output and JSON).
    :param evidence: where it comes from: a §0 fact (``P1``...) or a section of the API notes.
    :param endpoint: the endpoint whose answer shows it.
    :param assumed: the answer we expect (as documented, or observed where the docs are silent).
    :param known_variants: other answers seen or documented, which the provider already handles.
    :param copes: how the provider copes with every known answer.
    :param checked: False for what the probe cannot see without a signer (reported as ``not checked``).
    """

    id: str
    evidence: str
    endpoint: str
    assumed: str
    known_variants: tuple[str, ...]
    copes: str
    checked: bool = True


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "forms-get",
        "§3.1",
        "Forms Get",
        "the raw form object (no envelope) with _id, companyId, folder, active, title, settings, tags, "
        "recipients, documents",
        ("some documented keys missing",),
        "get_form returns the object as sent; only _id is required",
    ),
    Assumption(
        "forms-tags",
        "§3.2",
        "Forms Tags",
        "a bare JSON array of {name, tag, value, type, _id}",
        ("items without value or _id",),
        "get_form_tags returns the list; Forms Submit needs only tag and type",
    ),
    Assumption(
        "auth-error",
        "§1.2, §2.3",
        "Case List (wrong key)",
        'HTTP 401 with {"errors": [{"code": 401, "message", "description"}]}',
        ("the same errors[] body with HTTP 200 or 403",),
        "classify reads errors[0].code, whatever the HTTP status, and raises NextSignAuthError",
    ),
    Assumption(
        "company-error",
        "§1.2",
        "Case List (wrong company)",
        'HTTP 400 with the flat body {"code": 400, "message": "Bad Request", ...}',
        ('the errors[] body {"errors": [{"code": 400, ...}]} (as Forms Tags documents), or HTTP 200',),
        "classify reads a flat code or errors[0].code and raises NextSignNotFoundError or "
        "NextSignValidationError; test_connection names the company ID",
    ),
    Assumption(
        "case-not-found",
        "P2",
        "Case Get (unknown id)",
        'HTTP 200 with {"message": "Case not found"}',
        ("the same body with HTTP 404",),
        "classify raises NextSignNotFoundError; confirms_absence accepts exactly this body with HTTP "
        "200 or 404, and only it turns a missing case into 'deleted'",
    ),
    Assumption(
        "upload-answer",
        "§3.9",
        "Document Upload",
        "the stored-file URL in url",
        ("the URL in file or location",),
        "shapes.stored_url_in reads url, file or location",
    ),
    Assumption(
        "presign-answer",
        "P5",
        "Document Retrieve",
        "{key, signedUrl, type, cached}",
        ("signedUrl with some of key, type, cached missing",),
        "get_presigned_url reads only signedUrl",
    ),
    Assumption(
        "download-without-key",
        "P5",
        "pre-signed download",
        "the signedUrl serves the file to a GET without the API key",
        (),
        "stream_file sends no Authorization header and spends no request budget",
    ),
    Assumption(
        "convert-path",
        "P6",
        "Document Convert",
        "served at POST /api/v2/document/convert (the documented path)",
        ("served only at /api/v1/document/convert, where production calls it",),
        "convert_api_version=auto tries v1, falls back to v2 on HTTP 404 and remembers per host; "
        "api_profile.convert_api_version chooses the first path to try",
    ),
    Assumption(
        "convert-answer",
        "P6",
        "Document Convert",
        '{"status": {"code": 200, "message"}, "documents": [{"file", "name"}]}',
        (),
        "classify checks status.code and a non-empty documents list",
    ),
    Assumption(
        "create-envelope",
        "P1",
        "Case Create",
        'the new case in {"status": "OK", "message", "contract": {...}}',
        ('{"data": {_id, nextSignKey, title, referenceId}} with no status, as production answers',),
        "shapes.created_case_in reads contract or data; the id is _id",
    ),
    Assumption(
        "visibility",
        "P8",
        "Case Get (new case)",
        "a new case is readable at once",
        (
            "Case Get misses a new case for some seconds, answering NextSign's not-found body, as "
            "production saw",
        ),
        "the sensor (poking or deferred) counts a case it cannot see as pending for not_found_grace "
        "(default 5 minutes); an unanswered create is looked up by referenceId for reconcile_window "
        "(default 3 x the timeout) before anything is created again; get_full_cases leaves it out",
    ),
    Assumption(
        "case-get-found",
        "P2",
        "Case Get",
        '{"status": "case_found", "case": {...}} with the full case (recipients)',
        ("the case in data.case, or in data",),
        "shapes.case_in reads case, data.case or data; the state needs recipients",
    ),
    Assumption(
        "recipient-state",
        "P3",
        "Case Get",
        "a new case: every recipient's signed is the string 'pending' and case_status is null or absent",
        ("case_status set to a word",),
        "api/cases.case_state derives the state from recipients[].signed and isExpired; "
        "case_status is only a fallback",
    ),
    Assumption(
        "timestamps",
        "P11",
        "Case Get",
        "createdAt and updatedAt in ISO 8601 UTC with milliseconds and Z",
        ("another ISO 8601 form",),
        "lookup.created_at reads any ISO 8601; updatedAt is compared as text only",
    ),
    Assumption(
        "untouched-case",
        "§3.5 (our reading)",
        "Case Get (new case)",
        "a case nobody has acted on yet has updatedAt equal to createdAt",
        ("updatedAt later than createdAt from the start",),
        "api/watch counts a summary whose updatedAt equals its createdAt as pending without a Case Get; "
        "otherwise it reads the case (correct either way, a request more per new case)",
    ),
    Assumption(
        "list-envelope",
        "P9",
        "Case List",
        '{"status": "company_found", "cases": [...]}',
        ('{"data": {"cases": [...]}}, as one production client reads it',),
        "shapes.cases_in reads cases or data.cases",
    ),
    Assumption(
        "list-items",
        "P10",
        "Case List",
        "summaries: _id, title, folder, createdAt, updatedAt",
        (
            "summaries that also carry nextSignKey and referenceId, as production lists do",
            "full cases (with recipients)",
        ),
        "items are never assumed full: the state comes from Case Get; the referenceId lookup reads "
        "referenceId from the item when it is there, else from Case Get",
    ),
    Assumption(
        "list-paging",
        "P9, §2.4",
        "Case List",
        "limit is honoured and index is a zero-based page number",
        ("limit capped below what was asked",),
        "api/paging.CaseListWalk goes on at the page size served, and raises on a repeated page or "
        "more items than limit",
    ),
    Assumption(
        "list-order",
        "(not documented)",
        "Case List",
        "no order is documented: any order works",
        ("oldest first", "newest first"),
        "the referenceId lookup checks each page's createdAt order and then skips pages older than "
        "the create; without an order it reads every page",
    ),
    Assumption(
        "multiple-envelope",
        "§3.6",
        "Case Get Multiple",
        '{"status": "cases_found", "cases": [...]}',
        ('{"data": {"cases": [...]}}',),
        "shapes.cases_in reads cases or data.cases",
    ),
    Assumption(
        "multiple-items",
        "P10",
        "Case Get Multiple",
        "summaries: _id, title, createdAt, updatedAt",
        ("full cases (with recipients)",),
        "api/watch uses a full item as it is and reads a summary with Case Get when it is new or its "
        "updatedAt moved; api_profile.get_multiple_items=summary lets get_full_cases and the report skip "
        "Get Multiple",
    ),
    Assumption(
        "multiple-partial",
        "§3.6",
        "Case Get Multiple",
        "one known and one unknown id: HTTP 200 with the known case only",
        (),
        "get_cases returns the items found; only HTTP 404 'Cases not found' skips a batch",
    ),
    Assumption(
        "delete-answer",
        "§3.8",
        "Case Delete",
        '{"status": "removed", "return": {"acknowledged", "deletedCount"}}',
        ("status or return alone",),
        "delete_case returns the body; a not-found answer raises NextSignNotFoundError",
    ),
    Assumption(
        "case-after-delete",
        "P2",
        "Case Get (deleted case)",
        "NextSign's not-found body, as for an unknown id",
        ("the same body with HTTP 404",),
        "confirms_absence: the sensor reports the case as deleted",
    ),
    Assumption(
        "signed-copies",
        "P4",
        "Case Get (signed case)",
        "signedDocuments[] holds {name, file} for sign-obligated documents only",
        ("a signed copy of every document",),
        "signed_documents returns what the case lists; nothing expects one file per document",
        checked=False,
    ),
    Assumption(
        "cpr-optional",
        "P7",
        "Case Create",
        "a recipient with needsCpr: true and no cpr is accepted (the signer enters it in MitID)",
        ("refused: cpr is required with needsCpr, as the docs say",),
        "payloads.check_recipients checks a cpr only when one is given; an account that requires it "
        "refuses the create with a validation error naming the recipient",
    ),
)

_BY_ID = {a.id: a for a in ASSUMPTIONS}


def assumption(assumption_id: str) -> Assumption:
    """The assumption named ``assumption_id`` (KeyError for an unknown name)."""
    return _BY_ID[assumption_id]
