"""``NextSignWebhookPlugin``: mounts the webhook receiver on the Airflow 3 API server when enabled.

Registered through the ``airflow.plugins`` entry point, so it is always loaded, but it mounts nothing
unless ``[nextsign] webhook_receiver = True``. Loading it costs no FastAPI import: the app is built the
first time the API server asks for it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_nextsign.webhooks.config import receiver_enabled

log = logging.getLogger(__name__)

URL_PREFIX = "/nextsign"


def _is_airflow_3() -> bool:
    from airflow import __version__

    return int(__version__.split(".", 1)[0]) >= 3


@functools.cache
def _apps() -> tuple[dict[str, Any], ...]:
    if not receiver_enabled():
        return ()
    if not _is_airflow_3():
        log.warning(
            "[nextsign] webhook_receiver is on, but the NextSign webhook receiver needs the Airflow 3 "
            "API server; nothing is mounted. On Airflow 2 use NextSignCaseSensor."
        )
        return ()
    from airflow_provider_nextsign.webhooks.app import create_app

    return ({"app": create_app(), "url_prefix": URL_PREFIX, "name": "NextSign webhook receiver"},)


class NextSignWebhookPlugin(AirflowPlugin):
    """Airflow plugin serving ``POST /nextsign/webhooks`` (opt-in: ``[nextsign] webhook_receiver``)."""

    name = "nextsign_webhooks"

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The receiver app when enabled on Airflow 3, otherwise nothing."""
        return list(_apps())
