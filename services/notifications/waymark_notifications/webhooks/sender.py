"""Sending one signed webhook over the one shared HTTP client; never follows redirects."""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from waymark_notifications.webhooks.signing import signature_header
from waymark_notifications.webhooks.url_guard import GuardedResolver, UnsafeTarget, UrlGuard

EXCERPT_CHARS = 200
USER_AGENT = "Waymark-Webhooks/1.0"


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    duration_ms: int
    error: str | None = None
    response_excerpt: str | None = None
    retry_after_seconds: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _short(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


class WebhookSender:
    def __init__(self, guard: UrlGuard, *, timeout_seconds: float) -> None:
        self.guard = guard
        self.timeout_seconds = timeout_seconds
        self._client: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "WebhookSender":
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.guard), use_dns_cache=False, limit=0,
        )
        self._client = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
            headers={"User-Agent": USER_AGENT}, trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._client is not None:
            await self._client.close()

    async def send(
        self, url: str, webhook_id: str, body: str, secrets_in_use: list[str]
    ) -> SendResult:
        """One attempt; every failure becomes a result, never an exception."""
        assert self._client is not None, "use the sender inside `async with`"
        started = time.perf_counter()

        def failed(error: str) -> SendResult:
            return SendResult(None, round((time.perf_counter() - started) * 1000), _short(error))

        try:
            self.guard.check_form(url)  # the addresses are checked by the resolver
        except UnsafeTarget as exc:
            return failed(f"Refused: {exc}")
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets_in_use, webhook_id, timestamp, body),
        }
        try:
            async with self._client.post(
                url, data=body.encode(), headers=headers, allow_redirects=False
            ) as response:
                start_of_answer = await response.content.read(EXCERPT_CHARS * 4)
        except TimeoutError:
            return failed(f"No answer within {self.timeout_seconds:g} s.")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, UnsafeTarget):
                return failed(f"Refused: {exc.os_error}")
            return failed(f"Cannot connect: {exc.os_error}")
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            return failed(f"{type(exc).__name__}: {exc}")
        status = response.status
        accepted = 200 <= status < 300
        excerpt = start_of_answer.decode("utf-8", "replace")
        return SendResult(
            status, round((time.perf_counter() - started) * 1000),
            error=None if accepted else _short(f"HTTP {status} {response.reason or ''}".strip()),
            response_excerpt=_short(excerpt) if excerpt else None,
            retry_after_seconds=retry_after_seconds(response.headers.get("Retry-After"))
            if status in (429, 503) else None,
        )
