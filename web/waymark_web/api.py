"""The web app's one way to the network: the public API, called as the person signed in to
the browser (her session cookie, or a bearer token, passed on as the browser sent it)."""

from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
from starlette.requests import Request
from starlette.types import ASGIApp
from waymark_kernel.logging import request_id_var

# Her credentials, and what a trusted proxy in front said of her connection.
FORWARDED_HEADERS = ("cookie", "authorization", "x-forwarded-for", "x-forwarded-proto")
CLIENT_EXTENSION = "waymark_client"  # the browser's address, seen by the gateway as the caller's
SCHEME_EXTENSION = "waymark_scheme"  # http or https, as the browser reached the gateway
ORIGINAL_TEXTS = "*"  # an Accept-Language naming no language: services come as written


class ApiError(Exception):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('title', '')}")
        self.status = status
        self.problem = problem

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or "")


class InProcessTransport(httpx.AsyncBaseTransport):
    """Calls the gateway app in this process as the browser's connection: her address (the
    gateway's per-address limits count her, not the web app) and scheme (its cookies' names
    and flags depend on it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        client = request.extensions.get(CLIENT_EXTENSION) or ("127.0.0.1", 0)
        request.url = request.url.copy_with(scheme=request.extensions.get(SCHEME_EXTENSION, "http"))
        transport = httpx.ASGITransport(app=self.app, client=client)
        return await transport.handle_async_request(request)


def no_cookie_jar() -> CookieJar:
    """The client is shared by every visitor: a cookie the API sets belongs to one browser and
    is handed on to it, never kept and sent for the next visitor."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def api_client(api: ASGIApp | str) -> httpx.AsyncClient:
    """`api`: the gateway app in this process, or the gateway's address."""
    if isinstance(api, str):
        return httpx.AsyncClient(base_url=api, timeout=30, cookies=no_cookie_jar())
    return httpx.AsyncClient(
        transport=InProcessTransport(api), base_url="http://gateway.internal", timeout=30,
        cookies=no_cookie_jar(),
    )


class Api:
    """The API as one browser's person: every call carries her credentials and language."""

    def __init__(self, client: httpx.AsyncClient, request: Request, language: str) -> None:
        self.client = client
        self.headers = {
            name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers
        }
        self.headers["accept-language"] = language
        self.client_address = (request.client.host, request.client.port) if request.client else None
        self.scheme = request.url.scheme
        self.csrf_token: str | None = None  # the session's, sent with every change

    async def call(
        self, method: str, path: str, *, params: Any = None, json: Any = None,
        data: Any = None, content: bytes | None = None, headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        sent = {**self.headers, **(headers or {})}
        if method not in ("GET", "HEAD") and self.csrf_token:
            sent["x-csrf-token"] = self.csrf_token
        if request_id := request_id_var.get(None):
            sent["x-request-id"] = request_id
        response = await self.client.request(
            method, path, params=params, json=json, data=data, content=content, headers=sent,
            timeout=timeout if timeout is not None else self.client.timeout,
            extensions={CLIENT_EXTENSION: self.client_address, SCHEME_EXTENSION: self.scheme},
        )
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise ApiError(response.status_code, problem if isinstance(problem, dict) else {})
        return response

    async def get(self, path: str, params: Any = None) -> Any:
        return (await self.call("GET", path, params=params)).json()

    async def get_original(self, path: str, params: Any = None) -> Any:
        """As `get`, with services' names and descriptions as written, not translated."""
        response = await self.call("GET", path, params=params,
                                   headers={"accept-language": ORIGINAL_TEXTS})
        return response.json()

    async def send(self, method: str, path: str, json: Any = None, **options: Any) -> Any:
        response = await self.call(method, path, json=json, **options)
        return response.json() if response.content else None
