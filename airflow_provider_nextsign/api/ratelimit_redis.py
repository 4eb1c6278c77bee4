"""The request budget shared across hosts through Redis (the connection extra ``redis_conn_id``).

The file budget of :mod:`~airflow_provider_nextsign.api.ratelimit` is shared by the processes of one
host. Celery workers on several hosts, or a pod per task, each see only their own files, so each would
spend the whole budget. :class:`RedisBudget` keeps the same GCRA state (the theoretical arrival time of
the next token, and the end of the latest 429 pause) in one Redis hash, and changes it with one Lua
script, so every reservation is atomic across hosts. Times in the hash are the Redis server's clock
(``TIME``): hosts whose clocks disagree still agree on the slots.

Why a Lua script and not the ``limits`` library: ``limits`` offers fixed, moving and sliding windows
that answer "allowed now?" (``hit``/``test``). A NextSign budget needs a *reservation*: each caller gets
its own future slot, evenly spaced, so K waiting processes do not all wake up at a window's reset and
burst. It also needs the shared 429 pause and the same re-slot rules as the file budget. That is about
30 lines of Lua over one hash; redis-py's ``register_script`` runs it by SHA and reloads it when Redis
restarts.

If Redis cannot be reached (or answers with an error), the budget logs one warning, uses the host's file
budget, and tries Redis again after :data:`RETRY_SECONDS`: a task never fails because of Redis.

The API key never reaches Redis: the key is ``<prefix><SHA-256 of host, company, key>`` (the same digest
that names the file budget). ``redis`` is imported on first use, not when a DAG file is parsed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from airflow_provider_nextsign.api.ratelimit import (
    DEFAULT_SAFETY,
    Budget,
    Clock,
    SystemClock,
    budget_key,
    check_requests_per_minute,
    check_safety,
    get_budget,
    pause_seconds,
)

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)

#: Prefix of the budget keys in Redis.
DEFAULT_KEY_PREFIX = "nextsign:budget:"
#: Seconds to wait for Redis (connect and answer) before using the host's file budget.
DEFAULT_SOCKET_TIMEOUT = 2.0
#: After Redis failed, the file budget serves this many seconds before Redis is tried again.
RETRY_SECONDS = 30.0
#: A caller waking up later than this fraction of the interval after its slot takes a new slot ...
_LATE_FRACTION = 0.25
#: ... at most this many times in a row (then it sends anyway). Same rules as the file budget.
_MAX_LATE = 3
#: The ssl options of an Airflow redis connection's extra that are passed on to redis-py.
SSL_OPTIONS = ("ssl", "ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile", "ssl_check_hostname")

# KEYS[1]: the budget's hash {tat, paused_until}, seconds on the Redis server's clock.
# ARGV[1]: 'reserve' | 'check' | 'penalize'
#   reserve  ARGV[2] interval, ARGV[3] floor (a TAT this caller already knows: covers an evicted key)
#   check    as reserve, ARGV[4] the slot the caller waited for, ARGV[5] late limit in seconds (< 0: none).
#            'send' if no pause covers the slot and the caller is not late; else a new slot at once.
#   penalize ARGV[2] pause in seconds: nobody's slot starts before now + pause.
# Returns {verdict, delay, slot} as strings (Redis would truncate Lua numbers to integers).
_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local horizon = 86400
local state = redis.call('HMGET', KEYS[1], 'tat', 'paused_until')
local tat = tonumber(state[1]) or 0
local paused = tonumber(state[2]) or 0
if tat - now > horizon or paused - now > horizon then
  tat, paused = 0, 0
end
local verdict, slot = 'send', now
if ARGV[1] == 'penalize' then
  local till = now + tonumber(ARGV[2])
  paused = math.max(paused, till)
  tat = math.max(tat, till)
else
  local interval, floor = tonumber(ARGV[2]), tonumber(ARGV[3])
  if floor - now <= horizon then
    tat = math.max(tat, floor)
  end
  if ARGV[1] == 'check' then
    local mine, late = tonumber(ARGV[4]), tonumber(ARGV[5])
    if paused > mine then
      verdict = 'paused'
    elseif late >= 0 and now - mine > late then
      verdict = 'late'
    else
      return {'send', '0', string.format('%.6f', mine)}
    end
  end
  slot = math.max(tat, now)
  tat = slot + interval
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat), 'paused_until', string.format('%.6f', paused))
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tat, paused) - now + 60) * 1000))
return {verdict, string.format('%.6f', slot - now), string.format('%.6f', slot)}
"""


