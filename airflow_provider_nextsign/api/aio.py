"""``AsyncNextSignClient``: the reads a trigger needs, over aiohttp, with the same rules as the sync client.

The same response classifier, retry policy and request budget apply; waiting for the budget or a retry
never blocks the event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import aiohttp

from airflow_provider_nextsign.api import payloads, shapes
from airflow_provider_nextsign.api.classify import classify, confirms_absence
from airflow_provider_nextsign.api.client import DEFAULT_BATCH_SIZE, USER_AGENT
from airflow_provider_nextsign.api.endpoints import (
    DEFAULT_FILES_HOST,
    DEFAULT_HOST,
)
from airflow_provider_nextsign.api.errors import (
    NextSignConnectionError,
    NextSignNotFoundError,
    NextSignRateLimitError,
)
from airflow_provider_nextsign.api.paging import CaseListWalk
from airflow_provider_nextsign.api.ratelimit import Budget
from airflow_provider_nextsign.api.retry import RetryPolicy, async_retrying
from airflow_provider_nextsign.api.settings import ApiProfile, ClientSettings

log = logging.getLogger(__name__)


class AsyncNextSignClient:
    """Async reads of the NextSign API for one company; use as ``async with AsyncNextSignClient(...) as c``.

    Takes the same arguments as :class:`~airflow_provider_nextsign.api.client.NextSignClient` and shares
    its request budget (same host, company and key).
    """

    def __init__(
        self,
        company_id: str,
        api_key: str,
        *,
        host: str | None = DEFAULT_HOST,
        files_host: str | None = DEFAULT_FILES_HOST,
        requests_per_minute: float = 100,
        timeout: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        budget: Budget | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        convert_api_version: str = "auto",
        api_profile: ApiProfile | Mapping[str, Any] | str | None = None,
    ) -> None:
        settings = ClientSettings.build(
            company_id,
            api_key,
            host=host,
            files_host=files_host,
            requests_per_minute=requests_per_minute,
            timeout=timeout,
            convert_api_version=convert_api_version,
            api_profile=api_profile,
        )
        self.company_id = settings.company_id
        self.endpoints = settings.endpoints
        self.timeout = settings.timeout
        self.api_profile = settings.api_profile
        self.retry_policy = retry_policy or RetryPolicy()
        self.batch_size = batch_size
        self.budget = budget or settings.shared_budget()
        self._api_key = settings.api_key
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"AsyncNextSignClient(company_id={self.company_id!r}, host={self.endpoints.host!r})"

    async def __aenter__(self) -> AsyncNextSignClient:
        self._session = aiohttp.ClientSession(
            headers={
                "User-Agent": USER_AGENT.replace("python-requests", "aiohttp"),
                "Accept": "application/json",
            },
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(self.timeout, 10.0)),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_case(self, case_id: str) -> dict[str, Any]:
        """Case Get. :raises NextSignNotFoundError: unknown, deleted or not yet visible case."""
        case_id = payloads.check_id(case_id, "case_id")
        body = await self._call("case_get", self.endpoints.case(case_id))
        return shapes.case_in(body) or {}

    async def get_cases(self, case_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Case Get Multiple in batches, items as NextSign sends them (as the sync ``get_cases``)."""
        ids = payloads.check_ids(case_ids, "case_ids")
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), self.batch_size):
            batch = ids[start : start + self.batch_size]
            try:
                body = await self._call("cases_get_multiple", self.endpoints.cases(batch))
            except NextSignNotFoundError as err:
                if not confirms_absence(err):
                    raise
                continue
            found.extend(shapes.cases_in(body) or [])
        return found

    async def list_cases(
        self, *, status: str | None = None, folder: str | None = None, page_size: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        """Case List, every page, read completely or raising ``NextSignIncompleteListingError``."""
        walk = CaseListWalk(payloads.check_list_filters(status, folder, page_size))
        while (query := walk.next_request()) is not None:
            for case in walk.feed(await self._list_page(query)):
                yield case

    async def list_cases_page(
        self, *, status: str | None = None, folder: str | None = None, page_size: int = 100, index: int = 0
    ) -> list[dict[str, Any]]:
        """One page of Case List (``index`` is NextSign's zero-based page number)."""
        params = payloads.check_list_filters(status, folder, page_size)
        return await self._list_page({**params, "index": index})

    async def _list_page(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        body = await self._call("cases_list", self.endpoints.case_list(), params=params)
        return shapes.cases_in(body) or []

    async def _call(self, operation: str, url: str, params: Mapping[str, Any] | None = None) -> Any:
        retrying = async_retrying(self.retry_policy)
        return await retrying(self._send, operation, url, params)

    async def _send(self, operation: str, url: str, params: Mapping[str, Any] | None) -> Any:
        if self._session is None:
            raise RuntimeError("use AsyncNextSignClient as 'async with AsyncNextSignClient(...) as client'")
        await self.budget.acquire_async()
        try:
            async with self._session.get(
                url, params=dict(params or {}), headers={"Authorization": f"Bearer {self._api_key}"}
            ) as response:
                text = await response.text()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except aiohttp.ClientConnectorError as err:
            raise NextSignConnectionError(
                f"could not connect ({err})", request_sent=False, operation=operation
            ) from None
        except TimeoutError:
            raise NextSignConnectionError("no answer within the timeout", operation=operation) from None
        except aiohttp.ClientError as err:
            raise NextSignConnectionError(
                f"the connection was dropped before an answer arrived ({type(err).__name__}: {err})",
                operation=operation,
            ) from None
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        try:
            return classify(operation, status, body, retry_after=retry_after)
        except NextSignRateLimitError as err:
            await self.budget.penalize_async(self.retry_policy.pause_after(err))
            raise
