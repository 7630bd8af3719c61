"""Every error is an RFC 9457 problem: no stack traces, no echoed input."""

import json
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import Field
from starlette.types import Message

from libs.kernel.tests.conftest import nothing_to_start
from waymark_kernel.api import RequestBody
from waymark_kernel.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, Conflict, NotFound
from waymark_kernel.web import create_base_app

PERSONAL = "Amina Yusuf +30 690 000 0000"


class CaseCreate(RequestBody):
    name: str = Field(max_length=20)
    age: int


def problem_app() -> FastAPI:
    app = create_base_app("problems", title="Problems", lifespan=nothing_to_start, checks={})

    @app.get("/referrals/{referral_id}")
    async def read_referral(referral_id: uuid.UUID) -> dict[str, Any]:
        raise NotFound("referral")

    @app.post("/cases")
    async def create_case(body: CaseCreate) -> dict[str, Any]:
        raise Conflict("A case with this reference exists already.", kind="duplicate-case")

    @app.get("/crash")
    async def crash() -> dict[str, Any]:
        raise RuntimeError(f"connection string postgresql://admin:secret@db for {PERSONAL}")

    return app


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.text = status, headers, body.decode()

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.text)
        return document


async def call(app: FastAPI, method: str, path: str, body: bytes = b"") -> Response:
    """One request straight through the ASGI interface, as a server would make it."""
    sent: list[Message] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:
            return {"type": "http.disconnect"}
        requested = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
    }
    try:
        await app(scope, receive, send)
    except RuntimeError:
        # Starlette re-raises an unhandled error after sending the 500, for the server to log.
        if not any(message["type"] == "http.response.start" for message in sent):
            raise
    start = next(message for message in sent if message["type"] == "http.response.start")
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Response(start["status"], headers, content)


def assert_problem(response: Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + kind
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    return problem


async def test_an_unknown_route_is_a_404_problem() -> None:
    response = await call(problem_app(), "GET", "/nowhere")

    problem = assert_problem(response, 404, "not-found")
    assert problem["title"] == "Not Found"
    assert problem["instance"] == "/nowhere"


async def test_a_missing_object_is_a_404_problem_naming_only_what_was_missing() -> None:
    response = await call(problem_app(), "GET", f"/referrals/{uuid.uuid4()}")

    problem = assert_problem(response, 404, "not-found")
    assert problem["detail"] == "No referral with this id exists or it is not visible to you."


async def test_a_wrong_method_is_a_405_problem_with_an_allow_header() -> None:
    response = await call(problem_app(), "DELETE", f"/referrals/{uuid.uuid4()}")

    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "GET"


async def test_a_domain_problem_keeps_its_kind() -> None:
    body = json.dumps({"name": "A", "age": 3}).encode()
    response = await call(problem_app(), "POST", "/cases", body)

    problem = assert_problem(response, 409, "duplicate-case")
    assert problem["detail"] == "A case with this reference exists already."


@pytest.mark.parametrize(("body", "location"), [
    ({"name": PERSONAL, "age": 30}, ["body", "name"]),  # too long
    ({"name": "Amina", "age": PERSONAL}, ["body", "age"]),  # not a number
    ({"name": "Amina", "age": 30, "phone": PERSONAL}, ["body", "phone"]),  # unknown field
])
async def test_invalid_input_is_a_422_problem_that_never_echoes_the_input(
    body: dict[str, Any], location: list[str]
) -> None:
    response = await call(problem_app(), "POST", "/cases", json.dumps(body).encode())

    problem = assert_problem(response, 422, "validation-error")
    assert [error["location"] for error in problem["errors"]] == [location]
    assert all(set(error) == {"location", "message"} for error in problem["errors"])
    assert "Amina" not in response.text
    assert "690" not in response.text


async def test_a_body_that_is_not_json_is_a_422_problem() -> None:
    response = await call(problem_app(), "POST", "/cases", b'{"name": "Amina", ')

    problem = assert_problem(response, 422, "validation-error")
    assert "Amina" not in response.text
    assert problem["errors"]


async def test_an_invalid_path_id_is_a_422_problem() -> None:
    response = await call(problem_app(), "GET", "/referrals/Amina")

    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["location"] == ["path", "referral_id"]
    assert "Amina" not in json.dumps(problem["errors"])  # `instance` is the path as requested


async def test_an_unexpected_error_is_a_500_problem_without_a_stack_trace() -> None:
    response = await call(problem_app(), "GET", "/crash")

    problem = assert_problem(response, 500, "internal-server-error")
    assert problem["detail"] == "An unexpected error occurred; it has been logged."
    for leaked in ("Traceback", "RuntimeError", "secret", "Amina", "crash", ".py"):
        assert leaked not in response.text
