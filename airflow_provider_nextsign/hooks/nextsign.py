"""``NextSignHook``: an Airflow connection of type ``nextsign`` turned into a NextSign client."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook, mask_secret

from airflow_provider_nextsign.api.cases import CaseState, case_state, signed_documents
from airflow_provider_nextsign.api.endpoints import DEFAULT_FILES_HOST, DEFAULT_HOST, normalize_base
from airflow_provider_nextsign.api.errors import (
    NextSignAuthError,
    NextSignConnectionError,
    NextSignError,
    NextSignInputError,
    NextSignNotFoundError,
    NextSignValidationError,
)
from airflow_provider_nextsign.compat import API_SERVER_PLUGINS

if TYPE_CHECKING:  # requests and tenacity load when the first call is made, not when a DAG file is parsed
    from airflow_provider_nextsign.api.client import NextSignClient
    from airflow_provider_nextsign.api.retry import RetryPolicy

EXTRA_DEFAULTS: dict[str, Any] = {
    "files_host": DEFAULT_FILES_HOST,
    "requests_per_minute": 100,
    "timeout": 30,
    "convert_api_version": "auto",
    "reconcile_window": None,
    "redis_conn_id": None,
    "api_profile": None,
}


class NextSignHook(BaseHook):
    """Talk to NextSign through the Airflow connection ``nextsign_conn_id``.

    The connection holds the company ID (login), the API key (password), the v2 base URL (host) and
    the extras ``files_host``, ``requests_per_minute``, ``timeout`` and ``redis_conn_id``. Every method
    delegates to one :class:`~airflow_provider_nextsign.api.client.NextSignClient`, so all calls of this
    hook share one HTTP session, and all hooks of the same company and key share one request budget: per
    host, or across hosts through Redis when ``redis_conn_id`` names an Airflow ``redis`` connection.

    :param nextsign_conn_id: the NextSign connection id.
    :param retry_policy: override how reads are retried.
    """

    conn_name_attr = "nextsign_conn_id"
    default_conn_name = "nextsign_default"
    conn_type = "nextsign"
    hook_name = "NextSign"

    def __init__(
        self,
        nextsign_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.nextsign_conn_id = nextsign_conn_id
        self.retry_policy = retry_policy

    # Connection

    @staticmethod
    def client_kwargs(conn: Any) -> dict[str, Any]:
        """The keyword arguments of ``NextSignClient`` / ``AsyncNextSignClient`` for an Airflow connection.

        Registers the API key with Airflow's secret masker. Raises ``NextSignInputError`` naming the
        connection field to fix when something is missing or malformed.
        """
        conn_id = getattr(conn, "conn_id", None) or "?"
        company_id = (conn.login or "").strip()
        api_key = (conn.password or "").strip()
        if not company_id:
            raise NextSignInputError(
                f"NextSign connection {conn_id!r} has no Company ID: put it in the login field "
                "(Config -> API Keys in the NextSign dashboard)"
            )
        if not api_key:
            raise NextSignInputError(
                f"NextSign connection {conn_id!r} has no API key: put it in the password field"
            )
        mask_secret(api_key)
        extra = _extras(conn)
        kwargs: dict[str, Any] = {
            "company_id": company_id,
            "api_key": api_key,
            "host": _host(conn),
            "files_host": normalize_base(str(extra["files_host"] or ""), DEFAULT_FILES_HOST),
            "requests_per_minute": _number(extra["requests_per_minute"], "requests_per_minute", conn_id),
            "timeout": _number(extra["timeout"], "timeout", conn_id),
            "convert_api_version": _choice(
                extra["convert_api_version"], "convert_api_version", ("auto", "v1", "v2"), conn_id
            ),
        }
        from airflow_provider_nextsign.api.settings import ApiProfile

        # What the probe learned about the account (docs/check-your-account.md): saves requests.
        kwargs["api_profile"] = ApiProfile.parse(
            extra["api_profile"], f"NextSign connection {conn_id!r}: extra 'api_profile'"
        )
        redis_conn_id = str(extra["redis_conn_id"] or "").strip()
        if redis_conn_id:  # one budget for every host, through Redis
            from airflow_provider_nextsign.hooks._budget import redis_budget

            kwargs["budget"] = redis_budget(kwargs, redis_conn_id, conn_id)
        return kwargs

    def get_conn(self) -> NextSignClient:
        """Return the hook's client (built once per hook)."""
        return self.client

    @cached_property
    def client(self) -> NextSignClient:
        """The :class:`NextSignClient` of this connection."""
        from airflow_provider_nextsign.api.client import NextSignClient

        conn = self.get_connection(self.nextsign_conn_id)
        return NextSignClient(**self.client_kwargs(conn), retry_policy=self.retry_policy)

    # Forms

    def get_form(self, form_id: str) -> dict[str, Any]:
        """Forms Get: the form with its settings, tags, recipients and documents."""
        return self.client.get_form(form_id)

    def get_form_tags(self, form_id: str) -> list[dict[str, Any]]:
        """Forms Tags: the tags the form expects (``name``, ``tag``, ``value``, ``type``)."""
        return self.client.get_form_tags(form_id)

    def submit_form(self, form_id: str, *, tags: Any, recipients: Any, **fields: Any) -> dict[str, Any]:
        """Forms Submit: create a case from the form; ``tags`` as ``{tag: value}`` or the API's list.

        Returns the created case. Raises ``NextSignAmbiguousWriteError`` when the outcome is unknown.
        """
        return self.client.submit_form(form_id, tags=tags, recipients=recipients, **fields)

    # Cases

    def list_cases(
        self, *, status: str | None = None, folder: str | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Case List: every case (``status`` signed/denied/pending, ``folder``), fetched page by page."""
        return self.client.list_cases(status=status, folder=folder, page_size=page_size)

    def get_case(self, case_id: str) -> dict[str, Any]:
        """Case Get. Raises ``NextSignNotFoundError`` for unknown or deleted cases."""
        return self.client.get_case(case_id)

    def get_cases(self, case_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Case Get Multiple in batches; unknown or deleted ids are absent from the result."""
        return self.client.get_cases(case_ids)

    def get_full_cases(self, case_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Full case bodies: Get Multiple, plus Case Get for each item NextSign sends as a summary."""
        return self.client.get_full_cases(case_ids)

    @staticmethod
    def case_state(case: Mapping[str, Any] | None) -> CaseState:
        """The signing state of a case body (no request; ``None`` or a not-found body is deleted)."""
        return case_state(case)

    @staticmethod
    def signed_documents(case: Mapping[str, Any] | None) -> list[dict[str, str]]:
        """The signed files of a case body as ``[{"name", "file"}]`` (no request; empty until signed)."""
        return signed_documents(case)

    def create_case(
        self, *, title: str, recipients: Any, documents: Any, settings: Any, **fields: Any
    ) -> dict[str, Any]:
        """Case Create; returns the created case. ``NextSignAmbiguousWriteError`` on an unknown outcome."""
        return self.client.create_case(
            title=title, recipients=recipients, documents=documents, settings=settings, **fields
        )

    def delete_case(self, case_id: str) -> dict[str, Any]:
        """Case Delete. Raises ``NextSignNotFoundError`` when the case is already gone."""
        return self.client.delete_case(case_id)

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
        """The case carrying ``referenceId == reference_id``, or ``None`` when it surely does not exist.

        Narrowed to cases created at or after ``since`` and titled ``title`` when given; raises
        ``NextSignIncompleteListingError`` when Case List cannot be read completely (never "absent").
        ``verify_absence=False``: one pass, ``None`` meaning only "not seen this time".
        """
        return self.client.find_case_by_reference(
            reference_id,
            folder=folder,
            since=since,
            title=title,
            statuses=statuses,
            verify_absence=verify_absence,
        )

    @cached_property
    def reconcile_window(self) -> float:
        """Seconds to keep looking for a case after a create's answer was lost (extra ``reconcile_window``,
        default 3 x the request timeout)."""
        conn = self.get_connection(self.nextsign_conn_id)
        extra = _extras(conn)
        if extra["reconcile_window"] is not None:
            return _number(extra["reconcile_window"], "reconcile_window", conn.conn_id or "?")
        return 3 * _number(extra["timeout"], "timeout", conn.conn_id or "?")

    def case_url(self, case_id: str) -> str:
        """The case's page in the NextSign dashboard.

        NextSign documents the ``/user/{company}/...`` dashboard prefix but not the case page itself;
        ``/case/{id}`` after it is our best reading.
        """
        client = self.client
        return f"{client.endpoints.host}/user/{client.company_id}/case/{case_id}"

    # Documents

    def upload_document(self, content: bytes, *, name: str, mime_type: str | None = None) -> str:
        """Document Upload: store a PDF or DOCX and return its stored-file URL."""
        return self.client.upload_document(content, name=name, mime_type=mime_type)

    def get_presigned_url(self, file_url: str) -> str:
        """Document Retrieve: a time-limited download URL for a stored file.

        The URL works like a password until it expires, so it is registered with Airflow's secret
        masker: task logs show neither the URL nor its query string.
        """
        url = self.client.get_presigned_url(file_url)
        mask_secret(url)
        query = url.partition("?")[2].partition("#")[0]
        if query:  # HTTP libraries log the path and query without the host
            mask_secret(query)
        return url

    def convert_documents(self, documents: Any, *, tags: Any = None) -> list[dict[str, Any]]:
        """Document Convert: DOCX (with tags replaced) to PDF; returns ``[{"file", "name"}]``."""
        return self.client.convert_documents(documents, tags=tags)

    def stream_file(self, url: str, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Download a pre-signed URL in chunks, in constant memory."""
        return self.client.stream_file(url, chunk_size=chunk_size)

    # Connection test and the Airflow 2 form

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap read (Case List, one case) and say in plain words what, if anything, is wrong."""
        try:
            conn = self.get_connection(self.nextsign_conn_id)
            kwargs = self.client_kwargs(conn)
            kwargs["timeout"] = min(kwargs["timeout"], 15.0)
            from airflow_provider_nextsign.api.client import NextSignClient
            from airflow_provider_nextsign.api.retry import RetryPolicy

            client = NextSignClient(**kwargs, retry_policy=RetryPolicy(max_attempts=1))
        except NextSignInputError as err:
            return False, str(err.message)
        try:
            with client:
                next(iter(client.list_cases(page_size=1)), None)
        except NextSignAuthError as err:
            return False, (
                f"NextSign refused the API key ({err.message}). Check the API key (password field); "
                "keys belong to one environment, a production key does not work on the test host."
            )
        except (NextSignNotFoundError, NextSignValidationError) as err:
            return False, (
                f"NextSign does not accept company ID {kwargs['company_id']!r} ({err.message}). "
                "Check the Company ID (login field) in Config -> API Keys."
            )
        except NextSignConnectionError as err:
            return (
                False,
                f"Could not reach NextSign at {kwargs['host']}: {err.message}. Check the API host field.",
            )
        except NextSignError as err:
            return False, f"NextSign answered with an error: {err}"
        connected = f"Connected to NextSign at {kwargs['host']} as company {kwargs['company_id']}."
        budget = kwargs.get("budget")
        if budget is None:
            return True, connected
        redis_conn_id = _extras(conn)["redis_conn_id"]
        problem = budget.check()
        if problem is not None:
            return False, (
                f"{connected} But the Redis of the request budget (connection {redis_conn_id!r}, "
                f"{budget.redis.location}) does not answer ({problem}). Tasks still run, each on this host's "
                "budget, so hosts may together exceed NextSign's limit: fix the redis connection."
            )
        return True, f"{connected} The request budget shared through Redis at {budget.redis.location}."

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields of the connection form on Airflow 2.11 and 3.1 (3.2+ reads ``conn-fields``).

        Built from :mod:`~airflow_provider_nextsign.connection_form`, the one declaration of the form. On
        Airflow 3 it also holds the webhook secret, which the receiver (Airflow 3 only) reads.
        """
        from airflow_provider_nextsign.connection_form import wtforms_widgets

        return wtforms_widgets(with_receiver=API_SERVER_PLUGINS.available)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel, hide and give placeholders to fields of the Airflow 2.11 / 3.1 connection form."""
        from airflow_provider_nextsign.connection_form import ui_field_behaviour

        return ui_field_behaviour()


def _extras(conn: Any) -> dict[str, Any]:
    raw = conn.extra_dejson or {}
    extra = dict(EXTRA_DEFAULTS)
    for key in EXTRA_DEFAULTS:
        for name in (key, f"extra__nextsign__{key}"):
            value = raw.get(name)
            if value not in (None, ""):
                extra[key] = value
    return extra


def _host(conn: Any) -> str:
    host = (conn.host or "").strip()
    if not host:
        return DEFAULT_HOST
    if "://" not in host:
        scheme = conn.schema if conn.schema in ("http", "https") else "https"
        host = f"{scheme}://{host}"
    if conn.port and host.count(":") == 1:
        host = f"{host}:{conn.port}"
    return normalize_base(host, DEFAULT_HOST)


def _choice(value: Any, field: str, choices: tuple[str, ...], conn_id: str) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise NextSignInputError(
            f"NextSign connection {conn_id!r}: extra {field!r} must be one of {list(choices)}, got {value!r}"
        )
    return text


def _number(value: Any, field: str, conn_id: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if number <= 0:
        raise NextSignInputError(
            f"NextSign connection {conn_id!r}: extra {field!r} must be a positive number, got {value!r}"
        )
    return number
