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
    """One trigger's interest: its case ids, how often it wants news, its grace window and its inbox."""

    case_ids: frozenset[str]
    poll_interval: float
    grace_until: float = 0.0
    inbox: asyncio.Queue = field(default_factory=asyncio.Queue)


@dataclass
class Snapshot:
    """What one round learned of each case (an ``api.watch.Observation``), or the error that stopped it."""

    cases: dict[str, Any]
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
        from airflow_provider_nextsign.api.watch import CaseWatch

        self._watch = CaseWatch(batch_size)

    def subscribe(
        self, case_ids: Iterable[str], poll_interval: float, grace_until: float = 0.0
    ) -> tuple[int, Subscription]:
        """Register interest in ``case_ids``; the first subscriber starts the polling task.

        ``grace_until``: until then (epoch seconds) a case NextSign does not show counts as pending.
        """
        sub = Subscription(frozenset(case_ids), poll_interval, grace_until)
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
        from airflow_provider_nextsign.api.watch import drive_async

        subs = list(self._subs.values())
        wanted = sorted(set().union(*(s.case_ids for s in subs)))
        now = time.time()

        def in_grace(case_id: str) -> bool:
            return any(case_id in s.case_ids and now < s.grace_until for s in subs)

        counted = _Counting(client, self)
        observations = await drive_async(self._watch.poll(wanted, in_grace=in_grace), counted)
        errors = sorted({str(o.error) for o in observations.values() if o.error is not None})
        for error in errors:
            log.warning("Polling NextSign cases failed (%s); retrying next interval", error)
        self._broadcast(Snapshot(observations, error="; ".join(errors) or None))

    def _broadcast(self, snapshot: Snapshot) -> None:
        for sub in list(self._subs.values()):
            mine = {k: v for k, v in snapshot.cases.items() if k in sub.case_ids}
            sub.inbox.put_nowait(Snapshot(mine, snapshot.error, snapshot.fatal))


class _Counting:
    """The poller's client, counting every request it sends (for tests and benchmarks)."""

    def __init__(self, client: Any, poller: CasePoller) -> None:
        self._client, self._poller = client, poller

    async def get_cases(self, ids: list[str]) -> Any:
        self._poller.requests += 1
        return await self._client.get_cases(ids)

    async def get_case(self, case_id: str) -> Any:
        self._poller.requests += 1
        return await self._client.get_case(case_id)


_POLLERS: dict[tuple[str, int], CasePoller] = {}


def get_poller(conn_id: str, client_factory: ClientFactory) -> CasePoller:
    """Return the live poller of ``conn_id`` on the running loop, creating it when needed."""
    key = (conn_id, id(asyncio.get_running_loop()))
    poller = _POLLERS.get(key)
    if poller is None or poller.closed:
        poller = CasePoller(conn_id, client_factory, batch_size=BATCH_SIZE)
        _POLLERS[key] = poller
    return poller
