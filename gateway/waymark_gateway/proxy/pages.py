"""The web app's place in the gateway: every path that is not the API's goes to its pages."""

from starlette.types import ASGIApp, Receive, Scope, Send

API_PREFIXES = ("/v1/", "/.well-known/", "/docs/")
API_PATHS = frozenset({"/v1", "/docs", "/openapi.json", "/healthz", "/readyz", "/metrics"})


def is_api_path(path: str) -> bool:
    return path in API_PATHS or path.startswith(API_PREFIXES)


class PagesOutsideApi:
    def __init__(self, app: ASGIApp, *, pages: ASGIApp) -> None:
        self.app = app
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_api_path(scope["path"]):
            await self.pages(scope, receive, send)
            return
        await self.app(scope, receive, send)