@dataclass(frozen=True)
class RedisSettings:
    """Where the shared budget lives: plain connection settings (the hook builds them from an Airflow
    ``redis`` connection; nothing here imports Airflow). The password stays out of ``repr``.

    :param host: Redis host.
    :param port: Redis port.
    :param db: database number.
    :param username: ACL user name (Redis 6+), if any.
    :param password: password, if any.
    :param ssl_options: redis-py ssl arguments as ``((name, value), ...)`` (see :data:`SSL_OPTIONS`).
    :param key_prefix: prefix of the budget keys.
    :param socket_timeout: seconds to wait for Redis before falling back to the host's file budget.
    """

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_options: tuple[tuple[str, Any], ...] = ()
    key_prefix: str = DEFAULT_KEY_PREFIX
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip():
            raise ValueError("Redis host is empty: set the host of the redis connection")
        for name, value in (("port", self.port), ("db", self.db)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Redis {name} must be a non-negative integer, got {value!r}")
        if not (isinstance(self.socket_timeout, (int, float)) and self.socket_timeout > 0):
            raise ValueError(
                f"socket_timeout must be a positive number of seconds, got {self.socket_timeout!r}"
            )
        unknown = sorted({name for name, _ in self.ssl_options} - set(SSL_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown Redis ssl option(s) {', '.join(unknown)}; known: {', '.join(SSL_OPTIONS)}"
            )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisSettings:
        """Settings from ``redis://[user:password@]host[:port][/db]`` (``rediss://`` turns on TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError("a Redis URL starts with redis:// or rediss://")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError(f"the database in a Redis URL is a number (redis://host:6379/0), got {path!r}")
        settings: dict[str, Any] = {
            "host": parts.hostname or "localhost",
            "port": parts.port or 6379,
            "db": int(path or 0),
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
        }
        if parts.scheme == "rediss":
            settings["ssl_options"] = (("ssl", True),)
        return cls(**{**settings, **options})

    @property
    def location(self) -> str:
        """``host:port/db``, without credentials (for logs)."""
        return f"{self.host}:{self.port}/{self.db}"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``redis.Redis`` / ``redis.asyncio.Redis`` (without ``retry``)."""
        return {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_timeout,
            **dict(self.ssl_options),
        }


class RedisBudget:
    """Evenly spaced request tokens for one NextSign host, company and API key, shared through Redis.

    Same interface and rules as :class:`~airflow_provider_nextsign.api.ratelimit.RequestBudget`; use
    :func:`get_redis_budget` to get the one every caller in the process shares.

    :param key: SHA-256 hex digest naming the budget (see :func:`~..ratelimit.budget_key`).
    :param requests_per_minute: the budget; tokens are spaced ``60 / rpm * (1 + safety)`` seconds apart.
    :param redis: where the state lives.
    :param fallback: the budget used while Redis cannot be reached (the host's file budget).
    :param clock: sleeps between reserving a slot and sending (default: the system clock).
    :param safety: fraction added to the spacing as slack for network jitter (default 0.01).
    """

    def __init__(
        self,
        key: str,
        requests_per_minute: float,
        redis: RedisSettings,
        *,
        fallback: Budget,
        clock: Clock | None = None,
        safety: float = DEFAULT_SAFETY,
    ) -> None:
        self._safety = check_safety(safety)
        self.key = key
        self.requests_per_minute = check_requests_per_minute(requests_per_minute)
        self.redis = redis
        self.fallback = fallback
        self._clock: Clock = clock or SystemClock()
        self._redis_key = f"{redis.key_prefix}{key}"
        self._lock = threading.Lock()
        self._counts: dict[str, float] = dict.fromkeys(
            ("granted", "waited_seconds", "penalties", "reslotted"), 0
        )
        self._counts["fallback"] = 0
        self._floor = 0.0  # the latest TAT this process learned from Redis (Redis clock)
        self._down_until: float | None = None  # monotonic time Redis is tried again; None = healthy
        self._warned = False
        self._sync_client: Any = None
        self._sync_script: Any = None
        self._aio: tuple[weakref.ref[asyncio.AbstractEventLoop], Any] | None = None
        _LIVE_BUDGETS.add(self)

    # -- public API ---------------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        """Seconds between two tokens (the GCRA emission interval T)."""
        return 60.0 / self.requests_per_minute * (1.0 + self._safety)

    @property
    def backend(self) -> str:
        """``"redis"`` while Redis answers, ``"fallback"`` while the host's budget stands in for it."""
        return "redis" if self._down_until is None else "fallback"

    @property
    def shared(self) -> bool:
        """Whether other processes see this budget: always through Redis, else as the fallback says."""
        return self._down_until is None or self.fallback.shared

    @property
    def stats(self) -> dict[str, float | int]:
        """Counters of this process: tokens ``granted`` through Redis, ``waited_seconds``, ``penalties``
        (429s), ``reslotted`` (slots given up for a pause or a late wake-up), ``fallback`` (requests the
        host's budget served while Redis was unreachable)."""
        with self._lock:
            return {
                name: (value if name == "waited_seconds" else int(value))
                for name, value in self._counts.items()
            }

    def set_rate(self, requests_per_minute: float) -> None:
        """Change the budget (for this process's later reservations and its fallback)."""
        self.requests_per_minute = check_requests_per_minute(requests_per_minute)
        self.fallback.set_rate(self.requests_per_minute)

    def reserve(self) -> float:
        """Take the next token now and return how long to wait before sending (0.0 = send now)."""
        if not self._redis_due():
            return self._fallback_reserve()
        try:
            return self._reserved(self._eval_sync("reserve"))[0]
        except _redis_errors() as err:
            self._mark_down(err)
            return self._fallback_reserve()

    def acquire(self) -> float:
        """Block until a token is granted; return the seconds waited."""
        if not self._redis_due():
            return self._fallback_acquire()
        try:
            delay, slot = self._reserved(self._eval_sync("reserve"))
        except _redis_errors() as err:
            self._mark_down(err)
            return self._fallback_acquire()
        waited, late = 0.0, 0
        while delay > 0.0:
            self._clock.sleep(delay)
            waited += delay
            try:
                verdict, delay, slot = self._checked(self._eval_sync("check", *self._check_args(slot, late)))
            except _redis_errors() as err:
                self._mark_down(err)  # the slot we waited for is ours: send on it
                break
            if verdict == "send":
                break
            late += verdict == "late"
        self._add(waited_seconds=waited)
        return waited

    async def acquire_async(self) -> float:
        """Like :meth:`acquire`, over ``redis.asyncio``: waiting never blocks the event loop.

        While Redis is unreachable the host's budget's own ``acquire_async`` stands in.
        """
        import asyncio

        if not self._redis_due():
            self._add(fallback=1)
            return await self.fallback.acquire_async()
        try:
            delay, slot = self._reserved(await self._eval_async("reserve"))
        except _redis_errors() as err:
            self._mark_down(err)
            self._add(fallback=1)
            return await self.fallback.acquire_async()
        waited, late = 0.0, 0
        while delay > 0.0:
            await asyncio.sleep(delay)
            waited += delay
            try:
                answer = await self._eval_async("check", *self._check_args(slot, late))
                verdict, delay, slot = self._checked(answer)
            except _redis_errors() as err:
                self._mark_down(err)
                break
            if verdict == "send":
                break
            late += verdict == "late"
        self._add(waited_seconds=waited)
        return waited

    def penalize(self, seconds: float) -> None:
        """A 429 arrived with ``Retry-After: seconds``: no host sharing this budget sends before then.

        The host's file budget is paused too, so a Redis outage during the pause does not end it early.
        """
        seconds = pause_seconds(seconds)
        self._add(penalties=1)
        if self._redis_due():
            try:
                self._eval_sync("penalize", seconds)
            except _redis_errors() as err:
                self._mark_down(err)
        self.fallback.penalize(seconds)
        log.info("NextSign rate limit hit: budget %s paused for %.1f s (all hosts)", self.key[:8], seconds)

    async def penalize_async(self, seconds: float) -> None:
        """:meth:`penalize` over ``redis.asyncio``, without blocking the event loop."""

        seconds = pause_seconds(seconds)
        self._add(penalties=1)
        if self._redis_due():
            try:
                await self._eval_async("penalize", seconds)
            except _redis_errors() as err:
                self._mark_down(err)
        await self.fallback.penalize_async(seconds)
        log.info("NextSign rate limit hit: budget %s paused for %.1f s (all hosts)", self.key[:8], seconds)

    def check(self) -> str | None:
        """``None`` when Redis answers a PING, else why not (for the connection test)."""
        try:
            self._client_script()
            self._sync_client.ping()
        except _redis_errors() as err:
            return f"{type(err).__name__}: {err}"
        return None

    def __repr__(self) -> str:
        return (
            f"RedisBudget(key={self.key[:8]}…, requests_per_minute={self.requests_per_minute:g}, "
            f"redis={self.redis.location}, backend={self.backend})"
        )

    # -- internals ------------------------------------------------------------------------------------

    def _check_args(self, slot: float, late_so_far: int) -> tuple[float, ...]:
        late_limit = self.interval * _LATE_FRACTION if late_so_far < _MAX_LATE else -1.0
        return (slot, late_limit)

    def _args(self, op: str, extra: Sequence[float]) -> list[str]:
        if op == "penalize":
            return [op, *(repr(float(x)) for x in extra)]
        return [op, repr(self.interval), repr(self._floor), *(repr(float(x)) for x in extra)]

    def _eval_sync(self, op: str, *extra: float) -> list[str]:
        script = self._client_script()
        answer = script(keys=[self._redis_key], args=self._args(op, extra))
        self._healthy()
        return _decode(answer)

    async def _eval_async(self, op: str, *extra: float) -> list[str]:
        answer = await self._async_script()(keys=[self._redis_key], args=self._args(op, extra))
        self._healthy()
        return _decode(answer)

    def _client_script(self) -> Any:
        if self._sync_script is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            client = redis.Redis(**self.redis.client_kwargs(), retry=Retry(NoBackoff(), 1))
            self._sync_client, self._sync_script = client, client.register_script(_SCRIPT)
        return self._sync_script

    def _async_script(self) -> Any:
        """The script on a ``redis.asyncio`` client of the running loop (clients belong to one loop)."""
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            if self._aio is None or self._aio[0]() is not loop:
                import redis.asyncio
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff

                client = redis.asyncio.Redis(**self.redis.client_kwargs(), retry=Retry(NoBackoff(), 1))
                self._aio = (weakref.ref(loop), client.register_script(_SCRIPT))
            return self._aio[1]

    def _reserved(self, answer: list[str]) -> tuple[float, float]:
        _, delay, slot = answer
        self._took(float(slot))
        return max(float(delay), 0.0), float(slot)

    def _checked(self, answer: list[str]) -> tuple[str, float, float]:
        verdict, delay, slot = answer
        if verdict == "send":
            return verdict, 0.0, float(slot)
        self._took(float(slot))
        self._add(reslotted=1)
        return verdict, max(float(delay), 0.0), float(slot)

    def _took(self, slot: float) -> None:
        with self._lock:
            self._counts["granted"] += 1
            self._floor = max(self._floor, slot + self.interval)

    def _add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                self._counts[name] += value

    def _fallback_reserve(self) -> float:
        self._add(fallback=1)
        return self.fallback.reserve()

    def _fallback_acquire(self) -> float:
        self._add(fallback=1)
        return self.fallback.acquire()

    def _redis_due(self) -> bool:
        """Whether to ask Redis: it is healthy, or the pause after a failure is over."""
        down_until = self._down_until
        return down_until is None or time.monotonic() >= down_until

    def _healthy(self) -> None:
        if self._down_until is None:
            return
        with self._lock:
            was_down, self._down_until = self._down_until is not None, None
        if was_down:
            log.info(
                "Request budget %s: Redis at %s answers again; budget shared across hosts",
                self.key[:8],
                self.redis.location,
            )

    def _mark_down(self, err: BaseException) -> None:
        with self._lock:
            first, self._warned = not self._warned, True
            self._down_until = time.monotonic() + RETRY_SECONDS
        (log.warning if first else log.info)(
            "Request budget %s: Redis at %s is unreachable (%s: %s); using this host's budget (%r) and "
            "trying Redis again in %.0f s. Other hosts are not counted meanwhile.",
            self.key[:8],
            self.redis.location,
            type(err).__name__,
            err,
            self.fallback,
            RETRY_SECONDS,
        )

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would stay held in the child; redis-py's pool
        # notices the new pid itself and opens new connections.
        self._lock = threading.Lock()
        self._aio = None


def _decode(answer: Any) -> list[str]:
    values = [v.decode() if isinstance(v, bytes) else str(v) for v in answer]
    if len(values) != 3:
        raise ValueError(f"unexpected answer from the budget script: {values!r}")
    return values


def _redis_errors() -> tuple[type[BaseException], ...]:
    """What counts as "Redis unreachable": every redis-py error, socket errors and time-outs (also
    asyncio's, a class of its own before Python 3.11), a garbled answer."""
    import asyncio

    import redis.exceptions

    return (redis.exceptions.RedisError, OSError, ValueError, asyncio.TimeoutError)


_REGISTRY: dict[tuple[object, ...], RedisBudget] = {}
_REGISTRY_LOCK = threading.Lock()
_LIVE_BUDGETS: weakref.WeakSet[RedisBudget] = weakref.WeakSet()


def get_redis_budget(
    host: str,
    company_id: str,
    api_key: str,
    requests_per_minute: float,
    redis: RedisSettings,
    *,
    shared_dir: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    safety: float = DEFAULT_SAFETY,
) -> RedisBudget:
    """The Redis budget of (host, company, API key) in this process, created on first use.

    Its fallback is the host's file budget (:func:`~airflow_provider_nextsign.api.ratelimit.get_budget`
    with ``shared_dir``). As with the file budget, the latest ``requests_per_minute`` wins.
    """
    rpm = check_requests_per_minute(requests_per_minute)
    key = budget_key(host, company_id, api_key)
    registry_key: tuple[object, ...] = (key, redis, str(shared_dir), id(clock) if clock else None, safety)
    fallback = get_budget(host, company_id, api_key, rpm, shared_dir=shared_dir, clock=clock, safety=safety)
    with _REGISTRY_LOCK:
        budget = _REGISTRY.get(registry_key)
        if budget is None or budget.fallback is not fallback:
            budget = RedisBudget(key, rpm, redis, fallback=fallback, clock=clock, safety=safety)
            _REGISTRY[registry_key] = budget
            log.info(
                "Request budget %s: %g/min shared across hosts through Redis at %s",
                key[:8],
                rpm,
                redis.location,
            )
        elif budget.requests_per_minute != rpm:
            budget.set_rate(rpm)
        return budget


def reset_redis_budgets() -> None:
    """Forget every Redis budget of this process (tests); the state in Redis is left alone."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()


def _reinit_after_fork() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for budget in list(_LIVE_BUDGETS):
        budget._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
