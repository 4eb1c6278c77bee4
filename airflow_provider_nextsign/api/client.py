"""``NextSignClient``: one method per NextSign endpoint, over one reused ``requests`` session.

Every API request takes a token from the shared request budget before it is sent, passes its answer
through the one response classifier, and is retried by the one retry policy. Creates (case create,
form submit) are never re-sent once they may have reached NextSign.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Unpack

import requests
import tenacity
import urllib3

from airflow_provider_nextsign.api import payloads, shapes
from airflow_provider_nextsign.api.classify import confirms_absence
from airflow_provider_nextsign.api.core import (
    Call,
    ClientBase,
    ClientCore,
    ClientOptions,
    interpret,
    run,
    user_agent,
)
from airflow_provider_nextsign.api.endpoints import (
    CONVERT_API_VERSIONS,
)
from airflow_provider_nextsign.api.errors import (
    NextSignAmbiguousWriteError,
    NextSignAuthError,
    NextSignConnectionError,
    NextSignError,
    NextSignInputError,
    NextSignNotFoundError,
    NextSignRateLimitError,
    NextSignServerError,
)
from airflow_provider_nextsign.api.lookup import ReferenceLookup
from airflow_provider_nextsign.api.paging import CaseListWalk
from airflow_provider_nextsign.api.retry import is_safe_to_resend_write, retrying

log = logging.getLogger(__name__)

USER_AGENT = user_agent("python-requests", requests.__version__)
#: Document Convert may take long (NextSign's own client allows 90 s).
CONVERT_TIMEOUT = 90.0
#: Per v2 host, the Document Convert path that answered last (``auto`` mode).
_CONVERT_VERSION_BY_HOST: dict[str, str] = {}


def convert_versions_to_try(host: str, setting: str, preferred: str | None = None) -> tuple[str, ...]:
    """The Convert API versions to try, in order: the pinned one, or the remembered one first, else the
    one the connection's ``api_profile`` names (``preferred``), else v1."""
    if setting != "auto":
        return (setting,)
    first = _CONVERT_VERSION_BY_HOST.get(host, preferred or CONVERT_API_VERSIONS[0])
    return (first, *(v for v in CONVERT_API_VERSIONS if v != first))


