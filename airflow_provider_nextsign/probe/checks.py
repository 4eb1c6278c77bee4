"""The probe's checks, in the order they run: reads and deliberate errors first, then one case.

Each check calls one endpoint through the provider's client (:meth:`ProbeContext.call`) and compares the
answer with the assumptions of :mod:`.assumptions` (:meth:`ProbeContext.judge`). Verdict details are
written from statuses, key names, counts and times only, never from values in an answer.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_nextsign.api import shapes
from airflow_provider_nextsign.api.classify import confirms_absence, int_code
from airflow_provider_nextsign.api.errors import (
    NextSignAmbiguousWriteError,
    NextSignAuthError,
    NextSignNotFoundError,
    NextSignUnexpectedResponseError,
    NextSignValidationError,
)
from airflow_provider_nextsign.api.lookup import created_at
from airflow_provider_nextsign.probe.assumptions import Verdict
from airflow_provider_nextsign.probe.context import Call, ProbeContext
from airflow_provider_nextsign.probe.document import PDF_NAME, case_fields, new_reference, one_page_pdf
from airflow_provider_nextsign.probe.ledger import Entry

__all__ = [
    "CHECKS",
    "VISIBILITY_SCHEDULE",
    "item_shape",
    "judge_failed",
    "judge_not_found",
    "list_items_label",
    "multiple_items_label",
]

#: Seconds after the create's answer at which Case Get asks for the new case (until it is readable).
VISIBILITY_SCHEDULE = (0.0, 1.0, 2.0, 4.0, 8.0)
FORM_KEYS = frozenset(
    {"_id", "companyId", "folder", "active", "title", "settings", "tags", "recipients", "documents"}
)
TAG_KEYS = frozenset({"name", "tag", "value", "type", "_id"})
LIST_SUMMARY = frozenset({"_id", "title", "folder", "createdAt", "updatedAt"})
LIST_EXTRA = frozenset({"nextSignKey", "referenceId"})
MULTIPLE_SUMMARY = frozenset({"_id", "title", "createdAt", "updatedAt"})
PRESIGN_KEYS = frozenset({"key", "signedUrl", "type", "cached"})
_MILLIS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# Shapes


def item_shape(
    items: Sequence[Mapping[str, Any]], summary: frozenset[str], extra: frozenset[str] = frozenset()
) -> tuple[str, Verdict, str]:
    """(label, verdict, detail) for case items: documented summaries, known variants, or new keys."""
    if not items:
        return "none", Verdict.NOT_CHECKED, "no items to look at"
    full = [shapes.is_full_case(item) for item in items]
    if all(full):
        return "full", Verdict.DIFFERS, "full cases (with recipients)"
    if any(full):
        return "mixed", Verdict.NEW, "some items are full cases, some are not"
    union = set().union(*(set(map(str, item)) for item in items))
    common = set.intersection(*(set(map(str, item)) for item in items))
    missing, added = summary - common, union - summary
    if "_id" in missing:
        return "keys: " + ",".join(sorted(union)), Verdict.NEW, "items without _id"
    if not missing and not added:
        return "summary", Verdict.MATCHES, "summaries with the documented keys"
    if not missing and added <= extra:
        return (
            "summary+" + ",".join(sorted(added)),
            Verdict.DIFFERS,
            "summaries that also carry " + ", ".join(sorted(added)),
        )
    parts = []
    if missing:
        parts.append("without " + ", ".join(sorted(missing)))
    if added - extra:
        parts.append("with " + ", ".join(sorted(added)))
    return "keys: " + ",".join(sorted(union)), Verdict.NEW, "summaries " + " and ".join(parts)


def _label(summary: frozenset[str], extra: frozenset[str]) -> Callable[[Any], str | None]:
    def label(body: Any) -> str | None:
        items = shapes.cases_in(body)
        return None if items is None else item_shape(items, summary, extra)[0]

    return label


#: Row labels of Case List and Get Multiple items.
list_items_label = _label(LIST_SUMMARY, LIST_EXTRA)
multiple_items_label = _label(MULTIPLE_SUMMARY, frozenset())


def _errors_code(body: Any) -> int | None:
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return int_code(errors[0].get("code"))
    return None


def _seen(call: Call) -> str:
    """``HTTP 404 (NextSignNotFoundError)``: what a failed call got, in words without values."""
    status = "no answer" if call.status is None else f"HTTP {call.status}"
    return f"{status} ({type(call.error).__name__})" if call.error is not None else status


#: Why an assumption is not checked when the probe's request cap kept its request from being sent.
CAP_REACHED = "the probe's request cap was reached"


def judged_capped(ctx: ProbeContext, assumption_id: str, call: Call) -> bool:
    """Judge ``assumption_id`` 'not checked' when the cap kept ``call`` from being sent; say whether it
    did."""
    if call.not_sent:
        ctx.judge(assumption_id, Verdict.NOT_CHECKED, CAP_REACHED)
    return call.not_sent


def judge_failed(ctx: ProbeContext, assumption_id: str, call: Call, what: str) -> None:
    """Judge an assumption whose call failed: a cap is 'not checked', anything else is 'new'."""
    if judged_capped(ctx, assumption_id, call):
        return
    if isinstance(call.error, NextSignUnexpectedResponseError):
        ctx.judge(assumption_id, Verdict.NEW, f"{what}: an answer of unknown shape ({_seen(call)})", call)
    else:
        ctx.judge(assumption_id, Verdict.NEW, f"{what} failed: {_seen(call)}", call)


# Forms


def check_forms(ctx: ProbeContext) -> None:
    """Forms Get and Forms Tags of ``--form-id``."""
    form_id = ctx.form_id
    if not form_id:
        ctx.skip("give --form-id to check Forms Get and Forms Tags", "forms-get", "forms-tags")
        return
    call = ctx.call("forms_get", "Forms Get", lambda: ctx.client.get_form(form_id))
    if call.ok and isinstance(call.body, Mapping):
        missing = FORM_KEYS - set(call.body)
        if not missing:
            ctx.judge("forms-get", Verdict.MATCHES, "the raw form object with every documented key", call)
        else:
            detail = "the raw form object without " + ", ".join(sorted(missing))
            ctx.judge("forms-get", Verdict.DIFFERS, detail, call)
    else:
        _judge_form_failed(ctx, "forms-get", call, "Forms Get")
    call = ctx.call("forms_tags", "Forms Tags", lambda: ctx.client.get_form_tags(form_id))
    if call.ok and isinstance(call.body, list):
        items = [item for item in call.body if isinstance(item, Mapping)]
        absent: set[str] = set().union(*(TAG_KEYS - set(item) for item in items))
        if len(items) != len(call.body) or any(not {"tag", "type"} <= set(item) for item in items):
            ctx.judge("forms-tags", Verdict.NEW, "an array whose items lack tag or type", call)
        elif absent:
            detail = "a bare array; items without " + ", ".join(sorted(absent))
            ctx.judge("forms-tags", Verdict.DIFFERS, detail, call)
        else:
            detail = f"a bare array of {len(items)} tag(s) with the documented keys"
            ctx.judge("forms-tags", Verdict.MATCHES, detail, call)
    else:
        _judge_form_failed(ctx, "forms-tags", call, "Forms Tags")


def _judge_form_failed(ctx: ProbeContext, assumption_id: str, call: Call, what: str) -> None:
    """An unknown form is the user's ``--form-id``, not NextSign's behaviour: 'not checked'."""
    if isinstance(call.error, NextSignNotFoundError):
        detail = f"the form was not found ({_seen(call)}): check --form-id"
        ctx.judge(assumption_id, Verdict.NOT_CHECKED, detail)
    else:
        judge_failed(ctx, assumption_id, call, what)


# Deliberate errors


def check_wrong_key(ctx: ProbeContext) -> None:
    """A Case List with a wrong API key: the documented 401."""
    call = ctx.call("wrong_key", "Case List", lambda: ctx.clients.wrong_key.list_cases_page(page_size=1))
    code = _errors_code(call.body)
    if judged_capped(ctx, "auth-error", call):
        return
    if call.ok:
        ctx.judge("auth-error", Verdict.NEW, f"a wrong API key was accepted (HTTP {call.status})", call)
    elif isinstance(call.error, NextSignAuthError) and code == 401 and call.status == 401:
        ctx.judge("auth-error", Verdict.MATCHES, "HTTP 401 with the documented errors[] body", call)
    elif isinstance(call.error, NextSignAuthError) and code == 401 and call.status in (200, 403):
        ctx.judge("auth-error", Verdict.DIFFERS, f"HTTP {call.status} with the errors[] body", call)
    else:
        ctx.judge("auth-error", Verdict.NEW, f"{_seen(call)}, body keys {_keys(ctx, call)}", call)


def check_wrong_company(ctx: ProbeContext) -> None:
    """A Case List for a company that does not exist: the documented flat 400 body."""
    call = ctx.call(
        "wrong_company", "Case List", lambda: ctx.clients.wrong_company.list_cases_page(page_size=1)
    )
    body = call.body if isinstance(call.body, Mapping) else {}
    flat = int_code(body.get("code")) == 400 and "errors" not in body
    listed = _errors_code(body) == 400
    if judged_capped(ctx, "company-error", call):
        return
    if call.ok:
        detail = f"a company that does not exist was answered as a success (HTTP {call.status})"
        ctx.judge("company-error", Verdict.NEW, detail, call)
    elif flat and call.status == 400:
        ctx.judge("company-error", Verdict.MATCHES, "HTTP 400 with the flat {code, message} body", call)
    elif (flat or listed) and call.status in (200, 400):
        kind = "flat {code, message}" if flat else "errors[]"
        ctx.judge("company-error", Verdict.DIFFERS, f"HTTP {call.status} with the {kind} body", call)
    else:
        ctx.judge("company-error", Verdict.NEW, f"{_seen(call)}, body keys {_keys(ctx, call)}", call)


def check_unknown_case(ctx: ProbeContext) -> None:
    """Case Get of an id that does not exist: NextSign's documented not-found answer."""
    unknown = secrets.token_hex(12)
    call = ctx.call("unknown_case", "Case Get", lambda: ctx.client.get_case(unknown))
    judge_not_found(ctx, "case-not-found", call, "an id that does not exist")


