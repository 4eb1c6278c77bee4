"""The request budget: every NextSign request takes a token from it before it is sent.

NextSign allows 100 requests per minute and a strict server counts the requests of the last 60 s.
The budget is a GCRA (generic cell rate algorithm) with a burst of one: tokens are granted evenly,
one every ``T = 60 / requests_per_minute * (1 + safety)`` seconds, so no rolling 60 s window can ever
hold more than the budget, whatever the window's phase. The only state is the theoretical arrival
time (TAT) of the next token, as wall-clock epoch seconds.

Sharing: :func:`get_budget` returns one :class:`RequestBudget` per host, company and API key in a
process (so every hook and thread shares it), and the TAT lives in a small JSON file under a file lock
(``<shared_dir>/<key>.json``) so every process on the host shares it too. If that directory is not
usable the budget falls back to in-process state and logs one warning.

The directory must be safe to write in: it belongs to this user, no other user may enter it (mode
0700) and it is not a symbolic link; the state file is opened with ``O_NOFOLLOW``. The default is one
directory per user in the system temp dir, so nobody can plant it (or a symlink in it) for others.

The API key never leaves this module: the budget is named by a SHA-256 of (host, company, key), and
its ``repr`` shows only the first 8 hex digits of that.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # filelock and asyncio are imported on first use: DAG files import hooks cheaply
    import filelock

log = logging.getLogger(__name__)

#: Environment variable naming the directory of the shared budget files.
SHARED_DIR_ENV = "NEXTSIGN_RATE_LIMIT_DIR"
#: Fraction added to the emission interval, slack for network jitter between client and server.
DEFAULT_SAFETY = 0.01
#: A TAT further ahead than this is a corrupt file or a wall clock that jumped back: it is reset.
MAX_HORIZON_SECONDS = 86_400.0
#: How long one reservation waits for the file lock before using in-process state for that call.
FILE_LOCK_TIMEOUT_SECONDS = 10.0
_RECORD_SIZE = 128
#: A caller waking up later than this fraction of the interval after its slot takes a new slot ...
_LATE_FRACTION = 0.25
#: ... at most this many times in a row (then it sends anyway).
_MAX_LATE = 3
_SEND, _LATE, _PAUSED = "send", "late", "paused"
#: Opening the state file fails (ELOOP) instead of following a symlink someone planted in its place.
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class Clock(Protocol):
    """Wall-clock time source of a budget (injectable: tests use a fake one where sleeping advances time)."""

    def now(self) -> float:
        """Seconds since the epoch (shared between processes, so it must be wall-clock time)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.time` and :func:`time.sleep`."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        time.sleep(seconds)


class Budget(Protocol):
    """What a client needs from a request budget: :class:`RequestBudget` (one host) or
    :class:`~airflow_provider_nextsign.api.ratelimit_redis.RedisBudget` (every host, through Redis)."""

    key: str
    requests_per_minute: float

    @property
    def interval(self) -> float:
        """Seconds between two tokens."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other processes see this budget's state."""
        ...

    @property
    def stats(self) -> dict[str, float | int]:
        """Counters of this process (``granted``, ``waited_seconds``, ``penalties``, ``reslotted``)."""
        ...

    def set_rate(self, requests_per_minute: float) -> None:
        """Change the budget."""
        ...

    def reserve(self) -> float:
        """Take the next token now; return the seconds to wait before sending."""
        ...

    def acquire(self) -> float:
        """Block until a token is granted; return the seconds waited."""
        ...

    async def acquire_async(self) -> float:
        """Wait for a token without blocking the event loop; return the seconds waited."""
        ...

    def penalize(self, seconds: float) -> None:
        """A 429 arrived: nobody sharing the budget sends before now + ``seconds``."""
        ...

    async def penalize_async(self, seconds: float) -> None:
        """:meth:`penalize` without blocking the event loop."""
        ...


def budget_key(host: str, company_id: str, api_key: str) -> str:
    """SHA-256 hex digest naming the budget of (host, company, key); the key cannot be read back from it."""
    material = json.dumps([host.strip().rstrip("/").lower(), company_id.strip(), api_key.strip()])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def default_shared_dir() -> Path:
    """The state directory: ``$NEXTSIGN_RATE_LIMIT_DIR``, else one per user in the system temp dir.

    The default is ``<tempdir>/airflow-provider-nextsign-ratelimit-<uid>``.
    """
    configured = os.environ.get(SHARED_DIR_ENV, "").strip()
    if configured:
        return Path(configured)
    user = os.getuid() if hasattr(os, "getuid") else _user_name()
    return Path(tempfile.gettempdir()) / f"airflow-provider-nextsign-ratelimit-{user}"


def _user_name() -> str:
    import getpass

    return "".join(c if c.isalnum() else "_" for c in getpass.getuser())


def unsafe_directory_reason(path: Path) -> str | None:
    """Why ``path`` is not a safe home for shared state (``None`` when it is).

    Safe means: a real directory (``lstat``: not a symlink), owned by this user, that no other user may
    enter (no group or other permission bits). Anyone else who can write there could plant a symlink
    that makes the budget overwrite another file, or stall every NextSign call on the host.
    """
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link; use the real directory"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a directory"
    if not hasattr(os, "geteuid"):  # Windows: no POSIX owner and mode to check
        return None
    if info.st_uid != os.geteuid():
        return f"it belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    if info.st_mode & 0o077:
        return f"other users may use it (mode {stat.S_IMODE(info.st_mode):o}); chmod 700 it"
    return None


def private_directory_problem(path: Path) -> str | None:
    """Create ``path`` (mode 0700) if it is missing; then why it is not a safe home for shared state, as
    :func:`unsafe_directory_reason` (``None``: safe).

    :raises OSError: it could not be created or inspected.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return unsafe_directory_reason(path)


class _State:
    """The GCRA state: TAT of the next token and the end of the latest 429 pause (epoch seconds)."""

    __slots__ = ("paused_until", "tat")

    def __init__(self, tat: float = 0.0, paused_until: float = 0.0) -> None:
        self.tat = tat
        self.paused_until = paused_until


class RequestBudget:
    """Evenly spaced request tokens for one NextSign host, company and API key.

    Use :func:`get_budget` rather than building one: it returns the budget every caller in the process
    shares. ``acquire()`` / ``await acquire_async()`` before each request; ``penalize(retry_after)``
    when a 429 still arrives.

    :param key: SHA-256 hex digest naming the budget (see :func:`budget_key`), never the API key itself.
    :param requests_per_minute: the budget; tokens are spaced ``60 / rpm * (1 + safety)`` seconds apart.
    :param state_file: JSON file holding the shared state (under a file lock next to it);
        ``None`` keeps the state in this process only.
    :param clock: time source (default: the system clock).
    :param safety: fraction added to the spacing as slack for network jitter (default 0.01).
    """

    def __init__(
        self,
        key: str,
        requests_per_minute: float,
        *,
        state_file: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        safety: float = DEFAULT_SAFETY,
    ) -> None:
        self.key = key
        self._safety = check_safety(safety)
        self.requests_per_minute = check_requests_per_minute(requests_per_minute)
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._local = _State()
        self._granted = 0
        self._waited = 0.0
        self._penalties = 0
        self._reslotted = 0
        self._state_file: Path | None = None
        self._file_lock: filelock.BaseFileLock | None = None
        self._busy_warned = False
        if state_file is not None:
            self._open_store(Path(state_file))
        _LIVE_BUDGETS.add(self)

    # -- public API ---------------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        """Seconds between two tokens (the GCRA emission interval T)."""
        return 60.0 / self.requests_per_minute * (1.0 + self._safety)

    @property
    def shared(self) -> bool:
        """Whether the state is shared with other processes through the state file."""
        return self._state_file is not None

    @property
    def stats(self) -> dict[str, float | int]:
        """Counters of this process: tokens ``granted``, ``waited_seconds`` in total, ``penalties`` (429s),
        ``reslotted`` (slots given up because a pause covered them or the caller woke up late)."""
        with self._lock:
            return {
                "granted": self._granted,
                "waited_seconds": self._waited,
                "penalties": self._penalties,
                "reslotted": self._reslotted,
            }

    def set_rate(self, requests_per_minute: float) -> None:
        """Change the budget; tokens already granted keep their slots, later ones use the new spacing."""
        self.requests_per_minute = check_requests_per_minute(requests_per_minute)

    def reserve(self) -> float:
        """Take the next token now and return how long to wait before sending (0.0 = send now).

        The slot is not re-checked against a later :meth:`penalize` or a late wake-up; :meth:`acquire`
        does both (reserve, sleep, re-check).
        """
        return self._reserve()[0]

    def acquire(self) -> float:
        """Block until a token is granted; return the seconds waited."""
        waited, late = 0.0, 0
        while True:
            delay, slot = self._reserve()
            if delay > 0.0:
                self._clock.sleep(delay)
                waited += delay
            verdict = self._verdict(slot, delay > 0.0, late)
            if verdict is _SEND:
                return waited
            late += verdict is _LATE

    async def acquire_async(self) -> float:
        """Like :meth:`acquire`, but waits with :func:`asyncio.sleep` and never blocks the event loop.

        The locks and the state file are handled in a worker thread (:func:`asyncio.to_thread`).
        """
        import asyncio

        waited, late = 0.0, 0
        while True:
            delay, slot = await asyncio.to_thread(self._reserve)
            if delay > 0.0:
                await asyncio.sleep(delay)
                waited += delay
                verdict = await asyncio.to_thread(self._verdict, slot, True, late)
            else:
                verdict = self._verdict(slot, False, late)  # reads no file: fine on the loop
            if verdict is _SEND:
                return waited
            late += verdict is _LATE

    async def penalize_async(self, seconds: float) -> None:
        """:meth:`penalize` from a coroutine: the locks and the state file are handled in a worker thread."""
        import asyncio

        await asyncio.to_thread(self.penalize, seconds)

    def penalize(self, seconds: float) -> None:
        """A 429 arrived with ``Retry-After: seconds``: nobody sharing this budget sends before now + seconds.

        Callers already waiting in :meth:`acquire` for a slot inside the pause take a new slot after it,
        so the pause ends with evenly spaced requests, not a burst.
        """
        seconds = pause_seconds(seconds)

        def pause(state: _State, now: float) -> None:
            until = now + seconds
            state.paused_until = max(state.paused_until, until)
            state.tat = max(state.tat, until)

        self._update(pause)
        with self._lock:
            self._penalties += 1
        log.info("NextSign rate limit hit: budget %s paused for %.1f s", self._short_key, seconds)

    def __repr__(self) -> str:
        # The directory only: the file name is the full key hash, and repr shows 8 digits of it.
        where = str(self._state_file.parent) if self._state_file is not None else "process"
        return (
            f"RequestBudget(key={self._short_key}…, requests_per_minute={self.requests_per_minute:g}, "
            f"state={where})"
        )

    # -- internals ------------------------------------------------------------------------------------

    @property
    def _short_key(self) -> str:
        return self.key[:8]

    def _reserve(self) -> tuple[float, float]:
        """Take a token; return (delay, slot) where slot is the epoch time the token is granted for."""
        interval = self.interval
        result: list[float] = []

        def take(state: _State, now: float) -> None:
            slot = max(state.tat, now)
            state.tat = slot + interval
            result[:] = [slot - now, slot]

        self._update(take)
        delay, slot = result
        with self._lock:
            self._granted += 1
            self._waited += delay
        return delay, slot

    def _verdict(self, slot: float, waited: bool, late_so_far: int) -> str:
        """Whether the caller may send on its slot now, or must take a new one (and why).

        A new one is needed if a penalize() issued while it waited covers the slot, or if it woke up
        late: a request sent well after its slot eats the slack that keeps the next 60 s window under
        the limit (about one interval), so it is re-queued instead, wasting that one slot.
        """
        if waited and self._paused_after(slot):
            verdict = _PAUSED
        elif late_so_far < _MAX_LATE and self._clock.now() - slot > self.interval * _LATE_FRACTION:
            verdict = _LATE
        else:
            return _SEND
        with self._lock:
            self._reslotted += 1
        return verdict

    def _paused_after(self, slot: float) -> bool:
        """Whether a penalize() issued after the slot was reserved covers the slot (then take a new one)."""
        paused_until = self._read().paused_until
        return paused_until > slot

    def _update(self, change: Callable[[_State, float], None]) -> None:
        """Apply ``change`` to the state under the thread lock and, when shared, the file lock."""
        with self._lock:
            now = self._clock.now()
            if self._state_file is not None and self._file_lock is not None:
                try:
                    with self._file_lock:
                        state = self._load(self._state_file, now)
                        _merge(state, self._local)
                        change(state, now)
                        self._save(self._state_file, state)
                    self._local = state
                    return
                except TimeoutError:  # filelock.Timeout: the lock stayed busy
                    self._warn_busy()
                except OSError as err:
                    self._fall_back(err, self._state_file.parent)
            _sanitize(self._local, now)
            change(self._local, now)

    def _read(self) -> _State:
        with self._lock:
            now = self._clock.now()
            if self._state_file is not None and self._file_lock is not None:
                try:
                    with self._file_lock:
                        state = self._load(self._state_file, now)
                    _merge(state, self._local)
                    return state
                except TimeoutError:  # filelock.Timeout: the lock stayed busy
                    self._warn_busy()
                except OSError as err:
                    self._fall_back(err, self._state_file.parent)
            return _State(self._local.tat, self._local.paused_until)

    def _load(self, path: Path, now: float) -> _State:
        try:
            fd = os.open(path, os.O_RDONLY | NOFOLLOW)
        except FileNotFoundError:
            return _State()
        try:
            raw = os.read(fd, 4096)
        finally:
            os.close(fd)
        if not raw.strip():  # created empty by the write probe
            return _State()
        try:
            data = json.loads(raw)
            state = _State(float(data["tat"]), float(data.get("paused_until", 0.0)))
            if math.isnan(state.tat) or math.isnan(state.paused_until):  # would become time.sleep(nan)
                raise ValueError("NaN in the state file")
        except (ValueError, TypeError, KeyError):
            # Written under the lock, so only a crash mid-write gets here; our own TAT is merged in.
            log.warning("Request budget %s: unreadable state file, starting it afresh", self._short_key)
            return _State()
        if _sanitize(state, now):
            log.warning(
                "Request budget %s: state more than %.0f s ahead of the clock (clock moved back?), reset",
                self._short_key,
                MAX_HORIZON_SECONDS,
            )
        return state

    @staticmethod
    def _save(path: Path, state: _State) -> None:
        # No fsync: losing the state in a host crash only loses spacing already in the past.
        # A fixed-size record overwritten in place: truncating a file costs far more than the rest.
        data = json.dumps({"tat": state.tat, "paused_until": state.paused_until}).encode().ljust(_RECORD_SIZE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | NOFOLLOW, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def _open_store(self, state_file: Path) -> None:
        try:
            reason = private_directory_problem(state_file.parent)
            if reason is not None:
                raise PermissionError(errno.EPERM, reason)
            # Probe write access now: a FileLock in a read-only directory would just time out.
            os.close(os.open(state_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | NOFOLLOW, 0o600))
        except OSError as err:
            if err.errno == errno.ELOOP:
                err = PermissionError(errno.ELOOP, f"{state_file.name} is a symbolic link; remove it")
            self._fall_back(err, state_file.parent)
            return
        self._state_file = state_file
        self._file_lock = _new_file_lock(state_file)

    def _fall_back(self, err: OSError, where: Path) -> None:
        log.warning(
            "Request budget %s: cannot use %s for state shared between processes (%s: %s); "
            "this process keeps its own budget, so other processes on this host are not counted. "
            "Set %s to a directory of this user that only it can use (mode 0700).",
            self._short_key,
            where,
            type(err).__name__,
            err.strerror or err,
            SHARED_DIR_ENV,
        )
        self._state_file = None
        self._file_lock = None

    def _warn_busy(self) -> None:
        if not self._busy_warned:
            self._busy_warned = True
            log.warning(
                "Request budget %s: state file lock busy for %.0f s; used in-process state for this request",
                self._short_key,
                FILE_LOCK_TIMEOUT_SECONDS,
            )

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would stay held forever in the child.
        self._lock = threading.Lock()
        if self._file_lock is not None and self._state_file is not None:
            self._file_lock = _new_file_lock(self._state_file)


def _new_file_lock(state_file: Path) -> filelock.BaseFileLock:
    import filelock

    # thread_local=False: the budget's own threading lock already serializes this process's threads.
    return filelock.FileLock(str(state_file) + ".lock", timeout=FILE_LOCK_TIMEOUT_SECONDS, thread_local=False)


def _merge(state: _State, local: _State) -> None:
    """Never grant earlier than this process already knows (covers a deleted or reset state file)."""
    state.tat = max(state.tat, local.tat)
    state.paused_until = max(state.paused_until, local.paused_until)


def _sanitize(state: _State, now: float) -> bool:
    """Reset a state implausibly far in the future; return whether it was reset."""
    if state.tat - now > MAX_HORIZON_SECONDS or state.paused_until - now > MAX_HORIZON_SECONDS:
        state.tat = state.paused_until = 0.0
        return True
    return False


def pause_seconds(seconds: float) -> float:
    """A 429's pause as a budget applies it: non-finite or negative is none, at most a day."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        return 0.0
    return min(float(seconds), MAX_HORIZON_SECONDS)


def check_requests_per_minute(value: float) -> float:
    """``value`` as a rate, or a ValueError naming ``requests_per_minute`` and NextSign's limit."""
    try:
        rpm = float(value)
    except (TypeError, ValueError):
        rpm = math.nan
    if not math.isfinite(rpm) or rpm <= 0:
        raise ValueError(
            f"requests_per_minute must be a positive number of requests per minute (NextSign allows 100), "
            f"got {value!r}"
        )
    return rpm


def check_safety(value: float) -> float:
    """``value`` as the budget's safety margin, or a ValueError: a fraction in [0, 1)."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value < 1):
        raise ValueError(f"safety must be a fraction in [0, 1) such as 0.01, got {value!r}")
    return float(value)


_REGISTRY: dict[tuple[object, ...], RequestBudget] = {}
_REGISTRY_LOCK = threading.Lock()
_LIVE_BUDGETS: weakref.WeakSet[RequestBudget] = weakref.WeakSet()


def get_budget(
    host: str,
    company_id: str,
    api_key: str,
    requests_per_minute: float,
    *,
    shared_dir: str | os.PathLike[str] | None = None,
    cross_process: bool = True,
    clock: Clock | None = None,
    safety: float = DEFAULT_SAFETY,
) -> RequestBudget:
    """The budget of (host, company, API key) in this process, created on first use.

    Every caller asking for the same host, company and key (and the same state location and clock)
    gets the same object, whatever its thread. If callers pass different ``requests_per_minute``, the
    most recent one wins: all callers normally read it from the same connection, so a different value
    means the connection was edited and the new value is the intended one (a long-running triggerer
    picks it up without a restart).

    :param shared_dir: directory of the state files shared between processes (default
        ``$NEXTSIGN_RATE_LIMIT_DIR``, else ``<tempdir>/airflow-provider-nextsign-ratelimit-<uid>``); it
        must belong to this user with mode 0700, else the budget stays in this process.
    :param cross_process: ``False`` keeps the state in this process only (processes on different hosts).
    :param clock: time source (tests pass a fake one).
    :param safety: fraction added to the token spacing as slack for network jitter.
    """
    rpm = check_requests_per_minute(requests_per_minute)
    key = budget_key(host, company_id, api_key)
    state_file = (Path(shared_dir) if shared_dir is not None else default_shared_dir()) / f"{key}.json"
    location = str(state_file) if cross_process else None
    registry_key: tuple[object, ...] = (key, location, id(clock) if clock is not None else None, safety)
    with _REGISTRY_LOCK:
        budget = _REGISTRY.get(registry_key)
        if budget is None or (clock is not None and budget._clock is not clock):
            budget = RequestBudget(key, rpm, state_file=location, clock=clock, safety=safety)
            _REGISTRY[registry_key] = budget
        elif budget.requests_per_minute != rpm:
            log.info(
                "Request budget %s: requests_per_minute changed from %g to %g",
                key[:8],
                budget.requests_per_minute,
                rpm,
            )
            budget.set_rate(rpm)
        return budget


def reset_budgets() -> None:
    """Forget every budget of this process (tests); shared state files are left alone."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()


def _reinit_after_fork() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for budget in list(_LIVE_BUDGETS):
        budget._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
