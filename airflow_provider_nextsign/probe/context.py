"""What every check works with: the provider's clients over the probe session, and the report.

:meth:`ProbeContext.call` runs one provider call and turns each request it sent into a report row (status,
envelope keys, item shape, time); :meth:`ProbeContext.judge` records the verdict on an assumption and
marks the rows that showed it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from airflow_provider_nextsign.api.client import NextSignClient
from airflow_provider_nextsign.api.errors import NextSignError
from airflow_provider_nextsign.api.retry import RetryPolicy
from airflow_provider_nextsign.probe.assumptions import Verdict, assumption
from airflow_provider_nextsign.probe.ledger import Entry, Ledger
from airflow_provider_nextsign.probe.redaction import Redactor
from airflow_provider_nextsign.probe.report import Finding, ProbeReport, Row
from airflow_provider_nextsign.probe.transport import Exchange, ProbeBudgetSpent, ProbeSession

__all__ = ["Call", "Clients", "ProbeContext"]

#: The probe's key for the deliberate 401: plainly not a real key.
WRONG_KEY = "airflow-provider-nextsign-probe-wrong-key"


@dataclass
class Clients:
    """The provider clients the probe uses, all sending through one :class:`ProbeSession`.

    ``main`` is the connection as configured (retries off: every request counts); the others differ in
    one setting each: a wrong API key, a company that does not exist, Convert pinned to v1 or v2.
    """

    main: NextSignClient
    wrong_key: NextSignClient
    wrong_company: NextSignClient
    convert: dict[str, NextSignClient]

    @classmethod
    def build(cls, client_kwargs: dict[str, Any], session: ProbeSession) -> Clients:
        """The clients for the connection's ``client_kwargs`` (as ``NextSignHook.client_kwargs`` gives)."""
        kwargs = {k: v for k, v in client_kwargs.items() if k not in ("api_profile", "convert_api_version")}
        once = RetryPolicy(max_attempts=1)
        main = NextSignClient(**kwargs, retry_policy=once, session=session)
        shared = {**kwargs, "budget": main.budget, "retry_policy": once, "session": session}
        return cls(
            main=main,
            wrong_key=NextSignClient(**{**shared, "api_key": WRONG_KEY}),
            wrong_company=NextSignClient(**{**shared, "company_id": secrets.token_hex(12)}),
            convert={
                version: NextSignClient(**shared, convert_api_version=version) for version in ("v1", "v2")
            },
        )


@dataclass
class Call:
    """The outcome of one provider call: its value or error, and the rows of the requests it sent."""

    value: Any = None
    error: BaseException | None = None
    rows: list[Row] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the call returned."""
        return self.error is None

    @property
    def exchange(self) -> Exchange | None:
        """The last request the call sent (None when nothing was sent)."""
        return self.exchanges[-1] if self.exchanges else None

    @property
    def status(self) -> int | None:
        """The HTTP status of the last request."""
        return self.exchange.status if self.exchange else None

    @property
    def body(self) -> Any:
        """The decoded body of the last answer."""
        return self.exchange.body if self.exchange else None

    @property
    def not_sent(self) -> bool:
        """True when the probe's request cap stopped the call before anything was sent."""
        return isinstance(self.error, ProbeBudgetSpent) and not self.exchanges


@dataclass
class ProbeContext:
    """The state of one probe run shared by the checks.

    :param clients: the provider clients.
    :param session: their counting session.
    :param report: where rows and findings go.
    :param ledger: the record of cases this run may create.
    :param redactor: what may be printed.
    :param form_id: the form for Forms Get and Tags (None: not checked).
    :param files_checked: whether the v3 file host may be probed.
    :param files_reason: why not, when it may not.
    :param progress: where a line per request goes (None: nowhere).
    """

    clients: Clients
    session: ProbeSession
    report: ProbeReport
    ledger: Ledger
    redactor: Redactor
    form_id: str | None = None
    files_checked: bool = True
    files_reason: str = ""
    progress: TextIO | None = None
    sleep: Callable[[float], Any] = time.sleep
    clock: Callable[[], float] = time.monotonic
    stored_url: str | None = None
    created_clock: float | None = None
    probe_cases: list[Entry] = field(default_factory=list)
    swept: int = 0

    def at_times(self, schedule: Iterable[float], started: float) -> Iterator[float]:
        """Each offset of ``schedule`` (seconds after ``started`` on :attr:`clock`), once that moment has
        come: the caller tries again at each one until it has its answer."""
        for at in schedule:
            wait = started + at - self.clock()
            if wait > 0:
                self.sleep(wait)
            yield at

    @property
    def client(self) -> NextSignClient:
        """The connection's own client."""
        return self.clients.main

    @property
    def case(self) -> Entry | None:
        """The case this run created and can still read (its id known), if any."""
        for entry in self.probe_cases:
            if entry.case_id:
                return entry
        return None

    def call(
        self,
        check: str,
        endpoint: str,
        action: Callable[[], Any],
        *,
        items: Callable[[Any], str | None] | None = None,
    ) -> Call:
        """Run ``action`` (one provider call) and add a row per request it sent.

        Errors of NextSign and the probe's request cap are caught into the :class:`Call`; anything else
        (an interrupt) goes on up.

        :param items: describes the case items of an answer body (for list endpoints).
        """
        first = len(self.session.exchanges)
        result = Call()
        try:
            result.value = action()
        except (NextSignError, ProbeBudgetSpent) as err:
            result.error = err
        result.exchanges = self.session.exchanges[first:]
        outcome = "ok" if result.error is None else type(result.error).__name__
        sent: list[Exchange | None] = list(result.exchanges) or [None]
        for exchange in sent:
            row = Row(
                check=check,
                endpoint=endpoint,
                status=exchange.status if exchange else None,
                envelope=self.redactor.key_names(exchange.body) if exchange else [],
                items=items(exchange.body) if exchange and items else None,
                seconds=exchange.seconds if exchange else 0.0,
                outcome=outcome if exchange else "not sent: the probe's request cap is reached",
                shape=self.redactor.shape(exchange.body) if exchange and exchange.body is not None else "",
            )
            result.rows.append(row)
            self.report.rows.append(row)
            self._progress(row)
        return result

    def judge(self, assumption_id: str, verdict: Verdict, detail: str, *calls: Call | None) -> None:
        """Record the verdict on ``assumption_id`` and mark the rows of ``calls`` with it."""
        assumption(assumption_id)  # a typo here must fail loudly
        self.report.findings[assumption_id] = Finding(assumption_id, verdict, detail)
        for call in calls:
            for row in call.rows if call else []:
                row.verdicts[assumption_id] = verdict.value

    def skip(self, reason: str, *assumption_ids: str) -> None:
        """Mark assumptions as not checked, with the reason."""
        for assumption_id in assumption_ids:
            if assumption_id not in self.report.findings:
                self.judge(assumption_id, Verdict.NOT_CHECKED, reason)

    def _progress(self, row: Row) -> None:
        if self.progress is None:
            return
        status = "-" if row.status is None else str(row.status)
        print(
            f"probe: {row.check:<26} {row.endpoint:<28} HTTP {status:<4} {row.seconds:5.2f}s {row.outcome}",
            file=self.progress,
            flush=True,
        )