def judge_not_found(ctx: ProbeContext, assumption_id: str, call: Call, what: str) -> None:
    """Judge an answer that should be NextSign's documented not-found (an unknown or a deleted case)."""
    if judged_capped(ctx, assumption_id, call):
        return
    if call.ok:
        ctx.judge(assumption_id, Verdict.NEW, f"{what} was answered as a case (HTTP {call.status})", call)
    elif call.error is not None and confirms_absence(call.error) and call.status == 200:
        ctx.judge(assumption_id, Verdict.MATCHES, "HTTP 200 with NextSign's not-found body", call)
    elif call.error is not None and confirms_absence(call.error):
        ctx.judge(assumption_id, Verdict.DIFFERS, f"HTTP {call.status} with NextSign's not-found body", call)
    else:
        ctx.judge(assumption_id, Verdict.NEW, f"{_seen(call)}, body keys {_keys(ctx, call)}", call)


def _keys(ctx: ProbeContext, call: Call) -> str:
    return "{" + ", ".join(ctx.redactor.key_names(call.body)) + "}"


# Files


def check_files(ctx: ProbeContext) -> None:
    """Upload the PDF, ask for a pre-signed URL, download it without the key."""
    file_checks = (
        "upload-answer",
        "presign-answer",
        "download-without-key",
        "convert-path",
        "convert-answer",
    )
    if not ctx.files_checked:
        ctx.skip(ctx.files_reason, *file_checks)
        return
    upload = ctx.call(
        "upload",
        "Document Upload",
        lambda: ctx.client.upload_document(one_page_pdf(), name=PDF_NAME, mime_type="application/pdf"),
    )
    if not upload.ok:
        judge_failed(ctx, "upload-answer", upload, "Document Upload")
        ctx.skip("the upload failed, so there is no stored file", *file_checks)
        return
    ctx.stored_url = str(upload.value)
    keys = set(upload.body) if isinstance(upload.body, Mapping) else set()
    if "url" in keys:
        ctx.judge("upload-answer", Verdict.MATCHES, "the stored-file URL in url", upload)
    else:
        where = "file" if "file" in keys else "location"
        ctx.judge("upload-answer", Verdict.DIFFERS, f"the stored-file URL in {where}", upload)
    presign = ctx.call(
        "presign", "Document Retrieve", lambda: ctx.client.get_presigned_url(ctx.stored_url or "")
    )
    if not presign.ok:
        judge_failed(ctx, "presign-answer", presign, "Document Retrieve")
        ctx.skip("there is no pre-signed URL", "download-without-key")
        return
    missing = PRESIGN_KEYS - set(presign.body)
    if missing:
        detail = "signedUrl, without " + ", ".join(sorted(missing))
        ctx.judge("presign-answer", Verdict.DIFFERS, detail, presign)
    else:
        ctx.judge("presign-answer", Verdict.MATCHES, "key, signedUrl, type and cached", presign)
    signed = str(presign.value)
    download = ctx.call("download", "pre-signed download", lambda: b"".join(ctx.client.stream_file(signed)))
    exchange = download.exchange
    if (
        download.ok
        and exchange is not None
        and not exchange.authorized
        and download.value.startswith(b"%PDF")
    ):
        detail = f"HTTP {download.status}: the PDF, fetched without the API key"
        ctx.judge("download-without-key", Verdict.MATCHES, detail, download)
    elif download.ok:
        ctx.judge("download-without-key", Verdict.NEW, "the download is not the uploaded PDF", download)
    else:
        judge_failed(ctx, "download-without-key", download, "the download")


