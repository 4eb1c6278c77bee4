"""Where the webhook receiver's settings come from: the ``[nextsign]`` config section and the connection."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

SECTION = "nextsign"
DEFAULT_HEADER = "X-Webhook-Token"
DEFAULT_CONN_ID = "nextsign_default"
#: Seconds a sender gets to deliver the whole body once its secret header was accepted.
DEFAULT_BODY_TIMEOUT = 10.0
#: The connection extra holding the shared secret NextSign sends in the custom header.
SECRET_EXTRA = "webhook_secret"


class UnknownConnectionError(LookupError):
    """The URL names a connection that does not exist or is not a NextSign connection."""


@dataclass(frozen=True)
class ReceiverSettings:
    """What the receiver needs for one NextSign connection (one company)."""

    conn_id: str
    company_id: str
    secret: str | None = field(repr=False)
    partition_by_case: bool = True


def _conf(key: str, fallback: str) -> str:
    from airflow.configuration import conf

    return str(conf.get(SECTION, key, fallback=fallback))


def _conf_bool(key: str, fallback: bool) -> bool:
    from airflow.configuration import conf

    return bool(conf.getboolean(SECTION, key, fallback=fallback))


def receiver_enabled() -> bool:
    """``[nextsign] webhook_receiver``: whether the plugin mounts the receiver (off by default)."""
    return _conf_bool("webhook_receiver", False)


def default_conn_id() -> str:
    """``[nextsign] webhook_conn_id``: the connection behind ``POST /nextsign/webhooks``."""
    return _conf("webhook_conn_id", DEFAULT_CONN_ID)


def secret_header() -> str:
    """``[nextsign] webhook_secret_header``: the header that carries the shared secret."""
    return _conf("webhook_secret_header", DEFAULT_HEADER).strip() or DEFAULT_HEADER


def allowed_conn_ids() -> frozenset[str] | None:
    """``[nextsign] webhook_allowed_conn_ids``: the connections the receiver serves (``None``: any).

    A comma-separated list; ``webhook_conn_id`` (the default route's connection) is always allowed.
    """
    listed = {part.strip() for part in _conf("webhook_allowed_conn_ids", "").split(",") if part.strip()}
    return frozenset(listed | {default_conn_id()}) if listed else None


def body_timeout() -> float:
    """``[nextsign] webhook_body_timeout``: seconds to receive a body after the secret was accepted."""
    from airflow.configuration import conf

    value = float(conf.getfloat(SECTION, "webhook_body_timeout", fallback=DEFAULT_BODY_TIMEOUT))
    if not value > 0:
        raise ValueError(
            f"[{SECTION}] webhook_body_timeout must be a positive number of seconds, got {value}"
        )
    return value


def settings_for(conn_id: str) -> ReceiverSettings:
    """Read the settings for ``conn_id``; :class:`UnknownConnectionError` if missing or not NextSign."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        raise UnknownConnectionError(f"no connection {conn_id!r}") from None
    if conn.conn_type != "nextsign" or not conn.login:
        raise UnknownConnectionError(f"connection {conn_id!r} is not a NextSign connection with a Company ID")
    secret = conn.extra_dejson.get(SECRET_EXTRA) or _conf("webhook_secret", "") or None
    if secret is not None:
        from airflow.providers.common.compat.sdk import mask_secret

        mask_secret(str(secret))
    return ReceiverSettings(
        conn_id=conn_id,
        company_id=conn.login,
        secret=None if secret is None else str(secret),
        partition_by_case=_conf_bool("webhook_partition_by_case", True),
    )
