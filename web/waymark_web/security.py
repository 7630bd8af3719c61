"""What every page answers with: a strict content policy, no referrer, no caching of pages
(they hold personal data), and the form token that protects each change against forgery."""

import base64
import hmac
import secrets

from waymark_kernel.web import SAFE_HEADERS

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
# Each added unless a page sets it itself (static files and the offline page their caching).
PAGE_HEADERS = (
    *SAFE_HEADERS,
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


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