def check_convert(ctx: ProbeContext) -> None:
    """Document Convert of the uploaded PDF at /api/v1 and at /api/v2."""
    if ctx.stored_url is None:
        return  # check_files said why
    documents = [{"file": ctx.stored_url, "name": PDF_NAME}]
    calls: dict[str, Call] = {}
    for version, client in ctx.clients.convert.items():
        calls[version] = ctx.call(
            f"convert_{version}",
            f"Document Convert ({version})",
            lambda client=client: client.convert_documents(documents),  # type: ignore[misc]
        )
    answered = [version for version, call in calls.items() if call.ok]
    absent = [v for v, c in calls.items() if isinstance(c.error, NextSignNotFoundError) and c.status == 404]
    every = tuple(calls.values())
    if all(call.not_sent for call in every):
        ctx.skip(CAP_REACHED, "convert-path", "convert-answer")
        return
    if "v2" in answered:
        v1 = "v1 answers too" if "v1" in answered else f"v1: {_seen(calls['v1'])}"
        ctx.judge("convert-path", Verdict.MATCHES, f"v2 answers; {v1}", *every)
        ctx.report.api_profile["convert_api_version"] = "v2"
    elif "v1" in answered and "v2" in absent:
        ctx.judge("convert-path", Verdict.DIFFERS, "only v1 answers; v2 answers HTTP 404", *every)
        ctx.report.api_profile["convert_api_version"] = "v1"
    else:
        seen = "; ".join(f"{version}: {_seen(call)}" for version, call in calls.items())
        ctx.judge("convert-path", Verdict.NEW, seen, *every)
    good = [calls[version] for version in answered]
    if not good:
        ctx.skip("no Convert path answered", "convert-answer")
    elif all(_convert_shape(call.body) for call in good):
        ctx.judge("convert-answer", Verdict.MATCHES, "status.code 200 and documents[{file, name}]", *good)
    else:
        ctx.judge("convert-answer", Verdict.NEW, "documents items without file or name", *good)


