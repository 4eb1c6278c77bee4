"""``NextSignBaseOperator``: the connection and the hook every NextSign operator shares."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow_provider_nextsign.hooks.nextsign import NextSignHook

__all__ = ["DEFAULT_CONN_ID", "NextSignBaseOperator"]

#: The connection id operators use when none is given (``NextSignHook.default_conn_name``).
DEFAULT_CONN_ID = "nextsign_default"


class NextSignBaseOperator(BaseOperator):
    """Base class of the NextSign operators: holds the connection id and gives a lazily built hook.

    Subclasses call NextSign only through :attr:`hook`, which is built the first time ``execute`` uses
    it (the hook module is imported then too), so parsing a DAG file reads no connection and imports
    nothing of the HTTP client. One task run uses one hook, hence one HTTP session and one client.

    :param nextsign_conn_id: the NextSign connection (templated).
    :param hook_params: keyword arguments passed on to
        :class:`~airflow_provider_nextsign.hooks.nextsign.NextSignHook`, e.g.
        ``{"retry_policy": RetryPolicy(max_attempts=3)}`` to retry reads less.
    """

    template_fields: Sequence[str] = ("nextsign_conn_id",)

    def __init__(
        self,
        *,
        nextsign_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.nextsign_conn_id = nextsign_conn_id
        self.hook_params = dict(hook_params or {})

    @cached_property
    def hook(self) -> NextSignHook:
        """The :class:`~airflow_provider_nextsign.hooks.nextsign.NextSignHook` of ``nextsign_conn_id``,
        built on first use with ``hook_params``."""
        from airflow_provider_nextsign.hooks.nextsign import NextSignHook

        return NextSignHook(nextsign_conn_id=self.nextsign_conn_id, **self.hook_params)
