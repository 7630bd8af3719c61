"""Request bodies refuse NUL in any text and bidirectional controls in names, naming the field."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from waymark_kernel.api import RequestBody
from waymark_kernel.problems import install_problem_handlers


class Contact(RequestBody):
    given_name: str | None = None
    note: str | None = None


class Organisation(RequestBody):
    name: str
    description: str | None = None
    languages: list[str] = []
    contacts: list[Contact] = []


@pytest.fixture
async def api() -> AsyncIterator[tuple[AsyncClient, list[Organisation]]]:
    app = FastAPI()
    install_problem_handlers(app)
    created: list[Organisation] = []

    @app.post("/v1/organizations", status_code=201)
    async def create(body: Organisation) -> dict[str, Any]:
        created.append(body)
        return {"created": len(created)}

    async with AsyncClient(transport=ASGITransport(app), base_url="http://test") as client:
        yield client, created


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Shelter\u0000"}, ["body", "name"]),
    ({"name": "Shelter", "description": "open\u0000 daily"}, ["body", "description"]),
    ({"name": "Shelter", "languages": ["ar\u0000"]}, ["body", "languages"]),
    ({"name": "Shelter", "contacts": [{"note": "\u0000"}]}, ["body", "contacts", "0", "note"]),
    ({"name": "Shelter \u202egnp.exe"}, ["body", "name"]),
    ({"name": "Shelter \u2066x\u2069"}, ["body", "name"]),
    ({"name": "Shelter", "contacts": [{"given_name": "\u202bAmal"}]},
     ["body", "contacts", "0", "given_name"]),
])
async def test_finding_9_nul_in_any_text_and_bidi_controls_in_a_name_are_refused(
    api: tuple[AsyncClient, list[Organisation]], body: dict[str, Any], field: list[str]
) -> None:
    client, created = api

    response = await client.post("/v1/organizations", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["location"] == field
    assert "NUL" in error["message"] or "bidirectional" in error["message"]
    assert created == []


async def test_right_to_left_text_and_its_marks_stay_welcome(api: tuple[AsyncClient, list[Organisation]]) -> None:
    client, created = api
    body = {
        "name": "الهلال الأحمر\u200f", "description": "ملجأ \u202bآمن\u202c للنساء",
        "contacts": [{"given_name": "أمل", "note": "\u2067+962\u2069"}],
    }

    response = await client.post("/v1/organizations", json=body)

    assert response.status_code == 201
    assert created[0].name == body["name"]
