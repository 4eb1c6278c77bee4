"""Watching cases for their signing state, written once for the sync and async clients (no I/O here).

The docs show Get Multiple items as summaries (``_id, title, createdAt, updatedAt``) and only Case Get as
the full case (nextsign-api.md §0 P10), while richer accounts may send full items. So a poll:

1. asks Get Multiple for the ids in batches: the cheap change detector;
2. uses a full item directly; for a summary, reuses what it read before when ``updatedAt`` has not
   moved, knows a case is pending while its ``updatedAt`` still equals its ``createdAt`` (nothing has
   happened to it), and otherwise reads it with Case Get (one request per case seen changed);
3. treats a case Get Multiple does not show as *not visible yet* while its grace window lasts
   (production saw Case Get miss new cases for seconds, P8), and after it asks Case Get: only the
   documented not-found answer makes it "deleted". Any other error leaves it "unknown", and an error
   reaches only the cases of the request that failed.

:meth:`CaseWatch.poll` is a generator: it yields the reads it needs (:class:`GetMultiple`,
:class:`GetCase`) and receives each answer (the items, the case, :data:`ABSENT` for NextSign's documented
not-found answer, or the ``NextSignError`` raised). :func:`drive` runs it with a sync client; the async
poller runs the same generator with ``await``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

from airflow_provider_nextsign.api.cases import CaseState, case_state, signed_documents
from airflow_provider_nextsign.api.classify import confirms_absence
from airflow_provider_nextsign.api.errors import NextSignError
from airflow_provider_nextsign.api.shapes import is_full_case

__all__ = [
    "ABSENT",
    "UNKNOWN",
    "CaseWatch",
    "GetCase",
    "GetMultiple",
    "Observation",
    "answer_of",
    "drive",
    "drive_async",
    "read_in_full",
]

#: The state of a case whose state this poll could not learn (an error, or missing past its grace).
UNKNOWN = "unknown"
#: Case Get Multiple ids per request (NextSign documents no maximum; this keeps URLs short).
BATCH_SIZE = 50


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


#: The answer to a read when NextSign confirmed, in its documented words, that the case(s) do not exist.
ABSENT: Any = _Absent()


@dataclass(frozen=True)
class GetMultiple:
    """Read these ids with Case Get Multiple."""

    case_ids: tuple[str, ...]


@dataclass(frozen=True)
class GetCase:
    """Read this case with Case Get."""

    case_id: str


Read = GetMultiple | GetCase


@dataclass
class Observation:
    """What one poll learned of one case.

    :param state: a :class:`~.cases.CaseState` value, or :data:`UNKNOWN`.
    :param case: the full case body when it was read (or known unchanged).
    :param visible: False while the case is missing from reads inside its grace window.
    :param error: why the state is unknown, when a read failed.
    :param created_at: the case's ``createdAt`` (epoch seconds) when a read showed it.
    """

    state: str
    case: dict[str, Any] | None = None
    visible: bool = True
    error: NextSignError | None = None
    created_at: float | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON-safe ``{"state", "signed_documents"}`` the sensor hands downstream."""
        return {"state": self.state, "signed_documents": signed_documents(self.case) if self.case else []}


def answer_of(read: Callable[[], Any]) -> Any:
    """Run one read and turn its outcome into what :meth:`CaseWatch.poll` expects: the answer,
    :data:`ABSENT` for a documented not-found, or the ``NextSignError``."""
    try:
        return read()
    except NextSignError as err:
        return ABSENT if confirms_absence(err) else err


