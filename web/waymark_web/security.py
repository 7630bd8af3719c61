"""What every page answers with: a strict content policy, no referrer, no caching of pages
(they hold personal data), and the form token that protects each change against forgery."""

import base64
import hmac
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


class PageHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PAGE_HEADERS.items():
                    headers[name] = value
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def masked(token: str) -> str:
    """The session's token under a fresh one-time pad, so that no two pages carry the same
    bytes (a compressed page must not reveal it, as in BREACH)."""
    raw = token.encode()
    pad = secrets.token_bytes(len(raw))
    return base64.urlsafe_b64encode(pad + bytes(a ^ b for a, b in zip(pad, raw))).decode()


def matches(form_value: str, token: str) -> bool:
    try:
        decoded = base64.urlsafe_b64decode(form_value.encode())
    except (ValueError, UnicodeEncodeError):
        return False
    half = len(decoded) // 2
    if len(decoded) % 2 or half == 0:
        return False
    unmasked = bytes(a ^ b for a, b in zip(decoded[:half], decoded[half:]))
    return hmac.compare_digest(unmasked, token.encode())
