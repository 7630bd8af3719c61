"""A lean HTTP/1.1 client for webhooks: keep-alive connections per origin, answers parsed by
httptools. A new connection goes only to an address the guard has accepted at that moment, so
a DNS answer that changes between check and connect (rebinding) gets no connection; https
verifies the certificate and the host name. Redirects are answers like any other."""

import asyncio
import ssl
import time
from typing import NamedTuple

import httptools
import yarl

from waymark_notifications.webhooks.url_guard import UrlGuard

BODY_BYTES_KEPT = 800  # an answer is complete with this much of its body; the rest is not read
IDLE_SECONDS = 30.0  # a connection unused this long is closed rather than reused
Origin = tuple[str, str, int]


class Answer(NamedTuple):
    status: int
    reason: str
    retry_after: str | None
    body_start: bytes


class HttpFailure(Exception):
    """No usable answer: the connection was reset or closed, or the answer was malformed."""


class _ClosedBeforeAnswer(HttpFailure):
    """A connection was closed before any byte of the answer came back."""


class _Connection(asyncio.Protocol):
    """One connection, one exchange at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.reusable = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[Answer] | None = None
        self._received = False
        self._status = 0
        self._reason = b""
        self._retry_after: bytes | None = None
        self._body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.open = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = self.reusable = False
        if self._answer is None or self._answer.done():
            return
        if self._status:  # an answer delimited by the end of the connection
            self._finish(complete=False)
        elif self._received:
            self._answer.set_exception(HttpFailure("the connection closed mid-answer"))
        else:
            self._answer.set_exception(_ClosedBeforeAnswer("the connection was closed"))

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():  # bytes nobody asked for
            self.close()
            return
        self._received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self._answer.done():
                self._answer.set_exception(HttpFailure(f"malformed answer: {exc}"))
            self.close()

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = value

    def on_body(self, body: bytes) -> None:
        room = BODY_BYTES_KEPT - len(self._body)
        if room > 0:
            self._body += body[:room]
        if len(self._body) >= BODY_BYTES_KEPT:
            self._finish(complete=False)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer; the final one follows
            self._status, self._reason, self._retry_after = 0, b"", None
            return
        self._finish(complete=self.parser.should_keep_alive())

    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()

    def _finish(self, *, complete: bool) -> None:
        """`complete`: the whole answer was read and the server keeps the connection open."""
        if self._answer is None or self._answer.done():
            return
        self.reusable = complete and self.open
        if not self.reusable:
            self.close()
        self._answer.set_result(Answer(
            self._status, self._reason.decode("latin-1").strip(),
            None if self._retry_after is None else self._retry_after.decode("latin-1"),
            bytes(self._body),
        ))

    async def exchange(self, message: bytes) -> Answer:
        if not self.open or self.transport is None:
            raise _ClosedBeforeAnswer("the connection was closed")
        self.reusable = self._received = False
        self._status, self._reason, self._retry_after = 0, b"", None
        self._body = bytearray()
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(message)
        try:
            return await self._answer
        finally:
            if not self.reusable:
                self.close()

    def close(self) -> None:
        self.open = self.reusable = False
        if self.transport is not None:
            self.transport.close()


class WebhookClient:
    """POSTs to webhook URLs over pooled connections; one call is one attempt within the
    timeout, connecting included."""

    def __init__(self, guard: UrlGuard, *, timeout_seconds: float, user_agent: str) -> None:
        self.guard = guard
        self.timeout_seconds = timeout_seconds
        self.user_agent = user_agent
        self._tls = ssl.create_default_context()  # certificate and host name verified
        self._idle: dict[Origin, list[_Connection]] = {}
        self._last_sweep = time.monotonic()

    async def post(self, url: yarl.URL, headers: dict[str, str], body: bytes) -> Answer:
        """Raises TimeoutError, HttpFailure, UnsafeTarget (the guard refused every address)
        or OSError (no connection)."""
        origin = (url.scheme, (url.raw_host or "").rstrip("."), url.port or 0)
        message = self._message(url, headers, body)
        async with asyncio.timeout(self.timeout_seconds):
            connection = self._kept(origin)
            if connection is not None:
                try:
                    return self._after(origin, connection, await connection.exchange(message))
                except _ClosedBeforeAnswer:
                    pass  # closed by the server while idle: the request goes on a new one
            connection = await self._connect(origin)
            return self._after(origin, connection, await connection.exchange(message))

    def _message(self, url: yarl.URL, headers: dict[str, str], body: bytes) -> bytes:
        lines = [
            f"POST {url.raw_path_qs} HTTP/1.1", f"host: {url.host_port_subcomponent}",
            f"user-agent: {self.user_agent}", f"content-length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body

    def _kept(self, origin: Origin) -> _Connection | None:
        now = time.monotonic()
        if now - self._last_sweep > IDLE_SECONDS:
            self._last_sweep = now
            self._sweep(now)
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.open and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    def _sweep(self, now: float) -> None:
        """Close what has been idle too long, for origins no longer sent to as well."""
        for origin, idle in list(self._idle.items()):
            for connection in idle:
                if now - connection.idle_since >= IDLE_SECONDS:
                    connection.close()
            idle[:] = [connection for connection in idle if connection.open]
            if not idle:
                del self._idle[origin]

    def _after(self, origin: Origin, connection: _Connection, answer: Answer) -> Answer:
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(origin, []).append(connection)
        return answer

    async def _connect(self, origin: Origin) -> _Connection:
        """A connection to the first of the host's checked addresses that accepts one."""
        scheme, host, port = origin
        failure: OSError | None = None
        for address in await self.guard.addresses(host, port):
            try:
                return await self._open(scheme, host, address, port)
            except OSError as exc:
                failure = exc
        assert failure is not None  # the guard gives at least one address or refuses
        raise failure

    async def _open(self, scheme: str, host: str, address: str, port: int) -> _Connection:
        connection = _Connection()
        tls = scheme == "https"
        await asyncio.get_running_loop().create_connection(
            lambda: connection, address, port, ssl=self._tls if tls else None,
            server_hostname=host if tls else None,
        )
        return connection

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
