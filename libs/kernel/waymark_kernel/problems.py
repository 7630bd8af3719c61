"""RFC 9457 problem details for every error a Waymark process answers."""

import logging
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://waymark.network/problems/"
log = logging.getLogger("waymark.problems")


class Problem(Exception):
    """An error the caller can act on; `detail` must never hold personal data."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra or {}


class NotFound(Problem):
    def __init__(self, what: str) -> None:
        super().__init__(404, f"No {what} with this id exists or it is not visible to you.")


class Forbidden(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


class DatabaseUnavailable(Problem):
    """The database connection was lost during the request (a restart drops pooled ones), or
    none could be made."""

    def __init__(self) -> None:
        super().__init__(
            503, "The database was not reachable during this request; try again.",
            kind="database-unavailable", headers={"Retry-After": "1"},
        )


# The database is away (restarting, shutting down, unreachable), or a connection read the server's
# goodbye before its close (asyncpg's protocol is then failed: InternalClientError "another
# operation is in progress"): the request may be tried again, on a new connection.
CONNECTION_LOST: tuple[type[Exception], ...] = (
    ConnectionError, asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.InternalClientError,
)


def connection_lost(exc: BaseException) -> bool:
    """Whether the driver's error under a SQLAlchemy one says the connection went away."""
    cause: BaseException | None = exc
    for _ in range(5):  # orig, and the asyncpg error the adapter wraps
        if cause is None:
            return False
        if isinstance(cause, CONNECTION_LOST):
            return True
        cause = getattr(cause, "orig", None) or cause.__cause__
    return False


class Conflict(Problem):
    def __init__(self, detail: str, kind: str = "conflict") -> None:
        super().__init__(409, detail, kind=kind)


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (kind or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The offending input is left out on purpose: it may be a person's name or phone.
    return [
        {"location": [str(part) for part in error.get("loc", ())], "message": error.get("msg", "")}
        for error in exc.errors()
    ]


def _allowed_methods(request: Request) -> str:
    """Every method some route answers at this path (Starlette names only the first route's)."""
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, kind=exc.kind, title=exc.title, headers=exc.headers,
            extra=exc.extra, instance=request.url.path,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            422, "The request is not valid; see `errors`.", kind="validation-error",
            extra={"errors": _validation_errors(exc)}, instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        given: object = exc.detail  # FastAPI's HTTPException takes any detail
        detail = given if isinstance(given, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is nothing at this address."
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            detail = "This method is not allowed here; see the Allow header."
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return problem_response(exc.status_code, detail, headers=headers, instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(500, "An unexpected error occurred; it has been logged.")

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if not (exc.connection_invalidated or connection_lost(exc)):
            return await _unexpected(request, exc)
        # A restarted database drops pooled connections; the pool has replaced them by now.
        return await _unavailable(request, DatabaseUnavailable())

    async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
        return await _unavailable(request, DatabaseUnavailable())

    for lost in CONNECTION_LOST:  # raised as they are by a new connection, or by the driver itself
        app.add_exception_handler(lost, _unreachable)

    @app.exception_handler(DatabaseUnavailable)
    async def _unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        log.warning("database connection lost", extra={"path": request.url.path})
        return await _problem(request, exc)