def _convert_shape(body: Any) -> bool:
    if not isinstance(body, Mapping) or not isinstance(body.get("status"), Mapping):
        return False
    documents = body.get("documents")
    return (
        int_code(body["status"].get("code")) == 200
        and isinstance(documents, list)
        and all(isinstance(d, Mapping) and {"file", "name"} <= set(d) for d in documents)
    )


# The probe case


def check_create(ctx: ProbeContext) -> None:
    """Case Create with the one-page PDF, its recipient sent with needsCpr and no cpr (§0 P7)."""
    call, entry = _create(ctx, needs_cpr=True)
    if isinstance(call.error, NextSignValidationError) and call.status in (200, 400):
        detail = f"refused ({_seen(call)}); created again without needsCpr"
        ctx.judge("cpr-optional", Verdict.DIFFERS, detail, call)
        _forget(ctx, entry)  # refused for good: nothing was created
        call, entry = _create(ctx, needs_cpr=False)
        if not call.ok:
            ctx.judge("cpr-optional", Verdict.NOT_CHECKED, "the create was refused with and without needsCpr")
    elif call.ok:
        ctx.judge("cpr-optional", Verdict.MATCHES, "needsCpr without cpr was accepted", call)
    case_checks = ("visibility", "case-get-found", "recipient-state", "timestamps", "untouched-case")
    if not call.ok:
        if isinstance(call.error, NextSignAmbiguousWriteError):
            detail = "no answer: the case may exist; the clean-up looks it up by its referenceId"
            ctx.judge("create-envelope", Verdict.NOT_CHECKED, detail, call)
        else:
            _forget(ctx, entry)  # refused for good (or never sent): nothing was created
            judge_failed(ctx, "create-envelope", call, "Case Create")
        ctx.skip("the probe could not create its case", *case_checks)
        return
    created = call.value if isinstance(call.value, Mapping) else {}
    body = call.body if isinstance(call.body, Mapping) else {}
    case_id = created.get("_id")
    if not isinstance(case_id, str) or not case_id:
        ctx.judge("create-envelope", Verdict.NEW, "the new case has no _id", call)
        ctx.skip("the create's answer named no _id", *case_checks)
        return
    entry.case_id = case_id
    ctx.ledger.save()
    ctx.created_clock = ctx.clock()
    if isinstance(body.get("contract"), Mapping):
        ctx.judge(
            "create-envelope", Verdict.MATCHES, "the new case in contract, with status and message", call
        )
    elif isinstance(body.get("data"), Mapping) and body["data"].get("_id"):
        detail = "the new case in data (" + ", ".join(sorted(map(ctx.redactor.key_name, body["data"]))) + ")"
        if "status" not in body:
            detail += ", no status"
        ctx.judge("create-envelope", Verdict.DIFFERS, detail, call)
    else:
        ctx.judge("create-envelope", Verdict.NEW, f"the new case in {_keys(ctx, call)}", call)


