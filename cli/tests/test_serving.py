"""A stopping server answers the requests in flight, and 503 to those not answering in time."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI

from waymark_cli.serving import CUT_OFF_SECONDS, DRAIN_SECONDS, GracefulServer
from waymark_cli.stopping import StopRequest
from waymark_kernel.testing import free_port
from waymark_kernel.web import create_base_app


@contextlib.asynccontextmanager
async def nothing(_app: FastAPI) -> AsyncIterator[None]:
    yield


async def test_requests_in_flight_finish_and_those_too_slow_are_answered_503_to_retry() -> None:
    app = create_base_app("test", title="Test", lifespan=nothing, checks={})
    finished: list[str] = []

    @app.get("/quick")
    async def quick() -> dict[str, str]:
        await asyncio.sleep(0.5)
        finished.append("quick")
        return {"answer": "done"}

    @app.get("/stuck")
    async def stuck() -> dict[str, str]:
        await asyncio.sleep(60)
        finished.append("stuck")
        return {"answer": "too late"}

    port, stop = free_port(), StopRequest()
    server = GracefulServer(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on",
    ), stop, app.state.draining)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        answers = [asyncio.create_task(client.get(path)) for path in ("/quick", "/stuck")]
        await asyncio.sleep(0.2)
        stopped_at = asyncio.get_running_loop().time()
        stop.request("test")
        quick_answer, stuck_answer = await asyncio.gather(*answers)
        cut_off_after = asyncio.get_running_loop().time() - stopped_at
        await asyncio.wait_for(serving, timeout=DRAIN_SECONDS + 1)

    assert (quick_answer.status_code, quick_answer.json()) == (200, {"answer": "done"})
    assert stuck_answer.status_code == 503
    assert stuck_answer.headers["Retry-After"] == "5"
    assert stuck_answer.headers["content-type"] == "application/problem+json"
    assert stuck_answer.json()["status"] == 503
    assert stuck_answer.headers["x-request-id"]
    assert CUT_OFF_SECONDS - 0.5 < cut_off_after < DRAIN_SECONDS
    assert finished == ["quick"]
