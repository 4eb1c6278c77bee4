"""What the webhook recorder needs of Airflow internals: still there, or a message naming what moved."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_nextsign.compat import API_SERVER_PLUGINS, PARTITIONED_ASSETS, installed_airflow_version
from airflow_provider_nextsign.webhooks import asset_events
from airflow_provider_nextsign.webhooks.asset_events import (
    AirflowInternal,
    airflow_internals,
    check_airflow_internals,
)

AIRFLOW_3 = pytest.mark.skipif(not API_SERVER_PLUGINS.available, reason=API_SERVER_PLUGINS.message())
HERE = __name__


class Model:
    id = 1
    uri = "nextsign://acme/case_signed"


def register_with_kwargs(*, asset: object, session: object, **kwargs: object) -> None:
    """Takes anything through **kwargs, as Airflow 3.1's register_asset_change does."""


def register_strict(*, asset: object, session: object) -> None:
    """Names its keywords and takes no others."""


@AIRFLOW_3
def test_this_airflow_still_has_what_the_webhook_recorder_writes_with():
    changed = check_airflow_internals()
    assert not changed, (
        f"Airflow {installed_airflow_version()} changed what the NextSign webhook receiver records asset "
        "events with (airflow_provider_nextsign/webhooks/asset_events.py); adapt record_asset_event:\n- "
        + "\n- ".join(changed)
    )


@pytest.mark.skipif(
    PARTITIONED_ASSETS.available or not API_SERVER_PLUGINS.available,
    reason="needs an Airflow 3 without partitioned assets (3.1)",
)
def test_the_check_sees_a_parameter_this_airflow_lacks():
    changed = check_airflow_internals(airflow_internals(partitioned_assets=True))
    assert changed == [
        "airflow.assets.manager.asset_manager.register_asset_change has no parameter 'partition_key'"
    ]


def test_the_check_names_a_missing_module_object_or_attribute():
    assert check_airflow_internals(
        [
            AirflowInternal("airflow_provider_nextsign.no_such_module", "x"),
            AirflowInternal(HERE, "Gone"),
            AirflowInternal(HERE, "Model", attributes=("id", "uri", "extra")),
        ]
    ) == [
        "module airflow_provider_nextsign.no_such_module cannot be imported "
        "(No module named 'airflow_provider_nextsign.no_such_module')",
        f"{HERE}.Gone is gone",
        f"{HERE}.Model has no attribute 'extra'",
    ]


def test_a_parameter_only_kwargs_would_take_is_reported_a_keyword_it_may_take_is_not():
    swallowing = AirflowInternal(
        HERE, "register_with_kwargs", parameters=("asset", "partition_key"), keywords=("source_is_api",)
    )
    strict = AirflowInternal(HERE, "register_strict", parameters=("asset",), keywords=("source_is_api",))
    assert check_airflow_internals([swallowing, strict]) == [
        f"{HERE}.register_with_kwargs has no parameter 'partition_key'",
        f"{HERE}.register_strict no longer accepts the keyword argument 'source_is_api'",
    ]


@AIRFLOW_3
def test_the_plugin_logs_what_changed_when_it_starts(monkeypatch, caplog):
    from airflow_provider_nextsign.webhooks.plugin import NextSignWebhookPlugin, _apps

    monkeypatch.setenv("AIRFLOW__NEXTSIGN__WEBHOOK_RECEIVER", "True")
    monkeypatch.setattr(
        asset_events,
        "airflow_internals",
        lambda partitioned_assets: (AirflowInternal("airflow.models.asset", "AssetEvent", ("dedupe",)),),
    )
    _apps.cache_clear()
    try:
        with caplog.at_level(logging.ERROR):
            assert len(NextSignWebhookPlugin().fastapi_apps) == 1
    finally:
        _apps.cache_clear()
    assert "airflow.models.asset.AssetEvent has no attribute 'dedupe'" in caplog.text
    assert installed_airflow_version() in caplog.text


@pytest.mark.parametrize(("row_locking", "locked"), [("True", True), ("False", False)])
def test_the_asset_rows_are_locked_as_airflow_locks_rows(monkeypatch, row_locking, locked):
    import sqlalchemy
    from sqlalchemy.dialects import postgresql

    monkeypatch.setenv("AIRFLOW__SCHEDULER__USE_ROW_LEVEL_LOCKING", row_locking)
    table = sqlalchemy.table("asset", sqlalchemy.column("id"), sqlalchemy.column("uri"))
    query = asset_events._locked(sqlalchemy.select(table.c.id).where(table.c.uri == "nextsign://acme/x"))
    sql = str(query.compile(dialect=postgresql.dialect()))
    assert sql.endswith("FOR NO KEY UPDATE") is locked, sql