def _forget(ctx: ProbeContext, entry: Entry) -> None:
    ctx.ledger.discard(entry)
    if entry in ctx.probe_cases:
        ctx.probe_cases.remove(entry)


def _create(ctx: ProbeContext, *, needs_cpr: bool) -> tuple[Call, Entry]:
    reference = new_reference()
    entry = ctx.ledger.add(Entry(reference, time.time()))  # before the request: SIGKILL may follow
    ctx.probe_cases.append(entry)
    fields = case_fields(reference, needs_cpr=needs_cpr)
    check = "case_create" if needs_cpr else "case_create_no_cpr"
    return ctx.call(check, "Case Create", lambda: ctx.client.create_case(**fields)), entry


def check_visibility(ctx: ProbeContext) -> None:
    """Case Get of the new case at once and 1, 2, 4 and 8 s after the create, until it is readable."""
    entry = ctx.case
    if entry is None or entry.case_id is None:
        return  # check_create said why
    case_id = entry.case_id
    started = ctx.created_clock if ctx.created_clock is not None else ctx.clock()
    calls: list[Call] = []
    found: Call | None = None
    for at in ctx.at_times(VISIBILITY_SCHEDULE, started):
        call = ctx.call(f"case_get+{at:g}s", "Case Get", lambda: ctx.client.get_case(case_id))
        if call.not_sent:
            break
        calls.append(call)
        if call.ok and call.value:
            found = call
            break
    misses = [c for c in calls if c is not found]
    strange = [c for c in misses if c.error is None or not confirms_absence(c.error)]
    statuses = "/".join(sorted({str(c.status) for c in misses}))
    if found is not None:
        entry.seen = True
        ctx.ledger.save()
    if strange:
        seen = "; ".join(_seen(c) for c in strange)
        ctx.judge("visibility", Verdict.NEW, f"Case Get of the new case failed: {seen}", *calls)
    elif found is not None and not misses:
        ctx.judge("visibility", Verdict.MATCHES, "readable at once", *calls)
    elif found is not None:
        last_miss = VISIBILITY_SCHEDULE[len(misses) - 1]
        at = VISIBILITY_SCHEDULE[len(misses)]
        detail = (
            f"missing for at least {last_miss:g} s (HTTP {statuses} with NextSign's not-found body), "
            f"readable at {at:g} s"
        )
        ctx.judge("visibility", Verdict.DIFFERS, detail, *calls)
    elif calls:
        detail = (
            f"still missing {VISIBILITY_SCHEDULE[len(calls) - 1]:g} s after the create (HTTP {statuses} with "
            "NextSign's not-found body): give sensors a not_found_grace well above that"
        )
        ctx.judge("visibility", Verdict.DIFFERS, detail, *calls)
    if found is None:
        reason = "the new case never became readable"
        ctx.skip(reason, "case-get-found", "recipient-state", "timestamps", "untouched-case")
        return
    _judge_case_get(ctx, found)


