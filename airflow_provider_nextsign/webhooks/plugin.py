"""``NextSignWebhookPlugin``: mounts the webhook receiver on the Airflow 3 API server when enabled.

Registered through the ``airflow.plugins`` entry point, so it is always loaded, but it mounts nothing
unless ``[nextsign] webhook_receiver = True``. Loading it costs no FastAPI import: the app is built the
first time the API server asks for it, and that is when the version gates speak: on Airflow 2 it logs
that the receiver needs Airflow 3.1 and mounts nothing; on Airflow 3.1 it mounts the receiver and logs
once that events carry no partition key (partitioned assets need 3.2). When this Airflow lacks one of the
internals the receiver records asset events with (an Airflow newer than the provider knows), it logs
which, once, at the same time.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_nextsign.compat import API_SERVER_PLUGINS, PARTITIONED_ASSETS, installed_airflow_version
from airflow_provider_nextsign.webhooks.config import receiver_enabled

log = logging.getLogger(__name__)

URL_PREFIX = "/nextsign"


@functools.cache
def _apps() -> tuple[dict[str, Any], ...]:
    if not receiver_enabled():
        return ()
    if not API_SERVER_PLUGINS.available:
        log.warning("[nextsign] webhook_receiver is on, but %s", API_SERVER_PLUGINS.message())
        return ()
    if not PARTITIONED_ASSETS.available:
        log.warning("[nextsign] webhook receiver: %s", PARTITIONED_ASSETS.message())
    from airflow_provider_nextsign.webhooks.app import create_app
    from airflow_provider_nextsign.webhooks.asset_events import check_airflow_internals

    changed = check_airflow_internals()
    if changed:  # mounted all the same: each delivery then fails with a 500 and NextSign retries it
        log.error(
            "[nextsign] webhook receiver: Airflow %s changed what the receiver records asset events with, "
            "so deliveries will fail until airflow-provider-nextsign supports it: %s",
            installed_airflow_version(),
            "; ".join(changed),
        )

    return ({"app": create_app(), "url_prefix": URL_PREFIX, "name": "NextSign webhook receiver"},)


class NextSignWebhookPlugin(AirflowPlugin):
    """Airflow plugin serving ``POST /nextsign/webhooks`` (opt-in: ``[nextsign] webhook_receiver``)."""

    name = "nextsign_webhooks"

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The receiver app when enabled on Airflow 3.1 or newer, otherwise nothing."""
        return list(_apps())
