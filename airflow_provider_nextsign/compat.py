"""Which Airflow features this Airflow has: the one place for the provider's version gates.

The provider supports Airflow 2.11 and Airflow 3.1 or newer (docs/installation.md has the table). A
feature that needs a newer Airflow is an :class:`AirflowFeature`: its flag comes from
``apache-airflow-providers-common-compat``'s version flags (never from parsing ``airflow.__version__``),
and :meth:`AirflowFeature.message` says which version it needs and what to do instead. Code that
cannot work without the feature calls :meth:`AirflowFeature.require` at import time, so a DAG file
fails to parse (or a plugin logs and mounts nothing) instead of failing in a task or a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow.providers.common.compat.version_compat import (
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
)

__all__ = [
    "API_SERVER_PLUGINS",
    "ASSETS",
    "ASSET_STATE_STORE",
    "ASSET_WATCHERS",
    "CONN_FIELDS",
    "FEATURES",
    "PARTITIONED_ASSETS",
    "AirflowFeature",
    "UnsupportedAirflowFeatureError",
    "installed_airflow_version",
]

_SENSOR = "wait for signatures with NextSignCaseSensor (deferrable=True) instead."


class UnsupportedAirflowFeatureError(ImportError):
    """This Airflow lacks a feature the code needs; the message names the version and the fallback."""


def installed_airflow_version() -> str:
    """The running Airflow's version, as shown in messages."""
    from airflow import __version__

    return str(__version__)


@dataclass(frozen=True)
class AirflowFeature:
    """An Airflow feature the provider uses, the Airflow version it needs, and the fallback below it."""

    name: str
    min_version: str
    available: bool
    fallback: str

    def message(self) -> str:
        """``<feature>: needs Airflow <min> or newer (this is Airflow <installed>). <fallback>``."""
        return (
            f"{self.name}: needs Airflow {self.min_version} or newer "
            f"(this is Airflow {installed_airflow_version()}). {self.fallback}"
        )

    def require(self) -> None:
        """Raise :class:`UnsupportedAirflowFeatureError` with :meth:`message` unless available."""
        if not self.available:
            raise UnsupportedAirflowFeatureError(self.message())


# Airflow 3.0 introduced assets in airflow.sdk, asset watchers (event triggers) and API-server plugins;
# the provider's floor for Airflow 3 is 3.1, so that is the version the gates name.
ASSETS = AirflowFeature(
    "NextSign case-event assets (nextsign://<company>/<trigger>) and asset-scheduled DAGs",
    "3.1",
    AIRFLOW_V_3_1_PLUS,
    f"On Airflow 2, {_SENSOR}",
)
ASSET_WATCHERS = AirflowFeature(
    "NextSignCaseEventTrigger (asset watchers and event triggers)",
    "3.1",
    AIRFLOW_V_3_1_PLUS,
    f"On Airflow 2, {_SENSOR}",
)
API_SERVER_PLUGINS = AirflowFeature(
    "The NextSign webhook receiver (a plugin of the Airflow 3 API server)",
    "3.1",
    AIRFLOW_V_3_1_PLUS,
    f"Nothing is mounted; {_SENSOR}",
)
PARTITIONED_ASSETS = AirflowFeature(
    "Partitioned assets (PartitionedAssetTimetable, asset events with the case id as partition key)",
    "3.2",
    AIRFLOW_V_3_2_PLUS,
    "The webhook receiver records events without a partition key ([nextsign] webhook_partition_by_case "
    "has no effect): schedule DAGs on the asset itself (schedule=[asset]); one run may then hold several "
    "cases, which airflow_provider_nextsign.assets.case_ids_from_events lists.",
)
ASSET_STATE_STORE = AirflowFeature(
    "The asset state store (where NextSignCaseEventTrigger keeps its cursor)",
    "3.3",
    AIRFLOW_V_3_3_PLUS,
    "The watcher keeps its cursor in memory: after a triggerer restart it learns the signed cases "
    "again and does not report the ones signed while it was down.",
)
CONN_FIELDS = AirflowFeature(
    "Connection forms declared in the provider info (conn-fields)",
    "3.2",
    AIRFLOW_V_3_2_PLUS,
    "The form comes from NextSignHook.get_connection_form_widgets and get_ui_field_behaviour instead.",
)

#: Every gated feature, in the order of the compatibility table in docs/installation.md.
FEATURES: tuple[AirflowFeature, ...] = (
    CONN_FIELDS,
    ASSETS,
    ASSET_WATCHERS,
    API_SERVER_PLUGINS,
    PARTITIONED_ASSETS,
    ASSET_STATE_STORE,
)
