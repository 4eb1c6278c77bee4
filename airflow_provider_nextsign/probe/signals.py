"""Ctrl-C and SIGTERM stop the probe's checks, never its clean-up.

The command line installs handlers that raise :class:`Interrupted` in the main thread, which unwinds
the running check into the runner's clean-up. While the clean-up runs (:func:`shielded`) a further
signal only prints that the probe is deleting its cases. Inside Airflow the task runner's own SIGTERM
handling applies instead (its exception unwinds the same way); nothing is installed there.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Interrupted", "install", "shielded"]

_shield = {"depth": 0}


class Interrupted(BaseException):
    """A SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _handler(signum: int, frame: Any) -> None:
    if _shield["depth"]:
        print("probe: deleting the probe's cases first; please wait", file=sys.stderr, flush=True)
        return
    raise Interrupted(signum)


def install() -> Callable[[], None]:
    """Handle SIGINT and SIGTERM (main thread only); returns a function that restores the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {signum: signal.signal(signum, _handler) for signum in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """While inside, the handlers of :func:`install` do not interrupt (the clean-up runs to its end)."""
    _shield["depth"] += 1
    try:
        yield
    finally:
        _shield["depth"] -= 1
