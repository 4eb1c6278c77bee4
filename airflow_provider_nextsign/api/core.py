"""What the sync and async clients share, written once and free of I/O.

Both clients are thin transports (``requests`` and ``aiohttp``) around this core:

- :class:`ClientCore` holds the checked settings, the endpoints, the retry policy and the budget;
- each read is a *plan*: a generator that yields the :class:`Call` it needs, receives the decoded
  body (or has the ``NextSignError`` thrown into it) and returns the result. :func:`run` drives a plan
  with a sync ``send``; :func:`run_async` with an async one. Batching, the meaning of a 404, the
  answer's shape and paging are decided here, never in a transport;
- :func:`interpret` turns an HTTP answer into the body or the typed error (through ``classify``);
- :func:`user_agent` names the transport that really sends the request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Unpack, cast

from airflow_provider_nextsign import __version__
from airflow_provider_nextsign.api import payloads, shapes
from airflow_provider_nextsign.api.classify import classify, confirms_absence
from airflow_provider_nextsign.api.endpoints import Endpoints
from airflow_provider_nextsign.api.errors import NextSignError, NextSignNotFoundError
from airflow_provider_nextsign.api.ratelimit import Budget
from airflow_provider_nextsign.api.retry import RetryPolicy
from airflow_provider_nextsign.api.settings import ApiProfile, ClientSettings, SettingsOptions

__all__ = ["Call", "ClientBase", "ClientCore", "interpret", "run", "run_async", "user_agent"]

T = TypeVar("T")
#: A plan: yields calls, receives bodies, returns its result.
Plan = Generator["Call", Any, T]

#: Case ids per Get Multiple request (NextSign documents no maximum; this keeps URLs short).
DEFAULT_BATCH_SIZE = 50


def user_agent(transport: str, version: str) -> str:
    """``airflow-provider-nextsign/<ours> <transport>/<its version>``."""
    return f"airflow-provider-nextsign/{__version__} {transport}/{version}"


@dataclass(frozen=True)
class Call:
    """One HTTP request to NextSign, as the core wants it sent."""

    operation: str
    method: str
    url: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Any = None
    data: Any = None
    write: bool = False
    timeout: float | None = None


class ClientOptions(SettingsOptions, total=False):
    """The keyword arguments both clients take, declared once (each documented on
    :class:`~airflow_provider_nextsign.api.client.NextSignClient`)."""

    retry_policy: RetryPolicy | None
    budget: Budget | None
    batch_size: int


#: The names :class:`ClientOptions` declares.
CLIENT_OPTIONS = frozenset(ClientOptions.__optional_keys__ | ClientOptions.__required_keys__)


@dataclass
class ClientCore:
    """The settings and read plans both clients share (build it with :meth:`build`)."""

    settings: ClientSettings
    retry_policy: RetryPolicy
    budget: Budget
    batch_size: int = DEFAULT_BATCH_SIZE
    lookup_hints: dict[tuple[str, str | None], dict[str, int]] = field(default_factory=dict)

    @classmethod
    def build(cls, company_id: str, api_key: str, **options: Unpack[ClientOptions]) -> ClientCore:
        """Check the arguments (naming the one to fix) and pick the shared budget when none is given.

        :raises TypeError: an option neither client takes (a typo would otherwise be ignored).
        """
        unknown = sorted(set(options) - CLIENT_OPTIONS)
        if unknown:
            raise TypeError(
                f"unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                f"the NextSign clients take {', '.join(sorted(CLIENT_OPTIONS))}"
            )
        retry_policy = options.pop("retry_policy", None)
        budget = options.pop("budget", None)
        batch_size = options.pop("batch_size", DEFAULT_BATCH_SIZE)
        settings = ClientSettings.build(company_id, api_key, **cast(SettingsOptions, options))
        return cls(settings, retry_policy or RetryPolicy(), budget or settings.shared_budget(), batch_size)

    @property
    def endpoints(self) -> Endpoints:
        """Every URL of this company."""
        return self.settings.endpoints

    def auth_headers(self) -> dict[str, str]:
        """The Bearer header (built per request, never stored where a log could show it)."""
        return {"Authorization": f"Bearer {self.settings.api_key}"}

    # Plans of the reads both clients offer

    def get_case(self, case_id: str) -> Plan[dict[str, Any]]:
        """Case Get."""
        case_id = payloads.check_id(case_id, "case_id")
        body = yield Call("case_get", "GET", self.endpoints.case(case_id))
        return shapes.case_in(body) or {}

    def get_cases(self, case_ids: Iterable[str]) -> Plan[list[dict[str, Any]]]:
        """Case Get Multiple in batches, items as NextSign sends them. Only the documented "none of
        these exist" answer skips a batch; any other error is raised."""
        ids = payloads.check_ids(case_ids, "case_ids")
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), self.batch_size):
            batch = ids[start : start + self.batch_size]
            try:
                body = yield Call("cases_get_multiple", "GET", self.endpoints.cases(batch))
            except NextSignNotFoundError as err:
                if not confirms_absence(err):
                    raise
                continue
            found.extend(shapes.cases_in(body) or [])
        return found

    def list_page(self, params: Mapping[str, Any]) -> Plan[list[dict[str, Any]]]:
        """One Case List page for the given query (filters, ``limit`` and ``index``)."""
        body = yield Call("cases_list", "GET", self.endpoints.case_list(), params=dict(params))
        return shapes.cases_in(body) or []


