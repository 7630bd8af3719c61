"""Sending one signed webhook over the one shared HTTP client; never follows redirects.

A new connection goes only to an address the guard has accepted at that moment, so a DNS
answer that changes between check and connect (rebinding) gets no connection."""

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType

import yarl

from waymark_kernel.http_client import Headers, HttpClient, HttpFailure, Origin
from waymark_notifications.webhooks.signing import signature_header
from waymark_notifications.webhooks.url_guard import UnsafeTarget, UrlGuard

EXCERPT_CHARS = 200
USER_AGENT = b"Waymark-Webhooks/1.0"
NO_TRACE: Mapping[str, str] = MappingProxyType({})
BODY_BYTES_KEPT = 800  # an answer is complete with this much of its body; the rest is not read
MAX_ANSWER_HEADER_BYTES = 32 * 1024
IDLE_SECONDS = 30.0  # a connection unused this long is closed rather than reused
# A delivery written on a kept-alive connection that the receiver closed while idle goes again
# on a new one: receivers recognise a repeated delivery by its webhook-id.
RESENT_ON_CLOSED_CONNECTION = frozenset({"POST"})


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


@functools.lru_cache(maxsize=4096)  # as the guard's check of a URL's form: URLs repeat
def _destination(url: yarl.URL) -> tuple[Origin, bytes]:
    """Where a checked URL is sent (its host as the guard checks it, the Host header as given)
    and the request's target."""
    origin = Origin(
        url.scheme, (url.raw_host or "").rstrip("."), url.port or 0,
        (url.host_port_subcomponent or "").encode("latin-1"),
    )
    return origin, url.raw_path_qs.encode("latin-1")


def _header(headers: Headers, name: bytes) -> str | None:
    """The last value of a header the answer gave, or None."""
    values = [value for header, value in headers if header == name]
    return values[-1].decode("latin-1") if values else None


def _short(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


class WebhookSender:
    def __init__(self, guard: UrlGuard, *, timeout_seconds: float) -> None:
        self.guard = guard
        self.timeout_seconds = timeout_seconds
        self._client: HttpClient | None = None

    async def __aenter__(self) -> "WebhookSender":
        self._client = HttpClient(
            timeout=self.timeout_seconds, resent_methods=RESENT_ON_CLOSED_CONNECTION,
            max_header_bytes=MAX_ANSWER_HEADER_BYTES, body_bytes_kept=BODY_BYTES_KEPT,
            idle_seconds=IDLE_SECONDS, addresses=self.guard.addresses,
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
        if self._client is None:
            raise RuntimeError("use the sender inside `async with`")
        started = time.perf_counter()

        def failed(error: str) -> SendResult:
            return SendResult(None, round((time.perf_counter() - started) * 1000), _short(error))

        try:
            target = self.guard.check_form(url)  # the addresses are checked on connecting
        except UnsafeTarget as exc:
            return failed(f"Refused: {exc}")
        timestamp = int(time.time())
        headers: Headers = [
            (b"user-agent", USER_AGENT),
            (b"content-type", b"application/json"),
            (b"webhook-id", webhook_id.encode("latin-1")),
            (b"webhook-timestamp", b"%d" % timestamp),
            (b"webhook-signature", signature_header(
                secrets_in_use, webhook_id, timestamp, body
            ).encode("latin-1")),
        ]
        if trace_headers:
            headers += [(name.encode("latin-1"), value.encode("latin-1"))
                        for name, value in trace_headers.items()]
        origin, request_target = _destination(target)
        try:
            answer = await self._client.request(
                origin, "POST", request_target, headers, body.encode()
            )
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
        excerpt = answer.body.decode("utf-8", "replace")
        return SendResult(
            status, round((time.perf_counter() - started) * 1000),
            error=None if accepted else _short(f"HTTP {status} {answer.reason}".strip()),
            response_excerpt=_short(excerpt) if excerpt else None,
            retry_after_seconds=retry_after_seconds(_header(answer.headers, b"retry-after"))
            if status in (429, 503) else None,
        )