def _judge_case_get(ctx: ProbeContext, call: Call) -> None:
    body = call.body if isinstance(call.body, Mapping) else {}
    case = call.value
    full = shapes.is_full_case(case)
    if body.get("status") == "case_found" and isinstance(body.get("case"), Mapping) and full:
        ctx.judge("case-get-found", Verdict.MATCHES, "case_found with the full case", call)
    elif "case" not in body and isinstance(body.get("data"), Mapping) and full:
        ctx.judge("case-get-found", Verdict.DIFFERS, "the full case in data", call)
    elif not full:
        ctx.judge("case-get-found", Verdict.NEW, "the case has no recipients list", call)
    else:
        ctx.judge("case-get-found", Verdict.NEW, f"the case in {_keys(ctx, call)}", call)
    recipients = [r for r in case.get("recipients") or [] if isinstance(r, Mapping)]
    signed = [r.get("signed") for r in recipients]
    status = case.get("case_status")
    if recipients and all(value == "pending" for value in signed):
        if status is None:
            detail = "recipients' signed is 'pending'; case_status is null or absent"
            ctx.judge("recipient-state", Verdict.MATCHES, detail, call)
        else:
            detail = f"recipients' signed is 'pending'; case_status is a {type(status).__name__}"
            verdict = Verdict.DIFFERS if isinstance(status, str) else Verdict.NEW
            ctx.judge("recipient-state", verdict, detail, call)
    else:
        kinds = ", ".join(sorted({type(value).__name__ for value in signed})) or "no recipients"
        ctx.judge("recipient-state", Verdict.NEW, f"recipients' signed is not 'pending' ({kinds})", call)
    ctx.judge("timestamps", *_timestamps(case), call)
    if case.get("createdAt") is not None and case.get("updatedAt") == case.get("createdAt"):
        ctx.judge("untouched-case", Verdict.MATCHES, "updatedAt equals createdAt", call)
    elif case.get("createdAt") is not None and case.get("updatedAt") is not None:
        ctx.judge("untouched-case", Verdict.DIFFERS, "updatedAt differs from createdAt", call)
    else:
        ctx.judge("untouched-case", Verdict.NEW, "createdAt or updatedAt missing", call)


