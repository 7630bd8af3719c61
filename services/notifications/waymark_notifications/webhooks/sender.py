"""Sending one signed webhook over the one shared HTTP client; never follows redirects."""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType

from waymark_notifications.webhooks.http_client import HttpFailure, WebhookClient
from waymark_notifications.webhooks.signing import signature_header
from waymark_notifications.webhooks.url_guard import UnsafeTarget, UrlGuard

EXCERPT_CHARS = 200
USER_AGENT = "Waymark-Webhooks/1.0"
NO_TRACE: Mapping[str, str] = MappingProxyType({})


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
        self._client: WebhookClient | None = None

    async def __aenter__(self) -> "WebhookSender":
        self._client = WebhookClient(
            self.guard, timeout_seconds=self.timeout_seconds, user_agent=USER_AGENT
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._client is not None:
            self._client.close()

    async def send(
        self, url: str, webhook_id: str, body: str, secrets_in_use: list[str],
        trace_headers: Mapping[str, str] = NO_TRACE,
    ) -> SendResult:
        """One attempt; every failure becomes a result, never an exception. `trace_headers`:
        the attempt's W3C trace context (ids only), empty when tracing is off."""
        assert self._client is not None, "use the sender inside `async with`"
        started = time.perf_counter()

        def failed(error: str) -> SendResult:
            return SendResult(None, round((time.perf_counter() - started) * 1000), _short(error))

        try:
            target = self.guard.check_form(url)  # the addresses are checked on connecting
        except UnsafeTarget as exc:
            return failed(f"Refused: {exc}")
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets_in_use, webhook_id, timestamp, body),
            **trace_headers,
        }
        try:
            answer = await self._client.post(target, headers, body.encode())
        except TimeoutError:
            return failed(f"No answer within {self.timeout_seconds:g} s.")
        except UnsafeTarget as exc:
            return failed(f"Refused: {exc}")
        except OSError as exc:
            return failed(f"Cannot connect: {exc}")
        except HttpFailure as exc:
            return failed(f"Broken answer: {exc}")
        status = answer.status
        accepted = 200 <= status < 300
        excerpt = answer.body_start.decode("utf-8", "replace")
        return SendResult(
            status, round((time.perf_counter() - started) * 1000),
            error=None if accepted else _short(f"HTTP {status} {answer.reason}".strip()),
            response_excerpt=_short(excerpt) if excerpt else None,
            retry_after_seconds=retry_after_seconds(answer.retry_after)
            if status in (429, 503) else None,
        )
