"""The NextSign connection's ``redis_conn_id`` extra: an Airflow ``redis`` connection -> the Redis budget.

``api/`` never imports Airflow, so the redis connection is read here and handed down as plain
:class:`~airflow_provider_nextsign.api.ratelimit_redis.RedisSettings`. Its fields are read as the
Redis provider's ``RedisHook`` reads them (host, port, login, password, extras ``db`` and ``ssl*``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_nextsign.api.errors import NextSignInputError

if TYPE_CHECKING:
    from airflow_provider_nextsign.api.ratelimit_redis import RedisBudget, RedisSettings

REDIS_CONN_TYPE = "redis"


def redis_settings(redis_conn_id: str, nextsign_conn_id: str) -> RedisSettings:
    """The settings of the Airflow connection ``redis_conn_id`` (its password registered with the masker).

    :raises NextSignInputError: the connection is missing, not of type ``redis``, or malformed; the
        message names the field to fix.
    """
    from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook, mask_secret

    from airflow_provider_nextsign.api.ratelimit_redis import SSL_OPTIONS, RedisSettings

    where = f"NextSign connection {nextsign_conn_id!r}: extra 'redis_conn_id' names {redis_conn_id!r}"
    try:
        conn = BaseHook.get_connection(redis_conn_id)
    except AirflowNotFoundException:
        raise NextSignInputError(
            f"{where}, which is not an Airflow connection. Create a connection of type redis with that id, "
            "or remove the extra to keep the request budget per host."
        ) from None
    if conn.conn_type and conn.conn_type != REDIS_CONN_TYPE:
        raise NextSignInputError(
            f"{where}, a connection of type {conn.conn_type!r}; it must be of type {REDIS_CONN_TYPE!r}."
        )
    extra: dict[str, Any] = conn.extra_dejson or {}
    if extra.get("cluster"):
        raise NextSignInputError(
            f"{where}, a Redis Cluster connection; the request budget needs a single Redis (or its primary). "
            "Point redis_conn_id at a connection without the 'cluster' extra."
        )
    password = conn.password
    if password is not None and str(password).lower() in ("", "none", "false"):
        password = None  # as RedisHook reads it
    if password:
        mask_secret(password)
    try:
        return RedisSettings(
            host=(conn.host or "").strip() or "localhost",
            port=int(conn.port or 6379),
            db=int(extra.get("db") or 0),
            username=conn.login or None,
            password=password,
            ssl_options=tuple((name, extra[name]) for name in SSL_OPTIONS if name in extra),
        )
    except (TypeError, ValueError) as err:
        raise NextSignInputError(f"{where}, whose settings are not usable: {err}") from None


def redis_budget(client_kwargs: dict[str, Any], redis_conn_id: str, nextsign_conn_id: str) -> RedisBudget:
    """The request budget shared through Redis for the client built from ``client_kwargs``."""
    from airflow_provider_nextsign.api.ratelimit_redis import get_redis_budget

    try:
        import redis  # noqa: F401  (the budget imports it on first use; say now that it is missing)
    except ImportError:
        raise NextSignInputError(
            f"NextSign connection {nextsign_conn_id!r}: extra 'redis_conn_id' needs redis-py. Install "
            "'airflow-provider-nextsign[redis]' on every worker and triggerer, or remove the extra."
        ) from None

    return get_redis_budget(
        client_kwargs["host"],
        client_kwargs["company_id"],
        client_kwargs["api_key"],
        client_kwargs["requests_per_minute"],
        redis_settings(redis_conn_id, nextsign_conn_id),
    )
