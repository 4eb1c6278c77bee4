"""Finding the case a create may have made, by its ``referenceId``: complete or raising, and cheap.

NextSign has no idempotency keys and no referenceId filter (nextsign-api.md §2.2), so after a create
whose answer was lost the only way to know is to look through Case List. Two rules make the lookup
safe to act on:

- **Complete or raise.** Every walk goes through :class:`~.paging.CaseListWalk` (a repeated page, a
  capped ``limit`` or a runaway list raise). A verdict "absent" needs two passes that saw exactly the
  same cases; a list that keeps moving raises :class:`NextSignIncompleteListingError`.
- **Cheap on large accounts.** Only what the case may be is read: each status of ``statuses`` (pending
  first), only items created at or after ``since`` (minus nothing: the caller subtracts its clock-skew
  margin), with ``title`` when given. When Case List turns out to be ordered by ``createdAt``, older
  pages are skipped (newest first: stop at the first older item; oldest first: find the first recent
  page by galloping and bisection). ``referenceId`` is read from the item when the item carries it,
  else from Case Get. The first match ends the lookup, and memory stays constant.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_nextsign.api.errors import NextSignIncompleteListingError
from airflow_provider_nextsign.api.paging import CaseListWalk

__all__ = ["ReferenceLookup", "created_at"]

log = logging.getLogger(__name__)

#: Fetches one Case List page: query parameters -> the page's items.
FetchPage = Callable[[dict[str, Any]], list[dict[str, Any]]]
#: Case Get: the full case, or None when NextSign confirms it does not exist.
GetCase = Callable[[str], "dict[str, Any] | None"]

#: Passes over one status before the list is declared too volatile to give a verdict.
MAX_PASSES = 3


def created_at(item: Mapping[str, Any]) -> datetime | None:
    """The item's ``createdAt`` as an aware UTC datetime, or None when missing or unreadable."""
    value = item.get("createdAt")
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class ReferenceLookup:
    """One lookup of the case carrying ``reference_id``.

    :param reference_id: the ``referenceId`` the create sent.
    :param fetch_page: reads one Case List page.
    :param get_case: Case Get (None = confirmed absent).
    :param since: only cases created at or after this moment can match (None = any).
    :param title: only cases with this title can match (None = any).
    :param folder: Case List ``folder`` filter.
    :param statuses: the Case List ``status`` filters to look through, in order.
    :param page_size: Case List ``limit``.
    :param verify_absence: ``None`` means "surely absent" (two identical passes per status). Without it,
        one pass: ``None`` only means "not seen this time" (enough while waiting for a late write).
    :param hints: per status, the first recent page found by an earlier lookup of the same case (kept by
        the caller across repeated lookups, so the oldest-first search is not redone each time).
    """

    reference_id: str
    fetch_page: FetchPage
    get_case: GetCase
    since: datetime | None = None
    title: str | None = None
    folder: str | None = None
    statuses: tuple[str, ...] = ("pending", "signed", "denied")
    page_size: int = 100
    verify_absence: bool = True
    hints: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    _full_cache: tuple[str, dict[str, Any] | None] | None = field(default=None, repr=False)

    def run(self) -> dict[str, Any] | None:
        """The matching case (as the list or Case Get shows it), or None when surely absent."""
        for status in self.statuses:
            found = self._search(status)
            if found is not None:
                return found
        return None

    # One status

    def _search(self, status: str) -> dict[str, Any] | None:
        previous: str | None = None
        for _ in range(MAX_PASSES if self.verify_absence else 1):
            digest = hashlib.sha256()
            for item in self._recent_items(status):
                digest.update(str(item.get("_id")).encode() + b"\0")
                if self._matches(item):
                    return item if item.get("referenceId") == self.reference_id else self._full(item)
            fingerprint = digest.hexdigest()
            if fingerprint == previous or not self.verify_absence:
                return None  # two passes saw the same cases: the answer is final
            previous = fingerprint
        raise NextSignIncompleteListingError(
            f"the {status} case list kept changing over {MAX_PASSES} passes; whether a case with "
            f"referenceId {self.reference_id!r} exists is unknown",
            operation="cases_list",
        )

    def _matches(self, item: Mapping[str, Any]) -> bool:
        if self.title is not None and "title" in item and item.get("title") != self.title:
            return False
        moment = created_at(item)
        if self.since is not None and moment is not None and moment < self.since:
            return False
        if "referenceId" in item:
            return item.get("referenceId") == self.reference_id
        full = self._full(item)
        return full is not None and full.get("referenceId") == self.reference_id

    def _full(self, item: Mapping[str, Any]) -> dict[str, Any] | None:
        case_id = str(item.get("_id"))
        cached = self._full_cache
        if cached is not None and cached[0] == case_id:
            return cached[1]
        self.requests += 1
        full = self.get_case(case_id)
        self._full_cache = (case_id, full)
        return full

    # Walking one status, skipping what is surely older than `since`

    def _params(self, status: str) -> dict[str, Any]:
        params: dict[str, Any] = {"status": status, "limit": self.page_size}
        if self.folder is not None:
            params["folder"] = self.folder
        return params

    def _page(self, params: dict[str, Any], index: int) -> list[dict[str, Any]]:
        self.requests += 1
        return self.fetch_page({**params, "index": index})

    def _recent_items(self, status: str) -> Iterator[dict[str, Any]]:
        params = self._params(status)
        if self.since is None:
            yield from self._walk(params, 0)
            return
        first = self._page(params, 0)
        order = _order(first)
        newest = _newest(first)
        if len(first) < self.page_size or order is None:
            yield from self._walk(params, 0, first)  # small list (or capped limit) or no usable createdAt
        elif order == "desc":
            yield from self._walk_newest_first(params, first)
        elif newest is not None and newest >= self.since:
            yield from self._walk(params, 0, first)
        else:
            start = self._first_recent_page(params, self.hints.get(status))
            self.hints[status] = start
            yield from self._walk(params, start)

    def _walk(
        self, params: dict[str, Any], start: int, first: list[dict[str, Any]] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item from page ``start`` on; ``first`` is page ``start`` when it was read already."""
        walk = CaseListWalk(params, start_index=start)
        if first is not None:
            walk.next_request()
            yield from walk.feed(first)
        while (query := walk.next_request()) is not None:
            self.requests += 1
            yield from walk.feed(self.fetch_page(query))

    def _walk_newest_first(
        self, params: dict[str, Any], first: list[dict[str, Any]]
    ) -> Iterator[dict[str, Any]]:
        assert self.since is not None
        last: datetime | None = None
        ordered = True
        for item in self._walk(params, 0, first):
            moment = created_at(item)
            if moment is None or (last is not None and moment > last):
                ordered = False  # the order broke: read on to the end
            last = moment or last
            if ordered and moment is not None and moment < self.since:
                return
            yield item

    def _first_recent_page(self, params: dict[str, Any], hint: int | None = None) -> int:
        """Oldest first: the first page that is not entirely older than ``since`` (gallop, then bisect).

        ``hint`` (the answer of an earlier lookup) is used when the page before it is still entirely old.
        """
        assert self.since is not None
        since = self.since

        def old(index: int) -> bool:
            page = self._page(params, index)
            newest = _newest(page)
            return bool(page) and _order(page) != "desc" and newest is not None and newest < since

        if hint is not None and hint > 0 and old(hint - 1):
            return hint  # pages before hint - 1 are older still (oldest first)
        lo, hi = 0, 1  # page lo is entirely old; hi is the probe
        while old(hi):
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if old(mid):
                lo = mid
            else:
                hi = mid
        log.debug("Case List is oldest first: skipped pages 0-%d, older than %s", lo, since)
        return lo + 1


def _order(page: list[dict[str, Any]]) -> str | None:
    """``asc`` or ``desc`` when the page is ordered by createdAt (every item has one), else None."""
    moments = [created_at(item) for item in page]
    if len(moments) < 2 or any(m is None for m in moments):
        return None
    pairs = list(itertools.pairwise(moments))
    if all(a <= b for a, b in pairs):  # type: ignore[operator]
        return "asc"
    if all(a >= b for a, b in pairs):  # type: ignore[operator]
        return "desc"
    return None


def _newest(page: list[dict[str, Any]]) -> datetime | None:
    moments = [m for m in (created_at(item) for item in page) if m is not None]
    return max(moments) if moments else None
