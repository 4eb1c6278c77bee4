"""NextSignCaseEventTrigger below the Airflow versions of its features: it says which version it needs."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_nextsign.compat import ASSET_STATE_STORE, ASSET_WATCHERS


@pytest.mark.skipif(ASSET_WATCHERS.available, reason="checks the gate below Airflow 3.1")
def test_importing_the_watcher_trigger_says_which_airflow_it_needs():
    with pytest.raises(ImportError, match=r"NextSignCaseEventTrigger .*needs Airflow 3\.1 or newer"):
        import airflow_provider_nextsign.triggers.events  # noqa: F401


@pytest.mark.skipif(
    ASSET_STATE_STORE.available or not ASSET_WATCHERS.available,
    reason="checks the watcher on Airflow 3 without an asset state store (3.1, 3.2)",
)
@pytest.mark.nextsign_sandbox(time_scale=600)
def test_without_a_state_store_the_watcher_says_once_that_its_cursor_is_in_memory(nextsign_sandbox, capsys):
    from airflow_provider_nextsign.triggers.events import NextSignCaseEventTrigger

    # Nothing is signed, so no event can come (a case signed just before the start would be reported:
    # the watcher looks back about 5 minutes) and the trigger keeps polling.
    nextsign_sandbox.seed_cases(2)
    trigger = NextSignCaseEventTrigger(poll_interval=0.01)

    async def first_polls() -> None:
        polls = trigger.run()
        task = asyncio.ensure_future(polls.__anext__())
        await asyncio.sleep(0.5)  # several polls
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(first_polls())
    # Airflow 3 trigger logs go through structlog to stdout.
    assert capsys.readouterr().out.count(ASSET_STATE_STORE.message()) == 1