def _timestamps(case: Mapping[str, Any]) -> tuple[Verdict, str]:
    values = [case.get(key) for key in ("createdAt", "updatedAt")]
    if all(isinstance(v, str) and _MILLIS_Z.match(v) for v in values):
        return Verdict.MATCHES, "createdAt and updatedAt with milliseconds and Z"
    if all(isinstance(v, str) and created_at({"createdAt": v}) is not None for v in values):
        return Verdict.DIFFERS, "createdAt and updatedAt in another ISO 8601 form"
    return Verdict.NEW, "createdAt or updatedAt missing or not ISO 8601"


# Case List


def check_list(ctx: ProbeContext) -> None:
    """Case List with page sizes 1 and 2, pages 0 and 1: envelope, items, paging and order."""
    list_checks = ("list-envelope", "list-items", "list-paging", "list-order")
    pages: dict[tuple[int, int], list[dict[str, Any]]] = {}
    calls: list[Call] = []
    for limit, index in ((1, 0), (1, 1), (2, 0), (2, 1)):
        call = ctx.call(
            f"list_limit{limit}_index{index}",
            "Case List",
            lambda limit=limit, index=index: ctx.client.list_cases_page(page_size=limit, index=index),  # type: ignore[misc]
            items=list_items_label,
        )
        calls.append(call)
        if call.ok:
            pages[(limit, index)] = list(call.value)
    good = [call for call in calls if call.ok]
    if not good:
        if all(call.not_sent for call in calls):
            ctx.skip(CAP_REACHED, *list_checks)
        else:
            bad = next(call for call in calls if not call.not_sent)
            judge_failed(ctx, "list-envelope", bad, "Case List")
            ctx.skip("Case List failed", *list_checks)
        return
    _judge_envelope(ctx, "list-envelope", good, "company_found")
    items = [item for page in pages.values() for item in page]
    _, verdict, detail = item_shape(items, LIST_SUMMARY, LIST_EXTRA)
    ctx.judge("list-items", verdict, detail, *good)
    if len(pages) < 4:
        ctx.skip("a Case List page failed", "list-paging", "list-order")
        return
    _judge_paging(ctx, pages, calls)
    _judge_order(ctx, pages[(2, 0)] + pages[(2, 1)], calls)


def _judge_envelope(ctx: ProbeContext, assumption_id: str, calls: list[Call], marker: str) -> None:
    bodies = [call.body if isinstance(call.body, Mapping) else {} for call in calls]
    if all(isinstance(b.get("cases"), list) and b.get("status") == marker for b in bodies):
        ctx.judge(assumption_id, Verdict.MATCHES, f"{marker} with cases", *calls)
    elif all(isinstance((b.get("data") or {}).get("cases"), list) for b in bodies):
        ctx.judge(assumption_id, Verdict.DIFFERS, "the cases in data.cases", *calls)
    else:
        keys = sorted({key for call in calls for key in ctx.redactor.key_names(call.body)})
        ctx.judge(assumption_id, Verdict.NEW, "the cases in {" + ", ".join(keys) + "}", *calls)


def _ids(page: Iterable[Mapping[str, Any]]) -> list[Any]:
    return [item.get("_id") for item in page]


def _judge_paging(
    ctx: ProbeContext, pages: dict[tuple[int, int], list[dict[str, Any]]], calls: list[Call]
) -> None:
    first, second, pair, next_pair = (pages[k] for k in ((1, 0), (1, 1), (2, 0), (2, 1)))
    if len(first) > 1 or len(second) > 1 or len(pair) > 2 or len(next_pair) > 2:
        ctx.judge("list-paging", Verdict.NEW, "a page held more cases than limit", *calls)
    elif not second:
        ctx.judge("list-paging", Verdict.NOT_CHECKED, "the account lists fewer than 2 cases", *calls)
    elif len(pair) == 1 and _ids(pair) == _ids(first):
        ctx.judge("list-paging", Verdict.DIFFERS, "limit=2 served 1 case per page (a capped limit)", *calls)
    elif _ids(pair) != _ids(first) + _ids(second):
        detail = "limit=2 page 0 is not limit=1 pages 0 and 1 (if cases were created meanwhile, run again)"
        ctx.judge("list-paging", Verdict.NEW, detail, *calls)
    elif not next_pair:
        detail = "limit is honoured; fewer than 3 cases, so index as a page number is not confirmed"
        ctx.judge("list-paging", Verdict.MATCHES, detail, *calls)
    elif _ids(next_pair)[0] == _ids(second)[0]:
        ctx.judge("list-paging", Verdict.NEW, "index is an offset, not a page number", *calls)
    else:
        ctx.judge("list-paging", Verdict.MATCHES, "limit is honoured and index is a page number", *calls)