class NextSignClient(ClientBase):
    """A client of the NextSign REST API for one company.

    :param company_id: the ``{company}`` path segment (Config -> API Keys in the dashboard).
    :param api_key: the API key, sent as a Bearer token.
    :param host: base URL of the v2 API.
    :param files_host: base URL of the v3 file API.
    :param requests_per_minute: the request budget shared by every client of this company and key.
    :param timeout: seconds to wait for each answer.
    :param retry_policy: how reads (and provably unsent creates) are retried.
    :param budget: a ready :class:`~airflow_provider_nextsign.api.ratelimit.Budget` (default: the
        host's shared one for host, company and key; the hook passes the Redis one for ``redis_conn_id``).
    :param session: a ``requests.Session`` to use (default: a new one).
    :param sleep: how to wait between retries (default ``time.sleep``; tests pass a fake one).
    :param batch_size: case ids per Get Multiple request.
    :param convert_api_version: ``v1`` or ``v2`` pins Document Convert's path; ``auto`` tries v1 (what
        production uses), falls back to v2 on HTTP 404 and remembers per host what worked.
    :param api_profile: what the probe learned about the account (an
        :class:`~airflow_provider_nextsign.api.settings.ApiProfile`, its dict or JSON text); saves requests.
    """

    def __init__(
        self,
        company_id: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._core = ClientCore.build(company_id, api_key, **options)
        self._sleep = sleep
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __enter__(self) -> NextSignClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Forms

    def get_form(self, form_id: str) -> dict[str, Any]:
        """Forms Get: the form with its settings, tags, recipients and documents."""
        form_id = payloads.check_id(form_id, "form_id")
        return dict(self._call("forms_get", "GET", self.endpoints.form(form_id)))

    def get_form_tags(self, form_id: str) -> list[dict[str, Any]]:
        """Forms Tags: the tags a submit of this form expects (``name``, ``tag``, ``value``, ``type``)."""
        form_id = payloads.check_id(form_id, "form_id")
        return list(self._call("forms_tags", "GET", self.endpoints.form_tags(form_id)))

    def submit_form(self, form_id: str, *, tags: Any, recipients: Any, **fields: Any) -> dict[str, Any]:
        """Forms Submit: fill the form and create a case; returns the created case.

        :param tags: ``{tag: value}`` or the API's ``[{"tag", "value", "type"}]``.
        :param recipients: recipient objects (``name``, ``email``, ``signing``, ``group``, ...).
        :param fields: other body fields: ``title``, ``referenceId``, ``folder``, ``settings``, ...
        :raises NextSignAmbiguousWriteError: the request may have created a case but its answer was lost.
        """
        form_id = payloads.check_id(form_id, "form_id")
        body = {key: value for key, value in fields.items() if value is not None}
        body["tags"] = payloads.tag_list(tags)
        body["recipients"] = payloads.check_recipients(recipients)
        if "signingSchemas" in body:
            body["signingSchemas"] = payloads.check_signing_schemas(body["signingSchemas"])
        answer = self._call(
            "forms_submit", "POST", self.endpoints.form_submit(form_id), json=body, write=True
        )
        return shapes.created_case_in(answer) or {}

    # Cases

    def list_cases(
        self, *, status: str | None = None, folder: str | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Case List: every case, page by page (``limit``/``index``), read completely or raising.

        :param status: ``signed``, ``denied`` or ``pending``.
        :param folder: only cases in this folder.
        :param page_size: cases per request (NextSign's ``limit``).
        :raises NextSignIncompleteListingError: the list could not be read completely (a repeated page,
            paging that breaks its own rules); nothing after the last good page is known.
        """
        params = payloads.check_list_filters(status, folder, page_size)
        return self._walk(CaseListWalk(params))

    def _walk(self, walk: CaseListWalk) -> Iterator[dict[str, Any]]:
        while (query := walk.next_request()) is not None:
            yield from walk.feed(self._list_page(query))

    def list_cases_page(
        self, *, status: str | None = None, folder: str | None = None, page_size: int = 100, index: int = 0
    ) -> list[dict[str, Any]]:
        """One page of Case List (``index`` is NextSign's zero-based page number)."""
        params = payloads.check_list_filters(status, folder, page_size)
        return self._list_page({**params, "index": index})

    def _list_page(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return run(self._core.list_page(params), self._send_call)

    def get_case(self, case_id: str) -> dict[str, Any]:
        """Case Get: one case with its recipients, documents and signed documents.

        :raises NextSignNotFoundError: the case does not exist, was deleted, or is not visible yet
            (production saw Case Get miss a case for seconds after its create).
        """
        return run(self._core.get_case(case_id), self._send_call)

    def get_cases(self, case_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Case Get Multiple, in batches: the items found, as NextSign sends them (summaries or full cases).

        Ids NextSign does not show are absent from the result. Only the documented answer for "none of
        these exist" (HTTP 404 ``{"message": "Cases not found"}``) skips a batch; any other error raises,
        because it says nothing about whether the cases exist.
        """
        return run(self._core.get_cases(case_ids), self._send_call)

    def get_full_cases(self, case_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The full bodies of the cases NextSign shows, in the order asked.

        Get Multiple in batches; an item that is a summary (the documented shape) is read with Case Get.
        With ``api_profile`` ``get_multiple_items: summary`` each case is read with Case Get at once (no
        Get Multiple request, whose summaries would be read again anyway). Ids NextSign does not show
        (unknown, deleted, or not visible yet) are absent from the result.

        :raises NextSignError: a read failed (never silently dropped).
        """
        from airflow_provider_nextsign.api.watch import read_in_full

        ids = payloads.check_ids(case_ids, "case_ids")
        observations = read_in_full(
            ids,
            self,
            batch_size=self.batch_size,
            in_grace=lambda _: True,
            get_multiple=not self.api_profile.skips_get_multiple,
        )
        return [seen.case for case_id in ids if (seen := observations[case_id]).case is not None]

    def create_case(
        self, *, title: str, recipients: Any, documents: Any, settings: Any, **fields: Any
    ) -> dict[str, Any]:
        """Case Create: returns the created case.

        :param documents: ``[{"name", "file", ...}]``, ``file`` a stored-file URL or base64 content.
        :param settings: case settings (``{}`` for NextSign's defaults).
        :param fields: other body fields: ``referenceId``, ``folder``, ``signingSchemas``, ``autoSend``, ...
        :raises NextSignAmbiguousWriteError: the request may have created a case but its answer was lost.
        """
        body = {key: value for key, value in fields.items() if value is not None}
        body.update(
            title=payloads.check_title(title),
            recipients=payloads.check_recipients(recipients),
            documents=payloads.check_documents(documents),
            settings=payloads.check_settings(settings),
        )
        if "signingSchemas" in body:
            body["signingSchemas"] = payloads.check_signing_schemas(body["signingSchemas"])
        answer = self._call("case_create", "POST", self.endpoints.case_create(), json=body, write=True)
        return shapes.created_case_in(answer) or {}

    def delete_case(self, case_id: str) -> dict[str, Any]:
        """Case Delete (a GET on NextSign): returns ``{"status": "removed", "return": {...}}``.

        :raises NextSignNotFoundError: the case does not exist (or was deleted already).
        """
        case_id = payloads.check_id(case_id, "case_id")
        return dict(self._call("case_delete", "GET", self.endpoints.case_delete(case_id)))

    def find_case_by_reference(
        self,
        reference_id: str,
        *,
        folder: str | None = None,
        since: datetime | None = None,
        title: str | None = None,
        statuses: Sequence[str] = ("pending", "signed", "denied"),
        verify_absence: bool = True,
    ) -> dict[str, Any] | None:
        """The case whose ``referenceId`` is ``reference_id``, or ``None`` when it surely does not exist.

        Complete or raising (see :mod:`~airflow_provider_nextsign.api.lookup`): looks through Case List
        for each of ``statuses`` (pending first), only at cases created at or after ``since`` and titled
        ``title`` when given, confirming ``referenceId`` from the list item or Case Get. Stops at the
        first match. With ``verify_absence=False`` one pass is made and ``None`` only means "not seen
        this time" (for repeated looks while a write may still be applied); repeated looks for the
        same referenceId reuse where the recent cases start in an oldest-first list.

        :raises NextSignIncompleteListingError: the list could not be read completely; the answer is unknown.
        """
        if not isinstance(reference_id, str) or not reference_id:
            raise NextSignInputError("reference_id must be a non-empty string")
        for status in statuses:
            payloads.check_list_filters(status, folder, 1)
        if since is not None and since.tzinfo is None:
            raise NextSignInputError("since must be a timezone-aware datetime (UTC)")
        lookup = ReferenceLookup(
            reference_id,
            fetch_page=self._list_page,
            get_case=self._get_case_or_none,
            since=since,
            title=title,
            folder=folder,
            statuses=tuple(statuses),
            verify_absence=verify_absence,
            hints=self._core.lookup_hints.setdefault((reference_id, folder), {}),
        )
        found = lookup.run()
        log.info(
            "Looked up referenceId %s with %d request(s): %s",
            reference_id,
            lookup.requests,
            f"case {found.get('_id')}" if found else "no case",
        )
        return found

    def _get_case_or_none(self, case_id: str) -> dict[str, Any] | None:
        """Case Get, or None when NextSign answers its documented not-found (any other error raises)."""
        try:
            return self.get_case(case_id)
        except NextSignNotFoundError as err:
            if confirms_absence(err):
                return None
            raise

    # Documents

    def upload_document(self, content: bytes, *, name: str, mime_type: str | None = None) -> str:
        """Document Upload (v3): store a PDF or DOCX, return its stored-file URL for ``documents[].file``."""
        if not isinstance(content, (bytes, bytearray)) or not content:
            raise NextSignInputError(f"content of {name!r} must be non-empty bytes")
        if not isinstance(name, str) or not name:
            raise NextSignInputError("name must be the file name to store, e.g. 'contract.pdf'")
        mime = payloads.sniff_mime(bytes(content), name, mime_type)
        answer = self._call(
            "file_upload",
            "POST",
            self.endpoints.file_upload(),
            files={"file": (name, bytes(content), mime)},
            data={"name": name, "type": mime},
        )
        return shapes.stored_url_in(answer)

    def get_presigned_url(self, file_url: str) -> str:
        """Document Retrieve (v3): a time-limited download URL for a stored file (e.g. a signed PDF)."""
        if not isinstance(file_url, str) or "://" not in file_url:
            raise NextSignInputError(f"file_url must be a stored-file URL from NextSign, got {file_url!r}")
        answer = self._call(
            "file_presigned_url", "POST", self.endpoints.file_presigned_url(), json={"url": file_url}
        )
        return str(answer["signedUrl"])

    def convert_documents(self, documents: Any, *, tags: Any = None) -> list[dict[str, Any]]:
        """Document Convert: replace tags in DOCX files and convert them to PDF.

        :param documents: ``[{"file": <stored-file URL>, "name": ...}]``.
        :param tags: ``{tag: value}`` or the API's tag list.
        :returns: ``[{"file": <URL of the PDF>, "name": "<name>.pdf"}]``.
        """
        body: dict[str, Any] = {"documents": payloads.check_documents(documents)}
        if tags:
            body["tags"] = payloads.tag_list(tags)
        versions = convert_versions_to_try(
            self.endpoints.host, self.convert_api_version, self.api_profile.convert_api_version
        )
        for version in versions:
            try:
                answer = self._call(
                    "document_convert",
                    "POST",
                    self.endpoints.document_convert(version),
                    json=body,
                    timeout=max(self.timeout, CONVERT_TIMEOUT),
                )
            except NextSignNotFoundError as err:
                if err.status_code != 404 or version == versions[-1]:
                    raise
                log.info(
                    "Document Convert is not at /api/%s on %s (HTTP 404); trying the next path",
                    version,
                    self.endpoints.host,
                )
                continue
            _CONVERT_VERSION_BY_HOST[self.endpoints.host] = version
            return [dict(d) for d in answer["documents"]]
        raise AssertionError("unreachable")  # pragma: no cover

    def stream_file(self, url: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Download a pre-signed URL in chunks (constant memory). No API key is sent and no budget spent."""
        if not isinstance(url, str) or "://" not in url:
            raise NextSignInputError(f"url must be a pre-signed download URL, got {url!r}")
        response = self._retrying(False)(self._open_download, url)
        return self._chunks(response, chunk_size)

    def _open_download(self, url: str) -> requests.Response:
        try:
            response = self.session.get(url, stream=True, timeout=(min(self.timeout, 10.0), self.timeout))
        except requests.RequestException as err:
            raise _connection_error(err, "file_download") from None
        if response.status_code >= 400:
            response.close()
            kind = (
                NextSignAuthError
                if response.status_code in (401, 403)
                else (NextSignServerError if response.status_code >= 500 else NextSignError)
            )
            raise kind(
                "download refused (the pre-signed URL may have expired; ask for a new one)"
                if response.status_code in (401, 403)
                else f"download failed with HTTP {response.status_code}",
                status_code=response.status_code,
                operation="file_download",
            )
        return response

    @staticmethod
    def _chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
        with response:
            try:
                yield from response.iter_content(chunk_size=chunk_size)
            except requests.RequestException as err:  # the body broke off (or stalled) mid-stream
                raise _connection_error(err, "file_download") from None

    # Plumbing

    def _call(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Any = None,
        data: Any = None,
        write: bool = False,
        timeout: float | None = None,
    ) -> Any:
        return self._send_call(Call(operation, method, url, params, json, files, data, write, timeout))

    def _send_call(self, call: Call) -> Any:
        """Send ``call`` under the retry policy; a create whose outcome is unknown is never re-sent."""
        try:
            return self._retrying(call.write)(self._send, call)
        except (NextSignServerError, NextSignConnectionError) as err:
            if call.write and not is_safe_to_resend_write(err):
                raise NextSignAmbiguousWriteError(
                    f"{err.message}; the request may have been applied, so it was not sent again. "
                    "Look the case up by its referenceId before creating it again.",
                    status_code=err.status_code,
                    body=err.body,
                    operation=call.operation,
                ) from err
            raise

    def _retrying(self, write: bool) -> tenacity.Retrying:
        return retrying(self.retry_policy, write=write, sleep=self._sleep)

    def _send(self, call: Call) -> Any:
        self.budget.acquire()
        read_timeout = call.timeout or self.timeout
        started = time.monotonic()
        try:
            response = self.session.request(
                call.method,
                call.url,
                params=call.params,
                json=call.json,
                files=call.files,
                data=call.data,
                headers=self._core.auth_headers(),
                timeout=(min(read_timeout, 10.0), read_timeout),
            )
        except requests.RequestException as err:
            raise _connection_error(err, call.operation) from None
        log.debug(
            "NextSign %s %s -> %s in %.2fs",
            call.operation,
            call.method,
            response.status_code,
            time.monotonic() - started,
        )
        try:
            retry_after = response.headers.get("Retry-After")
            return interpret(call.operation, response.status_code, response.content, retry_after)
        except NextSignRateLimitError as err:
            self.budget.penalize(self.retry_policy.pause_after(err))
            raise


def _connection_error(err: requests.RequestException, operation: str) -> NextSignConnectionError:
    """Map a ``requests`` failure, telling apart "never connected" (safe to resend) from "sent, no answer"."""
    never_connected = isinstance(err, requests.ConnectTimeout) or _caused_by_new_connection(err)
    if isinstance(err, requests.Timeout) and not never_connected:
        message = "no answer within the timeout"
    elif never_connected:
        message = "could not connect"
    else:
        message = "the connection was dropped before an answer arrived"
    # The key travels in a header no exception prints. The text of ``err`` may hold the URL with its
    # query string (a pre-signed URL's signature): NextSignError cuts every query string out.
    return NextSignConnectionError(
        f"{message} ({type(err).__name__}: {err})", request_sent=not never_connected, operation=operation
    )


def _caused_by_new_connection(err: BaseException) -> bool:
    seen: set[int] = set()
    stack: list[Any] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            return True
        if isinstance(current, BaseException):
            stack.extend(
                [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
            )
    return False
