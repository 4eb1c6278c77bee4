"""The request budget: even spacing, sharing between threads and processes, 429 pauses, async, fallback."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_nextsign.api import ratelimit
from airflow_provider_nextsign.api.ratelimit import RequestBudget, get_budget

HOST = "https://ns.test"
COMPANY = "6576e19662ec13c4faa7de7b"
API_KEY = "sk-live-2f1c9a7e-very-secret-ratelimit"
T100 = 60.0 / 100 * 1.01  # the spacing at 100/min with the default 1 % safety


class FakeClock:
    """Epoch time that only moves when someone sleeps; ``on_sleep`` runs before time advances."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start
        self.on_sleep = None
        self.overshoot: list[float] = []  # extra seconds the next sleeps oversleep (a busy host)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            hook, self.on_sleep = self.on_sleep, None
            hook()
        self.t += seconds + (self.overshoot.pop(0) if self.overshoot else 0.0)


class RecordingClock:
    """The real clock, remembering the last ``now()`` it answered."""

    def __init__(self) -> None:
        self.last = 0.0

    def now(self) -> float:
        self.last = time.time()
        return self.last

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def max_in_window(times: list[float], window: float = 60.0) -> int:
    """Most grants in any closed window [t - window, t]: what a strict rolling-window server counts."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] < t - window - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture(autouse=True)
def _fresh_registry():
    ratelimit.reset_budgets()
    yield
    ratelimit.reset_budgets()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_window_checker_counts_a_burst():
    assert max_in_window([0.0] * 101) == 101
    assert max_in_window([i * 0.6 for i in range(101)]) == 101  # 0 .. 60 s inclusive: too many
    assert max_in_window([i * 0.61 for i in range(200)]) == 99


def test_150_reads_at_100_per_minute_are_evenly_spaced(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    start = clock.now()
    grants, waited = [], 0.0
    for _ in range(150):
        waited += budget.acquire()
        grants.append(clock.now())

    assert waited == pytest.approx(149 * T100)
    assert clock.now() - start == pytest.approx(149 * 0.606)  # about a minute and a half
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) == pytest.approx(T100)
    assert max_in_window(grants) <= 100
    assert budget.stats == {
        "granted": 150,
        "waited_seconds": pytest.approx(waited),
        "penalties": 0,
        "reslotted": 0,
    }


def test_first_token_after_idle_is_immediate(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    assert budget.acquire() == 0.0
    clock.t += 5  # idle far longer than the spacing: no credit is saved up (burst of one)
    assert budget.reserve() == 0.0
    assert budget.reserve() == pytest.approx(T100)


def test_threads_get_distinct_evenly_spaced_slots(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    delays: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            d = budget.reserve()
            with lock:
                delays.append(d)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(delays) == pytest.approx([i * T100 for i in range(200)])


def test_safety_and_rate_are_configurable(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 120, shared_dir=tmp_path, clock=clock, safety=0.0)
    assert budget.interval == pytest.approx(0.5)
    budget.set_rate(60)
    budget.reserve()
    assert budget.reserve() == pytest.approx(1.0)


def test_registry_shares_one_budget_per_host_company_and_key(tmp_path, clock):
    first = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    assert get_budget(HOST + "/", COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock) is first
    others = [
        get_budget(HOST, COMPANY, API_KEY + "x", 100, shared_dir=tmp_path, clock=clock),
        get_budget(HOST, "another-company", API_KEY, 100, shared_dir=tmp_path, clock=clock),
        get_budget("https://other.test", COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock),
    ]
    assert len({id(b) for b in [first, *others]}) == 4
    assert len({b.key for b in [first, *others]}) == 4
    expected = hashlib.sha256(json.dumps([HOST, COMPANY, API_KEY]).encode()).hexdigest()
    assert first.key == expected


def test_registry_shares_between_threads_and_the_latest_rate_wins(tmp_path, clock):
    found: list[RequestBudget] = []
    threads = [
        threading.Thread(
            target=lambda: found.append(
                get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
            )
        )
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(b) for b in found}) == 1
    again = get_budget(HOST, COMPANY, API_KEY, 50, shared_dir=tmp_path, clock=clock)
    assert again is found[0]
    assert again.requests_per_minute == 50


def test_two_budgets_on_one_state_file_share_the_schedule(tmp_path, clock):
    """Two objects on one file stand for two processes on one host."""
    key = ratelimit.budget_key(HOST, COMPANY, API_KEY)
    state = tmp_path / f"{key}.json"
    a = RequestBudget(key, 100, state_file=state, clock=clock)
    b = RequestBudget(key, 100, state_file=state, clock=clock)
    delays = [(a if i % 2 else b).reserve() for i in range(10)]
    assert delays == pytest.approx([i * T100 for i in range(10)])
    assert json.loads(state.read_text())["tat"] == pytest.approx(clock.now() + 10 * T100)


def test_budgets_without_cross_process_state_do_not_share(tmp_path, clock):
    key = ratelimit.budget_key(HOST, COMPANY, API_KEY)
    a = RequestBudget(key, 100, state_file=None, clock=clock)
    b = RequestBudget(key, 100, state_file=None, clock=clock)
    assert [a.reserve(), b.reserve()] == [0.0, 0.0]
    assert get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, cross_process=False).shared is False
    assert list(tmp_path.iterdir()) == []


def _reserve_in_process(shared_dir: str, count: int, barrier, results) -> None:
    clock = RecordingClock()
    budget = get_budget(HOST, COMPANY, API_KEY, 60_000, shared_dir=shared_dir, clock=clock)
    slots = []
    barrier.wait()
    for _ in range(count):
        delay = budget.reserve()
        slots.append(clock.last + delay)
        time.sleep(delay)  # "send" at the granted time, like acquire() does
    results.put((os.getpid(), slots))


def test_real_processes_share_the_budget(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_reserve_in_process, args=(str(tmp_path), 40, barrier, results)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    collected = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    slots = sorted((slot, pid) for pid, process_slots in collected for slot in process_slots)
    assert len(slots) == 120
    interval = 60.0 / 60_000 * 1.01
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= interval - 1e-6
    switches = sum(1 for a, b in itertools.pairwise(slots) if a[1] != b[1])
    assert switches > 2  # the processes really interleaved, not ran one after another


def test_penalize_pauses_every_budget_on_the_state_file(tmp_path, clock):
    key = ratelimit.budget_key(HOST, COMPANY, API_KEY)
    state = tmp_path / f"{key}.json"
    a = RequestBudget(key, 100, state_file=state, clock=clock)
    b = RequestBudget(key, 100, state_file=state, clock=clock)
    a.penalize(30)
    assert b.reserve() == pytest.approx(30)
    assert a.reserve() == pytest.approx(30 + T100)
    assert a.stats["penalties"] == 1
    assert b.stats["penalties"] == 0


def test_a_caller_already_waiting_takes_a_new_slot_after_the_pause(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    start = clock.now()
    assert budget.acquire() == 0.0
    # The second caller gets the slot start+T; while it waits, a 429 pauses everyone for 10 s.
    clock.on_sleep = lambda: budget.penalize(10)
    assert budget.acquire() == pytest.approx(10)
    assert clock.now() == pytest.approx(start + 10)
    assert budget.acquire() == pytest.approx(T100)  # spaced after the pause, no burst


def test_a_caller_waking_up_late_takes_a_new_slot(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    start = clock.now()
    budget.acquire()
    clock.overshoot = [0.1]  # late by a sixth of the interval: still within the slack, sends
    budget.acquire()
    assert clock.now() == pytest.approx(start + T100 + 0.1)
    clock.overshoot = [0.5]  # late by most of the interval: sending now could crowd the next window
    budget.acquire()
    assert clock.now() == pytest.approx(start + 3 * T100)  # sent on the next free slot instead
    assert budget.stats["reslotted"] == 1


def test_a_caller_late_again_and_again_sends_after_three_new_slots(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    other_process = RequestBudget(budget.key, 100, state_file=tmp_path / f"{budget.key}.json", clock=clock)
    for _ in range(100):  # keeps the schedule a minute ahead, so every new slot means waiting again
        other_process.reserve()
    clock.overshoot = [0.3] * 10  # half an interval late after every sleep
    budget.acquire()
    assert budget.stats["reslotted"] == 3
    assert budget.stats["granted"] == 4


def test_penalize_ignores_nonsense_durations(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    budget.penalize(float("nan"))
    budget.penalize(-5)
    assert budget.reserve() == 0.0


async def test_acquire_async_does_not_block_the_event_loop(tmp_path):
    budget = get_budget(HOST, COMPANY, API_KEY, 6000, shared_dir=tmp_path)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    async def consumer() -> tuple[float, float]:
        started = time.monotonic()
        waited = 0.0
        for _ in range(10):
            waited += await budget.acquire_async()
        done.set()
        return waited, time.monotonic() - started

    tick_task = asyncio.create_task(ticker())
    waited, elapsed = await consumer()
    await tick_task
    assert 0 < waited <= elapsed
    assert elapsed >= 9 * budget.interval * 0.9  # ten tokens, nine intervals apart
    assert ticks >= 10  # the loop kept running other coroutines while the consumer waited


async def test_a_penalty_written_under_lock_contention_never_blocks_the_event_loop(tmp_path, caplog):
    """Another process holds the budget's file lock for 1.5 s while a 429 arrives in a trigger.

    asyncio's debug mode reports every step of the loop that runs longer than ``slow_callback_duration``;
    a penalty written on the loop would be one step of about 1.5 s. None may take 50 ms.
    """
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path)
    assert budget.shared
    lock_path = str(budget._state_file) + ".lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, filelock\n"
            "with filelock.FileLock(sys.argv[1]):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(1.5)\n",
            lock_path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 0.05
        caplog.set_level(logging.WARNING, logger="asyncio")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        await budget.penalize_async(3)
        waited = time.monotonic() - started
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
        loop.set_debug(False)
    finally:
        holder.wait(timeout=30)
    assert waited >= 0.5  # the penalty really waited for the other process's lock
    assert ticks >= 20  # other coroutines ran meanwhile
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert not slow, slow
    # The penalty was written, counted from when the 429 arrived (3 s, of which `waited` have passed).
    assert budget.reserve() >= 3 - waited - 0.5


async def test_async_and_sync_callers_share_the_schedule(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    assert await budget.acquire_async() == 0.0
    assert budget.reserve() == pytest.approx(T100)


def test_the_api_key_never_appears_in_repr_logs_or_files(tmp_path, clock, caplog):
    caplog.set_level(logging.DEBUG, logger="airflow_provider_nextsign")
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    budget.acquire()
    budget.penalize(3)
    budget.acquire()
    get_budget(HOST, COMPANY, API_KEY, 10, shared_dir=tmp_path, clock=clock)  # logs the rate change
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=blocked / "sub", clock=clock)  # logs a warning
    assert caplog.records  # the checks below looked at real log lines
    shown = [repr(budget), str(budget), caplog.text]
    shown += [p.name for p in tmp_path.rglob("*")]
    shown += [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    for text in shown:
        assert API_KEY not in text
    assert budget.key[:8] in repr(budget)
    assert budget.key[8:16] not in repr(budget)


def test_unusable_directory_falls_back_to_process_state_with_one_warning(tmp_path, clock, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_nextsign"):
        budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=blocked / "sub", clock=clock)
        delays = [budget.reserve() for _ in range(5)]
    assert budget.shared is False
    assert delays == pytest.approx([i * T100 for i in range(5)])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "NEXTSIGN_RATE_LIMIT_DIR" in warnings[0].getMessage()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_falls_back(tmp_path, clock):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=ro, clock=clock)
        assert budget.shared is False
        assert [budget.reserve(), budget.reserve()] == pytest.approx([0.0, T100])
    finally:
        ro.chmod(0o700)


def test_state_file_failing_later_keeps_the_schedule(tmp_path, clock, caplog):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    assert budget.shared
    budget.reserve()
    budget.reserve()
    state = tmp_path / f"{budget.key}.json"
    state.unlink()
    state.mkdir()  # reading it now fails with an OSError
    with caplog.at_level(logging.WARNING, logger="airflow_provider_nextsign"):
        assert budget.reserve() == pytest.approx(2 * T100)  # continues after the slots already granted
        assert budget.reserve() == pytest.approx(3 * T100)
    assert budget.shared is False
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1


def test_deleted_state_file_does_not_reset_this_process(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    budget.reserve()
    (tmp_path / f"{budget.key}.json").unlink()  # e.g. a temp-directory cleaner
    assert budget.reserve() == pytest.approx(T100)


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps({"tat": 1e30}), '{"tat": NaN}', '{"tat": 0, "paused_until": Infinity}'],
)
def test_corrupt_or_far_future_state_is_reset_with_a_warning(tmp_path, clock, caplog, content):
    key = ratelimit.budget_key(HOST, COMPANY, API_KEY)
    (tmp_path / f"{key}.json").write_text(content)
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_nextsign"):
        assert budget.reserve() == 0.0
    assert "reset" in caplog.text or "afresh" in caplog.text
    assert budget.reserve() == pytest.approx(T100)


@pytest.mark.parametrize("rpm", [0, -1, float("nan"), float("inf"), "many", None])
def test_bad_rate_is_refused_naming_the_field(tmp_path, rpm):
    with pytest.raises(ValueError, match="requests_per_minute"):
        get_budget(HOST, COMPANY, API_KEY, rpm, shared_dir=tmp_path)


def test_bad_safety_is_refused(tmp_path):
    with pytest.raises(ValueError, match="safety"):
        get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, safety=2)


def test_shared_dir_defaults_to_env_then_temp(monkeypatch, tmp_path):
    monkeypatch.setenv(ratelimit.SHARED_DIR_ENV, str(tmp_path / "env-dir"))
    assert ratelimit.default_shared_dir() == tmp_path / "env-dir"
    budget = get_budget(HOST, COMPANY, API_KEY, 100)
    assert (tmp_path / "env-dir" / f"{budget.key}.json").exists()
    monkeypatch.delenv(ratelimit.SHARED_DIR_ENV)
    # One directory per user: a fixed name in the shared temp dir could be planted by anyone.
    assert ratelimit.default_shared_dir().name == f"airflow-provider-nextsign-ratelimit-{os.getuid()}"
    assert Path(ratelimit.default_shared_dir()).parent == Path(__import__("tempfile").gettempdir())


def _unshared_with_one_warning(shared_dir, clock, caplog, reason: str) -> RequestBudget:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_nextsign"):
        budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=shared_dir, clock=clock)
        assert [budget.reserve(), budget.reserve()] == pytest.approx([0.0, T100])
    assert budget.shared is False
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert reason in warning and "NEXTSIGN_RATE_LIMIT_DIR" in warning
    return budget


def test_a_planted_symlink_never_makes_the_budget_write_through_it(tmp_path, clock, caplog):
    shared = tmp_path / "ratelimit"
    shared.mkdir(mode=0o700)
    victim = tmp_path / "victim.cfg"
    victim.write_text("precious = true\n")
    key = ratelimit.budget_key(HOST, COMPANY, API_KEY)
    (shared / f"{key}.json").symlink_to(victim)
    _unshared_with_one_warning(shared, clock, caplog, "symbolic link")
    assert victim.read_text() == "precious = true\n"


def test_a_symlinked_directory_is_not_used(tmp_path, clock, caplog):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    _unshared_with_one_warning(tmp_path / "link", clock, caplog, "symbolic link")
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o750, 0o705])
def test_a_directory_other_users_can_reach_is_not_used(tmp_path, clock, caplog, mode):
    shared = tmp_path / "open"
    shared.mkdir()
    shared.chmod(mode)
    _unshared_with_one_warning(shared, clock, caplog, "chmod 700")
    assert list(shared.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_a_directory_of_another_user_is_not_used(tmp_path, clock, caplog):
    shared = tmp_path / "theirs"
    shared.mkdir(mode=0o700)
    os.chown(shared, 65534, 65534)
    _unshared_with_one_warning(shared, clock, caplog, "uid 65534")
    assert list(shared.iterdir()) == []


def test_a_new_directory_is_created_private(tmp_path, clock):
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path / "a" / "b", clock=clock)
    budget.reserve()
    assert budget.shared
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "a" / "b" / f"{budget.key}.json").stat().st_mode & 0o777 == 0o600


def test_busy_lock_uses_process_state_for_that_request_only(tmp_path, clock, caplog, monkeypatch):
    import filelock

    monkeypatch.setattr(ratelimit, "FILE_LOCK_TIMEOUT_SECONDS", 0.05)
    budget = get_budget(HOST, COMPANY, API_KEY, 100, shared_dir=tmp_path, clock=clock)
    budget.reserve()
    holder = filelock.FileLock(str(tmp_path / f"{budget.key}.json.lock"), thread_local=False)
    # holder: another process stuck while holding the lock
    with caplog.at_level(logging.WARNING, logger="airflow_provider_nextsign"), holder:
        assert budget.reserve() == pytest.approx(T100)
        assert budget.reserve() == pytest.approx(2 * T100)
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1
    assert budget.shared  # the next request uses the file again
    assert budget.reserve() == pytest.approx(3 * T100)


def test_importing_the_module_stays_cheap():
    code = (
        "import sys, airflow_provider_nextsign.api.ratelimit as r; "
        "sys.exit(sorted({'filelock', 'airflow'} & set(sys.modules)) != [])"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
