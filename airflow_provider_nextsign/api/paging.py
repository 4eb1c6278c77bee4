"""Walking Case List completely, or failing: the paging rules both clients share (no I/O here).

Case List pages by ``limit`` and a zero-based page ``index`` and sends no total (nextsign-api.md §2.4).
A walk that stops early looks exactly like a short account, and a caller that believed it (the report's
delete sweep, the create operators' referenceId lookup) would turn doubt into a verdict. So a walk
here is complete or it raises :class:`NextSignIncompleteListingError`:

- a short page ends the list only when the next index is empty; otherwise the server caps ``limit``
  below what was asked, and the walk goes on with the page size it really serves;
- a page that repeats the previous one, or a walk past ``max_pages``, raises.

The sync client drives a :class:`CaseListWalk` with ``requests`` and the async one with aiohttp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_nextsign.api.errors import NextSignIncompleteListingError

__all__ = ["DEFAULT_MAX_PAGES", "CaseListWalk"]

#: 1,000,000 cases at 100 per page: far beyond any account, small enough to stop a runaway server.
DEFAULT_MAX_PAGES = 10_000


class CaseListWalk:
    """The state of one complete walk over Case List.

    Loop: ``while (params := walk.next_request()) is not None: items = walk.feed(fetch(params))``.

    :param params: the Case List filters, including ``limit`` (the page size asked for).
    :param start_index: the first page to read (pages before it are known not to matter).
    :param max_pages: pages after which the walk gives up as incomplete.
    """

    def __init__(
        self, params: Mapping[str, Any], *, start_index: int = 0, max_pages: int = DEFAULT_MAX_PAGES
    ) -> None:
        self.params = {k: v for k, v in params.items() if k != "index"}
        self.limit = int(self.params["limit"])
        self.max_pages = max_pages
        self.index = start_index
        self.requests = 0
        self._previous_ids: list[Any] | None = None
        self._short_page: int | None = None  # size of a short page awaiting its confirming empty page
        self._done = False

    def next_request(self) -> dict[str, Any] | None:
        """The query parameters of the next page to fetch, or None when the walk is complete."""
        if self._done:
            return None
        if self.requests >= self.max_pages:
            raise NextSignIncompleteListingError(
                f"the case list did not end within {self.max_pages} pages of {self.limit}; "
                "it was not read completely",
                operation="cases_list",
            )
        return {**self.params, "limit": self.limit, "index": self.index}

    def feed(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Take the items of the page asked for last; return those to hand on (in order)."""
        self.requests += 1
        ids = [item.get("_id") for item in items]
        if self._short_page is not None:
            if not items:  # the short page really was the last one
                self._done = True
                return []
            # Items after a short page: the server serves fewer than `limit` per page. When that shows
            # on the first page, go on at the size it serves: page 1 of that size starts right after
            # what was handed on. A short page later in the list breaks the paging's own rules.
            served = self._short_page
            self._short_page = None
            if ids == self._previous_ids:
                raise self._repeated()
            if self.index != 1:
                raise NextSignIncompleteListingError(
                    f"page {self.index - 1} held {served} cases for limit={self.limit} but page "
                    f"{self.index} is not empty; the case list cannot be read reliably",
                    operation="cases_list",
                )
            self.limit = served
            self._previous_ids = None
            return []
        if items and ids == self._previous_ids:
            raise self._repeated()
        if len(items) > self.limit:
            raise NextSignIncompleteListingError(
                f"page {self.index} held {len(items)} cases for limit={self.limit}; the paging is not "
                "what NextSign documents, so the list cannot be read reliably",
                operation="cases_list",
            )
        if not items:
            self._done = True
            return []
        self._previous_ids = ids
        if len(items) < self.limit:
            self._short_page = len(items)
        self.index += 1
        return items

    def _repeated(self) -> NextSignIncompleteListingError:
        return NextSignIncompleteListingError(
            f"NextSign returned the same cases for page {self.index - 1} and page {self.index}; "
            "the case list was not read completely",
            operation="cases_list",
        )
