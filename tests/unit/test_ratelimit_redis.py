"""The request budget shared across hosts through Redis: slots, the shared 429 pause, the asyncio path,
hashed keys, and the fall-back to the host's file budget when Redis is unreachable.

Uses a real Redis (the ``redis_url`` fixture: ``$NEXTSIGN_TEST_REDIS_URL`` or a private redis-server);
the tests that need none (fall-back, settings) run everywhere. Each test has its own key prefix.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import logging
import socket
import threading
import time
import uuid

import pytest

from airflow_provider_nextsign.api import ratelimit, ratelimit_redis
from airflow_provider_nextsign.api.ratelimit_redis import RedisBudget, RedisSettings, get_redis_budget

HOST = "https://ns.test"
COMPANY = "6576e19662ec13c4faa7de7b"
API_KEY = "sk-live-2f1c9a7e-very-secret-redis-budget"


@pytest.fixture(autouse=True)
def _fresh_registries():
    ratelimit.reset_budgets()
    ratelimit_redis.reset_redis_budgets()
    yield
    ratelimit.reset_budgets()
    ratelimit_redis.reset_redis_budgets()


@pytest.fixture
def settings(redis_url) -> RedisSettings:
    """The test Redis with a key prefix of this test's own."""
    return RedisSettings.from_url(redis_url, key_prefix=f"nextsign-test:{uuid.uuid4().hex}:")


