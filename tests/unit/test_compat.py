"""The version gates: each feature's flag agrees with what this Airflow really has, and says what to do."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect

import pytest

from airflow_provider_nextsign.compat import (
    API_SERVER_PLUGINS,
    ASSET_STATE_STORE,
    ASSET_WATCHERS,
    ASSETS,
    CONN_FIELDS,
    FEATURES,
    PARTITIONED_ASSETS,
    AirflowFeature,
    UnsupportedAirflowFeatureError,
)

INSTALLED = importlib.metadata.version("apache-airflow")


def _has(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


# Feature detection, independent of the version flags the gates use: if a gate's minimum version is
# wrong, the CI job of the Airflow version in between fails here.


def test_assets_and_watchers_flags_match_airflow_sdk():
    assert ASSETS.available == _has("airflow.sdk", "Asset")
    assert ASSET_WATCHERS.available == _has("airflow.triggers.base", "BaseEventTrigger")
    assert ASSET_WATCHERS.available == _has("airflow.sdk", "AssetWatcher")


def test_api_server_plugin_flag_matches_fastapi_apps_support():
    from airflow.plugins_manager import AirflowPlugin

    assert API_SERVER_PLUGINS.available == hasattr(AirflowPlugin, "fastapi_apps")


def test_partitioned_assets_flag_matches_the_timetable_and_the_asset_manager():
    assert PARTITIONED_ASSETS.available == _has("airflow.sdk", "PartitionedAssetTimetable")
    if ASSETS.available:
        from airflow.assets.manager import AssetManager

        parameters = inspect.signature(AssetManager.register_asset_change).parameters
        assert PARTITIONED_ASSETS.available == ("partition_key" in parameters)


def test_asset_state_store_flag_matches_what_an_event_trigger_gets():
    if not ASSET_WATCHERS.available:
        assert not ASSET_STATE_STORE.available
        return
    from airflow_provider_nextsign.triggers.events import NextSignCaseEventTrigger

    assert ASSET_STATE_STORE.available == hasattr(NextSignCaseEventTrigger(), "asset_state_store")


def test_conn_fields_flag_matches_the_providers_manager():
    from airflow.providers_manager import ProvidersManager

    # 3.2 added the step that builds connection forms from provider info without importing hooks.
    assert CONN_FIELDS.available == hasattr(ProvidersManager, "_load_ui_metadata")


def test_every_feature_is_in_the_table_with_a_version_we_support():
    assert set(FEATURES) == {
        ASSETS,
        ASSET_WATCHERS,
        API_SERVER_PLUGINS,
        PARTITIONED_ASSETS,
        ASSET_STATE_STORE,
        CONN_FIELDS,
    }
    for feature in FEATURES:
        major, minor = (int(part) for part in feature.min_version.split("."))
        assert (major, minor) >= (3, 1), feature  # 3.0 is not supported: 3.1 is the oldest Airflow 3


def test_message_names_the_feature_the_versions_and_the_fallback():
    message = PARTITIONED_ASSETS.message()
    assert message.startswith("Partitioned assets")
    assert "needs Airflow 3.2 or newer" in message
    assert f"(this is Airflow {INSTALLED})" in message
    assert "schedule=[asset]" in message  # the fallback


def test_require_raises_an_import_error_with_the_message_only_when_missing():
    missing = AirflowFeature("Teleportation", "9.9", False, "walk instead.")
    expected = r"^Teleportation: needs Airflow 9\.9 or newer \(this is Airflow .+\)\. walk instead\.$"
    with pytest.raises(UnsupportedAirflowFeatureError, match=expected) as err:
        missing.require()
    assert isinstance(err.value, ImportError)  # a DAG file that needs it fails to parse with this message
    AirflowFeature("Walking", "3.1", True, "").require()  # nothing to say
