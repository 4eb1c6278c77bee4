"""Write an asset event into Airflow's metadata database: the provider's only use of Airflow internals.

Airflow 3.3 has no public Python interface for recording an asset event outside a task or a trigger:
its public way is the REST API (``POST /api/v2/assets/events``), whose handler does what
:func:`record_asset_event` does: look the asset up and call the configured asset manager
(``[core] asset_manager_class``). The receiver runs inside the API server, so it writes the same way,
without an HTTP round trip to itself and the credentials that would take. What it relies on:

* ``airflow.utils.session.create_session``: a metadata-database session that commits on success;
* ``airflow.models.asset``: ``AssetModel`` (``id``, ``name``, ``uri``), ``AssetActive`` (``name``,
  ``uri``) and ``AssetEvent`` (``id``, ``asset_id``, ``extra``), to find the active assets of a URI and
  to see whether a delivery was recorded before;
* ``airflow.assets.manager.asset_manager.register_asset_change(asset=, extra=, session=,
  source_is_api=[, partition_key=])``, which writes the event and queues the DAG runs.

Row locking goes through SQLAlchemy's public ``with_for_update``, under Airflow's documented
``[scheduler] use_row_level_locking`` option. :func:`airflow_internals` lists the rest, and
:func:`check_airflow_internals` (run by the test suite on every supported Airflow 3) says what changed
when an Airflow upgrade moves any of it.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "DEDUPE_FIELD",
    "AirflowInternal",
    "AssetEventOutcome",
    "airflow_internals",
    "check_airflow_internals",
    "record_asset_event",
]

#: The key of the event's extra that holds the dedupe key.
DEDUPE_FIELD = "dedupe_key"

# SQLite ignores FOR UPDATE; this lock keeps check-then-write atomic within one API-server process.
# On PostgreSQL and MySQL the row lock on the asset does it across processes too.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class AssetEventOutcome:
    """What :func:`record_asset_event` did: ``recorded`` (the new event ids), ``duplicate`` (the id of the
    event recorded before) or ``no_asset`` (no active asset has the URI: no DAG is scheduled on it)."""

    status: Literal["recorded", "duplicate", "no_asset"]
    event_ids: tuple[int, ...] = ()


def record_asset_event(
    uri: str, extra: Mapping[str, Any], *, dedupe_key: str, partition_key: str | None = None
) -> AssetEventOutcome:
    """Record one event on every active asset with this URI, unless one of them has ``dedupe_key``.

    The key is stored in the event's extra under :data:`DEDUPE_FIELD`. The check and the write share one
    transaction holding a lock on the assets' rows, so copies of a delivery arriving at once record one
    event. ``partition_key`` needs Airflow 3.2 (partitioned assets); pass ``None`` below it.
    """
    from airflow.utils.session import create_session

    with _LOCK, create_session() as session:
        return _record(uri, {**extra, DEDUPE_FIELD: dedupe_key}, dedupe_key, partition_key, session)


def _record(
    uri: str, extra: dict[str, Any], dedupe_key: str, partition_key: str | None, session: Session
) -> AssetEventOutcome:
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetActive, AssetEvent, AssetModel
    from sqlalchemy import JSON, select, type_coerce

    query = (
        select(AssetModel)
        .join(AssetActive, (AssetActive.name == AssetModel.name) & (AssetActive.uri == AssetModel.uri))
        .where(AssetModel.uri == uri)
        .order_by(AssetModel.id)
    )
    assets = session.scalars(_locked(query)).all()
    if not assets:
        return AssetEventOutcome("no_asset")

    seen = session.scalar(
        select(AssetEvent.id)
        .where(
            AssetEvent.asset_id.in_([asset.id for asset in assets]),
            # Airflow 3.1 types the column as sqlalchemy_jsonfield's JSONField, which has no JSON paths;
            # read it as JSON without a SQL cast (a CAST to JSON would turn text into 0 on SQLite).
            type_coerce(AssetEvent.extra, JSON)[DEDUPE_FIELD].as_string() == dedupe_key,
        )
        .limit(1)
    )
    if seen is not None:
        return AssetEventOutcome("duplicate", (seen,))

    partition: dict[str, Any] = {} if partition_key is None else {"partition_key": partition_key}
    event_ids: list[int] = []
    for asset in assets:
        event = asset_manager.register_asset_change(
            asset=asset, extra=extra, source_is_api=True, session=session, **partition
        )
        if event is not None:
            event_ids.append(event.id)
    return AssetEventOutcome("recorded", tuple(event_ids))


def _locked(query: Any) -> Any:
    """``query`` locking the rows it reads (``FOR NO KEY UPDATE`` on PostgreSQL), as Airflow locks
    rows, unless ``[scheduler] use_row_level_locking`` is off. SQLite has no row locks: :data:`_LOCK`."""
    from airflow.providers.common.compat.sdk import conf

    if not conf.getboolean("scheduler", "use_row_level_locking", fallback=True):
        return query
    return query.with_for_update(key_share=True)


# What an Airflow upgrade could change


@dataclass(frozen=True)
class AirflowInternal:
    """One thing of Airflow this module uses: ``module.name``, with what it must still have.

    :param attributes: attributes (columns of a model) it must have.
    :param parameters: keyword arguments it must name in its signature (one that only ``**kwargs`` took
        would be accepted and ignored).
    :param keywords: keyword arguments it must accept, by name or through ``**kwargs``.
    """

    module: str
    name: str
    attributes: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        """What is missing, one sentence each (empty when everything is there)."""
        where = f"{self.module}.{self.name}"
        try:
            obj: Any = importlib.import_module(self.module)
        except ImportError as err:
            return [f"module {self.module} cannot be imported ({err})"]
        for part in self.name.split("."):
            if not hasattr(obj, part):
                return [f"{where} is gone"]
            obj = getattr(obj, part)
        found = [f"{where} has no attribute {name!r}" for name in self.attributes if not hasattr(obj, name)]
        if self.parameters or self.keywords:
            try:
                params = inspect.signature(obj).parameters
            except (TypeError, ValueError):
                return [*found, f"{where} is no longer a function whose signature can be read"]
            named = {n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
            any_keyword = any(p.kind is p.VAR_KEYWORD for p in params.values())
            found += [f"{where} has no parameter {name!r}" for name in self.parameters if name not in named]
            found += [
                f"{where} no longer accepts the keyword argument {name!r}"
                for name in self.keywords
                if name not in named and not any_keyword
            ]
        return found


def airflow_internals(*, partitioned_assets: bool) -> tuple[AirflowInternal, ...]:
    """What :func:`record_asset_event` uses of Airflow (``partition_key`` only with partitioned assets)."""
    register = ("asset", "extra", "session", *(("partition_key",) if partitioned_assets else ()))
    return (
        AirflowInternal("airflow.utils.session", "create_session"),
        AirflowInternal("airflow.models.asset", "AssetModel", attributes=("id", "name", "uri")),
        AirflowInternal("airflow.models.asset", "AssetActive", attributes=("name", "uri")),
        AirflowInternal("airflow.models.asset", "AssetEvent", attributes=("id", "asset_id", "extra")),
        AirflowInternal(
            "airflow.assets.manager",
            "asset_manager.register_asset_change",
            parameters=register,
            keywords=("source_is_api",),
        ),
    )


def check_airflow_internals(internals: Iterable[AirflowInternal] | None = None) -> list[str]:
    """Everything :func:`record_asset_event` relies on that this Airflow no longer has (empty: all there)."""
    if internals is None:
        from airflow_provider_nextsign.compat import PARTITIONED_ASSETS

        internals = airflow_internals(partitioned_assets=PARTITIONED_ASSETS.available)
    return [problem for internal in internals for problem in internal.problems()]
