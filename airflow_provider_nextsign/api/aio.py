"""``AsyncNextSignClient``: the reads a trigger needs, over aiohttp, on the same core as the sync client.

Every decision (request building, the answer's meaning, batching, paging, retry and penalty) lives in
:mod:`~airflow_provider_nextsign.api.core` and the modules it uses; this module only moves bytes over
aiohttp. Waiting for the budget, a retry or a penalty never blocks the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any, Unpack

import aiohttp

from airflow_provider_nextsign.api import payloads
from airflow_provider_nextsign.api.core import (
    Call,
    ClientBase,
    ClientCore,
    ClientOptions,
    interpret,
    run_async,
    user_agent,
)
from airflow_provider_nextsign.api.errors import NextSignConnectionError, NextSignRateLimitError
from airflow_provider_nextsign.api.paging import CaseListWalk
from airflow_provider_nextsign.api.retry import async_retrying

log = logging.getLogger(__name__)

USER_AGENT = user_agent("aiohttp", aiohttp.__version__)


class AsyncNextSignClient(ClientBase):
    """Async reads of the NextSign API for one company; use as ``async with AsyncNextSignClient(...) as c``.

    Takes the same arguments as :class:`~airflow_provider_nextsign.api.client.NextSignClient` and shares
    its request budget (same host, company and key).
    """

    def __init__(self, company_id: str, api_key: str, **options: Unpack[ClientOptions]) -> None:
        self._core = ClientCore.build(company_id, api_key, **options)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncNextSignClient:
        self._session = aiohttp.ClientSession(
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
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
        return await run_async(self._core.get_case(case_id), self._call)

    async def get_cases(self, case_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Case Get Multiple in batches, items as NextSign sends them (as the sync ``get_cases``)."""
        return await run_async(self._core.get_cases(case_ids), self._call)

    async def list_cases(
        self, *, status: str | None = None, folder: str | None = None, page_size: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        """Case List, every page, read completely or raising ``NextSignIncompleteListingError``."""
        walk = CaseListWalk(payloads.check_list_filters(status, folder, page_size))
        while (query := walk.next_request()) is not None:
            for case in walk.feed(await run_async(self._core.list_page(query), self._call)):
                yield case

    async def list_cases_page(
        self, *, status: str | None = None, folder: str | None = None, page_size: int = 100, index: int = 0
    ) -> list[dict[str, Any]]:
        """One page of Case List (``index`` is NextSign's zero-based page number)."""
        params = payloads.check_list_filters(status, folder, page_size)
        return await run_async(self._core.list_page({**params, "index": index}), self._call)

    async def _call(self, call: Call) -> Any:
        return await async_retrying(self.retry_policy)(self._send, call)

    async def _send(self, call: Call) -> Any:
        if self._session is None:
            raise RuntimeError("use AsyncNextSignClient as 'async with AsyncNextSignClient(...) as client'")
        await self.budget.acquire_async()
        try:
            async with self._session.request(
                call.method, call.url, params=dict(call.params or {}), headers=self._core.auth_headers()
            ) as response:
                content = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except aiohttp.ClientConnectorError as err:
            raise NextSignConnectionError(
                f"could not connect ({err})", request_sent=False, operation=call.operation
            ) from None
        except TimeoutError:
            raise NextSignConnectionError("no answer within the timeout", operation=call.operation) from None
        except aiohttp.ClientError as err:
            raise NextSignConnectionError(
                f"the connection was dropped before an answer arrived ({type(err).__name__}: {err})",
                operation=call.operation,
            ) from None
        try:
            return interpret(call.operation, status, content, retry_after)
        except NextSignRateLimitError as err:
            await self.budget.penalize_async(self.retry_policy.pause_after(err))
            raise


__all__ = ["AsyncNextSignClient"]
