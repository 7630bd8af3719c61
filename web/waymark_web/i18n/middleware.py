"""Which language a page speaks: `?lang=xx` (remembered in a cookie), else the cookie, else
the browser's `Accept-Language`."""

from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waymark_web.i18n import Languages

COOKIE = "lang"
ONE_YEAR = 365 * 24 * 3600


def _header(scope: Scope, name: bytes) -> str:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


class LanguageMiddleware:
    def __init__(self, app: ASGIApp, languages: Languages) -> None:
        self.app = app
        self.languages = languages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = self.languages.get(QueryParams(scope["query_string"]).get("lang"))
        cookie = SimpleCookie()
        try:
            cookie.load(_header(scope, b"cookie"))
        except Exception:  # a malformed cookie header must not break the page
            cookie = SimpleCookie()
        remembered = self.languages.get(cookie[COOKIE].value) if COOKIE in cookie else None
        language = chosen or remembered or self.languages.negotiate(
            _header(scope, b"accept-language")
        )
        scope.setdefault("state", {})["language"] = language

        async def send_remembering(message: Message) -> None:
            if message["type"] == "http.response.start" and chosen and chosen != remembered:
                MutableHeaders(scope=message).append(
                    "set-cookie",
                    f"{COOKIE}={chosen.code}; Path=/; Max-Age={ONE_YEAR}; SameSite=Lax",
                )
            await send(message)

        await self.app(scope, receive, send_remembering)
