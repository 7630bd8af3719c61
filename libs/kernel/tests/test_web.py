import contextlib
import gc
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.responses import Response

from waymark_kernel.web import create_base_app


async def test_what_start_up_built_is_left_out_of_the_collectors_passes() -> None:
    built_at_start_up: list[list[None]] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built_at_start_up.append([])
        yield

    app = create_base_app("test", title="Test", lifespan=lifespan, checks={})
    async with app.router.lifespan_context(app):
        built_later: list[None] = []
        collected = {id(item) for item in gc.get_objects()}
        assert id(built_at_start_up[0]) not in collected
        assert id(built_later) in collected


async def test_finding_9_every_response_is_nosniff_and_no_store_unless_it_says_otherwise() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_base_app("test", title="Test", lifespan=lifespan, checks={})

    @app.get("/v1/cases/{case_id}")
    async def case(case_id: str) -> dict[str, str]:
        return {"id": case_id, "person": "a name"}

    @app.get("/v1/keys")
    async def cacheable() -> Response:
        return Response(
            "{}", media_type="application/json", headers={"Cache-Control": "public, max-age=300"}
        )

    @app.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("breaks on purpose")

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answers = {
            path: await client.get(path)
            for path in ("/v1/cases/1", "/v1/keys", "/v1/broken", "/v1/missing", "/healthz")
        }

    assert [answer.status_code for answer in answers.values()] == [200, 200, 500, 404, 200]
    for answer in answers.values():
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"]
    assert answers["/v1/cases/1"].headers["cache-control"] == "no-store"
    assert answers["/v1/broken"].headers["cache-control"] == "no-store"
    assert answers["/v1/missing"].headers["cache-control"] == "no-store"
    assert answers["/v1/keys"].headers.get_list("cache-control") == ["public, max-age=300"]


async def test_finding_9_a_nul_in_the_path_or_the_query_is_a_400_problem() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_base_app("test", title="Test", lifespan=lifespan, checks={})
    seen: list[str] = []

    @app.get("/v1/services/{service_id}")
    async def service(service_id: str, q: str | None = None) -> dict[str, str | None]:
        seen.append(service_id)
        return {"id": service_id, "q": q}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://test"
    ) as client:
        in_path = await client.get("/v1/services/a%00b")
        in_query = await client.get("/v1/services/a", params={"q": "shelter\x00"})
        fine = await client.get("/v1/services/a", params={"q": "shelter"})

    for refused in (in_path, in_query):
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "https://waymark.network/problems/nul-character"
        assert refused.headers["x-content-type-options"] == "nosniff"
    assert fine.status_code == 200
    assert seen == ["a"]