@pytest.fixture
def raw(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def host_budget(settings: RedisSettings, tmp_path, host: str, rpm: float = 100) -> RedisBudget:
    """The budget a process on simulated host ``host`` gets (its own file-budget directory)."""
    ratelimit_redis.reset_redis_budgets()  # a fresh object, as in another process
    return get_redis_budget(HOST, COMPANY, API_KEY, rpm, settings, shared_dir=tmp_path / host)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_hosts_get_consecutive_slots_one_interval_apart(settings, tmp_path):
    a = host_budget(settings, tmp_path, "host-a", rpm=100)
    b = host_budget(settings, tmp_path, "host-b", rpm=100)
    # Reserved back to back (well within one interval of 0.606 s), the slots queue up across hosts.
    delays = [budget.reserve() for budget in (a, b, a, b, a, b)]
    assert delays[0] == pytest.approx(0.0, abs=0.05)
    for before, after in itertools.pairwise(delays):
        assert after - before == pytest.approx(a.interval, abs=0.05)
    assert a.stats["granted"] == b.stats["granted"] == 3
    assert a.stats["fallback"] == b.stats["fallback"] == 0
    assert a.backend == b.backend == "redis" and a.shared


def test_a_429_on_one_host_pauses_the_other(settings, tmp_path):
    a = host_budget(settings, tmp_path, "host-a", rpm=6000)
    b = host_budget(settings, tmp_path, "host-b", rpm=6000)
    a.penalize(5.0)
    assert b.reserve() == pytest.approx(5.0, abs=0.2)
    assert a.stats["penalties"] == 1
    # The host's file budget is paused too: a Redis outage during the pause does not end it early.
    assert a.fallback.reserve() == pytest.approx(5.0, abs=0.2)


def test_a_pause_that_covers_a_waiting_slot_gives_a_new_slot_after_it(settings, tmp_path):
    a = host_budget(settings, tmp_path, "host-a", rpm=600)  # 0.101 s apart
    b = host_budget(settings, tmp_path, "host-b", rpm=600)
    a.reserve()  # the next slot is one interval away
    slept: list[float] = []

    class PausingClock(ratelimit.SystemClock):
        def sleep(self, seconds: float) -> None:
            if not slept:
                a.penalize(0.5)  # another host gets a 429 while b waits for its slot
            slept.append(seconds)
            time.sleep(seconds)

    b._clock = PausingClock()
    waited = b.acquire()
    # The first sleep ended inside the pause: the new slot is at its end, 0.5 s after it began.
    assert len(slept) == 2 and sum(slept) == pytest.approx(0.5, abs=0.1)
    assert waited == pytest.approx(sum(slept))
    assert b.stats["reslotted"] == 1


def test_the_api_key_never_reaches_redis(settings, tmp_path, raw):
    budget = host_budget(settings, tmp_path, "host-a")
    budget.acquire()
    budget.penalize(1.0)
    keys = [k.decode() for k in raw.scan_iter(f"{settings.key_prefix}*")]
    digest = hashlib.sha256(json.dumps([HOST, COMPANY, API_KEY]).encode()).hexdigest()
    assert keys == [f"{settings.key_prefix}{digest}"]
    stored = raw.hgetall(keys[0])
    assert set(stored) == {b"tat", b"paused_until"}
    assert all(API_KEY.encode() not in value and COMPANY.encode() not in value for value in stored.values())
    assert 0 < raw.ttl(keys[0]) <= 62  # idle budgets disappear by themselves
    assert API_KEY not in repr(budget) and API_KEY not in repr(settings)


async def test_acquire_async_never_blocks_the_event_loop_while_redis_is_busy(settings, tmp_path, redis_url):
    import redis

    budget = host_budget(settings, tmp_path, "host-a", rpm=6000)
    await budget.acquire_async()  # connect first
    # Keep Redis busy for 0.5 s with a script of our own; our budget's answer waits for it.
    busy = redis.Redis.from_url(redis_url)
    spin = "local t = redis.call('TIME'); local s = t[1] + t[2] / 1e6; local n = s; "
    spin += "while n - s < 0.5 do t = redis.call('TIME'); n = t[1] + t[2] / 1e6 end; return 1"
    blocker = threading.Thread(target=busy.eval, args=(spin, 0))
    blocker.start()
    await asyncio.sleep(0.05)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    await budget.acquire_async()
    took = time.monotonic() - started
    ticking.cancel()
    blocker.join()
    busy.close()
    assert took > 0.2  # the reservation really waited for the busy Redis ...
    assert ticks >= 10  # ... while the loop kept running other tasks
    assert budget.stats["fallback"] == 0


async def test_async_penalty_is_shared(settings, tmp_path):
    a = host_budget(settings, tmp_path, "host-a", rpm=6000)
    b = host_budget(settings, tmp_path, "host-b", rpm=6000)
    await a.penalize_async(3.0)
    assert b.reserve() == pytest.approx(3.0, abs=0.2)


def test_unreachable_redis_warns_once_and_falls_back_to_the_host_budget(tmp_path, caplog, monkeypatch):
    settings = RedisSettings(port=closed_port(), socket_timeout=0.5)
    budget = get_redis_budget(HOST, COMPANY, API_KEY, 6000, settings, shared_dir=tmp_path)
    monkeypatch.setattr(ratelimit_redis, "RETRY_SECONDS", 0.0)  # try Redis again on every request
    with caplog.at_level(logging.INFO, logger=ratelimit_redis.__name__):
        for _ in range(5):
            budget.acquire()
        budget.penalize(0.01)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unreachable" in warnings[0].getMessage() and API_KEY not in caplog.text
    assert budget.stats["fallback"] == 5 and budget.backend == "fallback"
    host = budget.fallback.stats  # the host's file budget spaced them
    assert host["granted"] - host["reslotted"] == 5 and host["penalties"] == 1
    assert budget.fallback.shared and budget.shared  # shared by this host's processes, not all hosts
    assert budget.check() is not None and "ConnectionError" in budget.check()


async def test_unreachable_redis_on_the_asyncio_path_falls_back_too(tmp_path):
    settings = RedisSettings(port=closed_port(), socket_timeout=0.5)
    budget = get_redis_budget(HOST, COMPANY, API_KEY, 6000, settings, shared_dir=tmp_path)
    for _ in range(3):
        await budget.acquire_async()
    await budget.penalize_async(0.01)
    host = budget.fallback.stats
    assert (
        budget.stats["fallback"] == 3 and host["granted"] - host["reslotted"] == 3 and host["penalties"] == 1
    )


def test_redis_that_stops_answering_mid_run_and_comes_back(settings, tmp_path, raw, monkeypatch, caplog):
    settings = dataclasses.replace(settings, socket_timeout=0.3)
    budget = host_budget(settings, tmp_path, "host-a", rpm=6000)
    monkeypatch.setattr(ratelimit_redis, "RETRY_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger=ratelimit_redis.__name__):
        budget.acquire()
        raw.execute_command("CLIENT", "PAUSE", 2000, "WRITE")  # Redis holds every script for 2 s
        try:
            budget.acquire()  # times out after 0.3 s: the host's budget serves it
        finally:
            raw.execute_command("CLIENT", "UNPAUSE")
        assert budget.stats["fallback"] == 1 and budget.backend == "fallback"
        budget.acquire()
    assert budget.backend == "redis" and budget.stats["fallback"] == 1
    assert budget.stats["granted"] == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("unreachable" in m for m in messages) and any("answers again" in m for m in messages)


def test_budget_of_a_process_is_shared_by_its_callers_and_follows_rate_changes(settings, tmp_path):
    one = get_redis_budget(HOST, COMPANY, API_KEY, 100, settings, shared_dir=tmp_path)
    two = get_redis_budget(HOST.upper() + "/", COMPANY, API_KEY, 120, settings, shared_dir=tmp_path)
    assert one is two and one.requests_per_minute == 120 and one.fallback.requests_per_minute == 120
    other_key = get_redis_budget(HOST, COMPANY, "another-key", 100, settings, shared_dir=tmp_path)
    assert other_key is not one and other_key.key != one.key


def test_settings_from_url_and_their_checks():
    s = RedisSettings.from_url("rediss://budget:p%40ss@redis.internal:6380/3")
    assert (s.host, s.port, s.db, s.username, s.password) == ("redis.internal", 6380, 3, "budget", "p@ss")
    assert dict(s.ssl_options) == {"ssl": True}
    assert "p@ss" not in repr(s) and s.location == "redis.internal:6380/3"
    with pytest.raises(ValueError, match="redis://"):
        RedisSettings.from_url("http://redis:6379")
    with pytest.raises(ValueError, match="database"):
        RedisSettings.from_url("redis://redis:6379/zero")
    with pytest.raises(ValueError, match="port"):
        RedisSettings(port=-1)
    with pytest.raises(ValueError, match="ssl option"):
        RedisSettings(ssl_options=(("ssl_pasword", "x"),))


async def test_file_budget_penalize_async_pauses_every_process_of_the_host(tmp_path):
    """The shared interface: the host's budget has the event-loop-safe penalty too."""
    budget = ratelimit.get_budget(HOST, COMPANY, API_KEY, 6000, shared_dir=tmp_path)
    await budget.penalize_async(4.0)
    ratelimit.reset_budgets()  # another process of the host reads the state file
    other = ratelimit.get_budget(HOST, COMPANY, API_KEY, 6000, shared_dir=tmp_path)
    assert other is not budget and other.reserve() == pytest.approx(4.0, abs=0.2)