def _judge_order(ctx: ProbeContext, items: list[dict[str, Any]], calls: list[Call]) -> None:
    moments = [created_at(item) for item in items]
    if len(moments) < 2 or any(m is None for m in moments):
        ctx.judge("list-order", Verdict.NOT_CHECKED, "fewer than 2 cases with a readable createdAt", *calls)
        return
    pairs = list(itertools.pairwise(moments))
    if all(a == b for a, b in pairs):
        ctx.judge("list-order", Verdict.NOT_CHECKED, "the cases seen were created at the same moment", *calls)
    elif all(a <= b for a, b in pairs):  # type: ignore[operator]
        detail = "oldest first: the referenceId lookup skips older pages by bisection"
        ctx.judge("list-order", Verdict.MATCHES, detail, *calls)
    elif all(a >= b for a, b in pairs):  # type: ignore[operator]
        detail = "newest first: the referenceId lookup stops at the first older case"
        ctx.judge("list-order", Verdict.MATCHES, detail, *calls)
    else:
        ctx.judge("list-order", Verdict.MATCHES, "no createdAt order: the lookup reads every page", *calls)


# Get Multiple


def check_multiple(ctx: ProbeContext) -> None:
    """Case Get Multiple with the probe case and an id that does not exist."""
    multiple_checks = ("multiple-envelope", "multiple-items", "multiple-partial")
    entry = ctx.case
    if entry is None or entry.case_id is None or not entry.seen:
        ctx.skip("the probe has no readable case", *multiple_checks)
        return
    case_id = entry.case_id
    unknown = secrets.token_hex(12)
    call = ctx.call(
        "get_multiple",
        "Case Get Multiple",
        lambda: ctx.client.get_cases([case_id, unknown]),
        items=multiple_items_label,
    )
    if not call.ok:
        judge_failed(ctx, "multiple-partial", call, "Get Multiple")
        ctx.skip("Get Multiple failed", *multiple_checks)
        return
    items = list(call.value)
    if _ids(items) == [case_id] and call.status == 200:
        ctx.judge("multiple-partial", Verdict.MATCHES, "HTTP 200 with the known case only", call)
    elif not items:
        detail = f"HTTP {call.status} with no case, although one of the two ids exists"
        ctx.judge("multiple-partial", Verdict.NEW, detail, call)
        ctx.skip("Get Multiple showed no case", "multiple-envelope", "multiple-items")
        return
    else:
        detail = f"HTTP {call.status} with {len(items)} case(s) for one known id"
        ctx.judge("multiple-partial", Verdict.NEW, detail, call)
    _judge_envelope(ctx, "multiple-envelope", [call], "cases_found")
    label, verdict, detail = item_shape(items, MULTIPLE_SUMMARY)
    ctx.judge("multiple-items", verdict, detail, call)
    if label in ("summary", "full"):
        ctx.report.api_profile["get_multiple_items"] = label


#: The checks in the order they run (the deletion of the probe case is the clean-up's).
CHECKS: tuple[Callable[[ProbeContext], None], ...] = (
    check_forms,
    check_wrong_key,
    check_wrong_company,
    check_unknown_case,
    check_files,
    check_convert,
    check_create,
    check_visibility,
    check_list,
    check_multiple,
)
