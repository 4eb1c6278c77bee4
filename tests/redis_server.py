"""A Redis for the tests: ``$NEXTSIGN_TEST_REDIS_URL`` (``bash scripts/ci_redis.sh`` starts one), else a
private ``redis-server`` on a free loopback port when the binary is installed, else the test is skipped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from benchmarks._redis_server import local_redis

SKIP_REASON = (
    "needs Redis: set NEXTSIGN_TEST_REDIS_URL or install redis-server "
    "(bash scripts/ci_redis.sh installs and starts one; .ci/run does)"
)


@contextmanager
def redis_url() -> Iterator[str]:
    """Yield a Redis URL (see the module docstring); skips the calling test when there is none."""
    with local_redis() as url:
        if url is None:
            pytest.skip(SKIP_REASON)
        yield url