class CaseWatch:
    """Known full bodies of watched cases across polls (so unchanged summaries cost nothing).

    :param batch_size: ids per Get Multiple request.
    """

    def __init__(self, batch_size: int = BATCH_SIZE) -> None:
        self.batch_size = batch_size
        self._known: dict[str, tuple[Any, dict[str, Any] | None]] = {}

    def forget(self, case_ids: Iterable[str]) -> None:
        """Drop what is known of these cases (nobody waits for them any more)."""
        for case_id in case_ids:
            self._known.pop(case_id, None)

    def known_cases(self) -> int:
        """How many full bodies are kept."""
        return len(self._known)

    def poll(
        self,
        case_ids: Iterable[str],
        *,
        in_grace: Callable[[str], bool],
        bodies: bool = False,
        get_multiple: bool = True,
    ) -> Generator[Read, Any, dict[str, Observation]]:
        """Learn the state of every id; yields reads, receives answers, returns ``{id: Observation}``.

        :param in_grace: whether a case id is still inside its not-yet-visible window.
        :param bodies: every visible case's full body is needed (a report), not only its state.
        :param get_multiple: ask Get Multiple first. False (the account's Get Multiple answers summaries
            and only bodies are wanted): read every case with Case Get at once.
        """
        ids = list(dict.fromkeys(case_ids))
        result: dict[str, Observation] = {}
        listed: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), self.batch_size) if get_multiple else ():
            batch = tuple(ids[start : start + self.batch_size])
            answer = yield GetMultiple(batch)
            if isinstance(answer, NextSignError):
                for case_id in batch:
                    result[case_id] = Observation(UNKNOWN, error=answer)
            elif answer is not ABSENT:
                listed.update((str(item.get("_id")), item) for item in answer if item.get("_id") in batch)
        for case_id in ids:
            if case_id in result:
                continue
            item = listed.get(case_id)
            if item is not None and is_full_case(item):
                self._known[case_id] = (item.get("updatedAt"), item)
                result[case_id] = _observed(item)
                continue
            known = self._known.get(case_id)
            stamp = item.get("updatedAt") if item is not None else None
            unchanged = item is not None and stamp is not None and known is not None and known[0] == stamp
            if unchanged and known is not None and not (bodies and known[1] is None):
                result[case_id] = _observed(known[1], item)  # unchanged since the last full read
                continue
            if not bodies and item is not None and stamp is not None and stamp == item.get("createdAt"):
                # Never changed since it was created: nobody signed, denied or expired it yet.
                self._known[case_id] = (stamp, None)
                result[case_id] = _observed(None, item)
                continue
            if item is None and get_multiple and in_grace(case_id):
                result[case_id] = Observation(CaseState.PENDING.value, visible=False)
                continue
            answer = yield GetCase(case_id)
            if isinstance(answer, NextSignError):
                result[case_id] = Observation(UNKNOWN, error=answer)
            elif answer is ABSENT or not answer:
                self._known.pop(case_id, None)
                state = CaseState.PENDING if in_grace(case_id) else CaseState.DELETED
                result[case_id] = Observation(state.value, visible=False)
            else:
                self._known[case_id] = (answer.get("updatedAt"), answer)
                result[case_id] = _observed(answer)
        return result


def _observed(case: dict[str, Any] | None, item: dict[str, Any] | None = None) -> Observation:
    """The observation of a full ``case`` (None: a case known never to have changed, so pending)."""
    if case is None:
        return Observation(CaseState.PENDING.value, created_at=_created((item or {}).get("createdAt")))
    source = case.get("createdAt") or (item or {}).get("createdAt")
    return Observation(case_state(case).value, case=case, created_at=_created(source))


def _created(value: Any) -> float | None:
    from airflow_provider_nextsign.api.lookup import created_at

    moment = created_at({"createdAt": value})
    return moment.timestamp() if moment is not None else None


def drive(poll: Generator[Read, Any, dict[str, Observation]], client: Any) -> dict[str, Observation]:
    """Run a :meth:`CaseWatch.poll` with a sync client (``get_cases`` and ``get_case`` calls)."""
    try:
        read = next(poll)
        while True:
            read = poll.send(_answer(read, client))
    except StopIteration as stop:
        return stop.value


def read_in_full(
    case_ids: Iterable[str],
    client: Any,
    *,
    batch_size: int,
    in_grace: Callable[[str], bool],
    get_multiple: bool = True,
) -> dict[str, Observation]:
    """One full read of ``case_ids`` with a sync client (``get_cases`` and ``get_case``): Get Multiple in
    batches, Case Get for each summary and for each missing id ``in_grace`` does not excuse (with
    ``get_multiple`` False: Case Get for every id).

    :raises NextSignError: the first read that failed (none is dropped).
    """
    poll = CaseWatch(batch_size).poll(case_ids, in_grace=in_grace, bodies=True, get_multiple=get_multiple)
    observations = drive(poll, client)
    for seen in observations.values():
        if seen.error is not None:
            raise seen.error
    return observations


def _answer(read: Read, client: Any) -> Any:
    if isinstance(read, GetMultiple):
        ids = list(read.case_ids)
        answer = answer_of(lambda: client.get_cases(ids))
        return ABSENT if isinstance(answer, list) and not answer else answer
    case_id = read.case_id
    return answer_of(lambda: client.get_case(case_id))


async def drive_async(
    poll: Generator[Read, Any, dict[str, Observation]], client: Any
) -> dict[str, Observation]:
    """Run a :meth:`CaseWatch.poll` with an async client (awaiting ``get_cases`` and ``get_case``)."""
    try:
        read = next(poll)
        while True:
            read = poll.send(await _answer_async(read, client))
    except StopIteration as stop:
        return stop.value


async def _answer_async(read: Read, client: Any) -> Any:
    try:
        if isinstance(read, GetMultiple):
            found = await client.get_cases(list(read.case_ids))
            return found if found else ABSENT
        return await client.get_case(read.case_id)
    except NextSignError as err:
        return ABSENT if confirms_absence(err) else err
