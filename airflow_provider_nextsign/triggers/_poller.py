"""One shared poller per connection in a triggerer process.

Every deferred NextSign sensor in a triggerer subscribes its case ids to the poller of its connection.
Each round the poller asks Get Multiple for the union of all subscribed ids, in batches, and hands each
subscriber the states of its own cases. N sensors waiting on one connection then cost
``ceil(distinct cases / batch_size)`` requests per round instead of N.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

BATCH_SIZE = 50

#: Makes the client for a connection id: ``async with (await factory(conn_id)) as client``.
ClientFactory = Callable[[str], Awaitable[Any]]


@dataclass
class Subscription:
    """One trigger's interest: its case ids, how often it wants news, and its inbox."""

    case_ids: frozenset[str]
    poll_interval: float
    inbox: asyncio.Queue = field(default_factory=asyncio.Queue)


@dataclass
class Snapshot:
    """What one round learned: each case's body (None = gone), or the error that stopped the round."""

    cases: dict[str, dict[str, Any] | None]
    error: str | None = None
    fatal: bool = False


class CasePoller:
    """Polls the union of its subscribers' case ids for one connection, on one event loop."""

    def __init__(self, conn_id: str, client_factory: ClientFactory, batch_size: int = BATCH_SIZE) -> None:
        self.conn_id = conn_id
        self.batch_size = batch_size
        self._factory = client_factory
        self._subs: dict[int, Subscription] = {}
        self._ids = itertools.count()
        self._task: asyncio.Task | None = None
        self.closed = False
        self.requests = 0
        self._wake = asyncio.Event()

    def subscribe(self, case_ids: Iterable[str], poll_interval: float) -> tuple[int, Subscription]:
        """Register interest in ``case_ids``; the first subscriber starts the polling task."""
        sub = Subscription(frozenset(case_ids), poll_interval)
        key = next(self._ids)
        self._subs[key] = sub
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"nextsign-poller-{self.conn_id}"
            )
        return key, sub

    def unsubscribe(self, key: int) -> None:
        """Drop a subscription; the poller stops after its last subscriber leaves."""
        self._subs.pop(key, None)
        if not self._subs:
            self._wake.set()

    def _interval(self) -> float:
        return min((s.poll_interval for s in self._subs.values()), default=1.0)

    async def _run(self) -> None:
        try:
            # Let triggers started in the same tick subscribe before the first round.
            for _ in range(3):
                await asyncio.sleep(0)
            client_cm = await self._factory(self.conn_id)
            async with client_cm as client:
                while self._subs:
                    started = time.monotonic()
                    await self._round(client)
                    wait = self._interval() - (time.monotonic() - started)
                    if self._subs and wait > 0:
                        self._wake.clear()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), wait)
                self._close()  # before the client's async close, so no one joins a dying poller
        except asyncio.CancelledError:
            raise
        except Exception as err:  # connection missing, bad config: nothing a retry fixes
            log.exception("NextSign poller for %s stopped", self.conn_id)
            self._broadcast(Snapshot({}, error=f"{type(err).__name__}: {err}", fatal=True))
        finally:
            self._close()

    def _close(self) -> None:
        self.closed = True
        if _POLLERS.get(self._registry_key) is self:
            del _POLLERS[self._registry_key]

    @property
    def _registry_key(self) -> tuple[str, int]:
        return (self.conn_id, id(asyncio.get_running_loop()))

    async def _round(self, client: Any) -> None:
        from airflow_provider_nextsign.exceptions import (
            NextSignConnectionError,
            NextSignRateLimitError,
            NextSignServerError,
        )

        wanted = sorted(set().union(*(s.case_ids for s in self._subs.values())))
        seen: dict[str, dict[str, Any] | None] = {}
        errors: list[str] = []
        for start in range(0, len(wanted), self.batch_size):
            batch = wanted[start : start + self.batch_size]
            self.requests += 1
            try:
                found = await client.get_cases(batch)
            except (
                TimeoutError,
                NextSignRateLimitError,
                NextSignServerError,
                NextSignConnectionError,
            ) as err:
                # Transient: keep waiting, the next round asks again.
                log.warning(
                    "Polling %d NextSign case(s) failed (%s); retrying next interval", len(batch), err
                )
                errors.append(str(err))
                continue
            by_id = {str(c.get("_id")): c for c in found}
            for case_id in batch:
                seen[case_id] = by_id.get(case_id)  # absent from Get Multiple = gone
        self._broadcast(Snapshot(seen, error="; ".join(errors) or None))

    def _broadcast(self, snapshot: Snapshot) -> None:
        for sub in list(self._subs.values()):
            mine = {k: v for k, v in snapshot.cases.items() if k in sub.case_ids}
            sub.inbox.put_nowait(Snapshot(mine, snapshot.error, snapshot.fatal))


_POLLERS: dict[tuple[str, int], CasePoller] = {}


def get_poller(conn_id: str, client_factory: ClientFactory) -> CasePoller:
    """Return the live poller of ``conn_id`` on the running loop, creating it when needed."""
    key = (conn_id, id(asyncio.get_running_loop()))
    poller = _POLLERS.get(key)
    if poller is None or poller.closed:
        poller = CasePoller(conn_id, client_factory, batch_size=BATCH_SIZE)
        _POLLERS[key] = poller
    return poller