def interpret(operation: str, status: int, content: bytes, retry_after: str | None) -> Any:
    """The body of a success answer, or the typed ``NextSignError``.

    ``content`` is the raw body: JSON (in any UTF encoding ``json`` detects), else text.
    """
    try:
        body: Any = json.loads(content) if content else None
    except ValueError:
        body = content.decode("utf-8", "replace")
    return classify(operation, status, body, retry_after=retry_after)


def run(plan: Plan[T], send: Callable[[Call], Any]) -> T:
    """Drive ``plan`` with a sync ``send`` (errors are thrown into the plan, which may handle them)."""
    try:
        call = next(plan)
        while True:
            try:
                body = send(call)
            except NextSignError as err:
                call = plan.throw(err)
            else:
                call = plan.send(body)
    except StopIteration as stop:
        return stop.value


async def run_async(plan: Plan[T], send: Callable[[Call], Awaitable[Any]]) -> T:
    """Drive ``plan`` with an async ``send``."""
    try:
        call = next(plan)
        while True:
            try:
                body = await send(call)
            except NextSignError as err:
                call = plan.throw(err)
            else:
                call = plan.send(body)
    except StopIteration as stop:
        return stop.value


class ClientBase:
    """What both clients expose of their core: settings read-only, policy, budget and batch size settable."""

    _core: ClientCore

    def __repr__(self) -> str:
        return f"{type(self).__name__}(company_id={self.company_id!r}, host={self.endpoints.host!r})"

    @property
    def company_id(self) -> str:
        """The ``{company}`` path segment."""
        return self._core.settings.company_id

    @property
    def endpoints(self) -> Endpoints:
        """Every URL of this company."""
        return self._core.endpoints

    @property
    def timeout(self) -> float:
        """Seconds to wait for each answer."""
        return self._core.settings.timeout

    @property
    def convert_api_version(self) -> str:
        """``auto``, ``v1`` or ``v2``: the path of Document Convert."""
        return self._core.settings.convert_api_version

    @property
    def api_profile(self) -> ApiProfile:
        """What the probe learned about the account (connection extra ``api_profile``)."""
        return self._core.settings.api_profile

    @property
    def retry_policy(self) -> RetryPolicy:
        """How reads (and provably unsent creates) are retried."""
        return self._core.retry_policy

    @retry_policy.setter
    def retry_policy(self, policy: RetryPolicy) -> None:
        self._core.retry_policy = policy

    @property
    def budget(self) -> Budget:
        """The request budget every request takes a token from."""
        return self._core.budget

    @budget.setter
    def budget(self, budget: Budget) -> None:
        self._core.budget = budget

    @property
    def batch_size(self) -> int:
        """Case ids per Get Multiple request."""
        return self._core.batch_size

    @batch_size.setter
    def batch_size(self, size: int) -> None:
        self._core.batch_size = size
