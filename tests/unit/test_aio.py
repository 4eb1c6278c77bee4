"""AsyncNextSignClient against a real local aiohttp server: paths, batching, classification, retries."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from airflow_provider_nextsign.api.aio import AsyncNextSignClient
from airflow_provider_nextsign.api.retry import RetryPolicy
from airflow_provider_nextsign.exceptions import (
    NextSignAuthError,
    NextSignConnectionError,
    NextSignNotFoundError,
)

from .conftest import API_KEY, COMPANY


@pytest.fixture
async def server():
    """A tiny NextSign look-alike; ``state`` scripts its answers and records the requests."""
    state: dict = {
        "requests": [],
        "fail_next": 0,
        "retry_after": "0",
        "cases": {"a": {"_id": "a"}, "b": {"_id": "b"}, "c": {"_id": "c"}},
    }

    async def multiple(request: web.Request) -> web.Response:
        state["requests"].append(request)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response(
                {
                    "errors": [
                        {"code": 401, "message": "Unauthorized", "description": "Bearer token not found"}
                    ]
                },
                status=401,
            )
        if state["fail_next"]:
            state["fail_next"] -= 1
            headers = {"Retry-After": state["retry_after"]} if state.get("retry_after") else {}
            return web.json_response({"message": "Too many requests"}, status=429, headers=headers)
        found = [state["cases"][i] for i in request.match_info["ids"].split(",") if i in state["cases"]]
        if not found:
            return web.json_response({"message": "Cases not found"}, status=404)
        return web.json_response({"status": "cases_found", "cases": found})

    async def one(request: web.Request) -> web.Response:
        state["requests"].append(request)
        case = state["cases"].get(request.match_info["id"])
        return web.json_response(
            {"status": "case_found", "case": case} if case else {"message": "Case not found"}
        )

    async def listing(request: web.Request) -> web.Response:
        state["requests"].append(request)
        limit, index = int(request.query["limit"]), int(request.query["index"])
        ids = sorted(state["cases"])[index * limit : (index + 1) * limit]
        return web.json_response({"status": "company_found", "cases": [state["cases"][i] for i in ids]})

    app = web.Application()
    app.router.add_get(f"/api/v2/{COMPANY}/cases/get", listing)
    app.router.add_get(f"/api/v2/{COMPANY}/cases/{{ids}}/get", multiple)
    app.router.add_get(f"/api/v2/{COMPANY}/case/{{id}}/get", one)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state["url"] = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


def _client(server, budget, key=API_KEY, **kwargs):
    return AsyncNextSignClient(
        COMPANY,
        key,
        host=server["url"],
        budget=budget,
        retry_policy=RetryPolicy(jitter=0.0, backoff_initial=0.01),
        **kwargs,
    )


async def test_get_cases_batches_and_drops_missing_ids(server, budget):
    async with _client(server, budget, batch_size=2) as client:
        found = await client.get_cases(["a", "x", "y", "z", "b"])
    assert [c["_id"] for c in found] == ["a", "b"]
    assert [r.match_info["ids"] for r in server["requests"]] == ["a,x", "y,z", "b"]
    assert budget.acquired == 3
    assert server["requests"][0].headers["User-Agent"].startswith("airflow-provider-nextsign/")


async def test_get_case_and_not_found_under_200(server, budget):
    async with _client(server, budget) as client:
        assert await client.get_case("a") == {"_id": "a"}
        with pytest.raises(NextSignNotFoundError):
            await client.get_case("gone")


async def test_list_cases_pages(server, budget):
    async with _client(server, budget) as client:
        ids = [c["_id"] async for c in client.list_cases(page_size=2)]
    assert ids == ["a", "b", "c"]
    # The short page 1 ends the list once page 2 is seen empty.
    assert [r.query["index"] for r in server["requests"]] == ["0", "1", "2"]


async def test_429_is_retried_and_penalizes_the_budget(server, budget):
    server["fail_next"] = 2
    async with _client(server, budget) as client:
        assert [c["_id"] for c in await client.get_cases(["a"])] == ["a"]
    assert budget.penalties == [0.0, 0.0]
    assert budget.penalized_async == 2  # through the path that never blocks the event loop
    assert len(server["requests"]) == 3


async def test_wrong_key_is_an_auth_error(server, budget):
    async with _client(server, budget, key="wrong-key") as client:
        with pytest.raises(NextSignAuthError, match="Bearer token not found"):
            await client.get_cases(["a"])


async def test_unreachable_host_is_a_connection_error(budget):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AsyncNextSignClient(
        COMPANY,
        API_KEY,
        host=f"http://127.0.0.1:{port}",
        budget=budget,
        retry_policy=RetryPolicy(max_attempts=1),
    )
    async with client:
        with pytest.raises(NextSignConnectionError) as info:
            await client.get_case("a")
    assert info.value.request_sent is False


async def test_waiting_never_blocks_the_event_loop(server, budget):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    server["fail_next"], server["retry_after"] = 3, None
    task = asyncio.create_task(ticker())
    async with _client(server, budget) as client:  # backoff 0.01, 0.02, 0.04 s between attempts
        await client.get_cases(["a"])
    task.cancel()
    assert ticks >= 5


async def test_a_huge_retry_after_reaches_the_shared_budget_capped_by_the_policy(server, budget):
    server["fail_next"], server["retry_after"] = 1, "86400"
    policy = RetryPolicy(jitter=0.0, max_retry_after=0.01)
    async with _client(server, budget) as client:
        client.retry_policy = policy
        assert [c["_id"] for c in await client.get_cases(["a"])] == ["a"]
    assert budget.penalties == [0.01]
