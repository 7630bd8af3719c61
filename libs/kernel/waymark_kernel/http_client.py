"""The one HTTP/1.1 client of the parts that call out (the gateway to its services, the
notifications service to webhook receivers): keep-alive connections pooled per origin, each
request written in one piece, each answer parsed by httptools (the parser uvicorn uses; a
general-purpose client costs about three times the CPU per request).

What its users differ in is given as parameters of `HttpClient`: which methods go again on a
new connection when a kept-alive one turns out closed, where a new connection may go, how much
of an answer is read, timeouts and pool size. Redirects are answers like any other."""

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple, TypeVar, cast

import httptools

Headers = list[tuple[bytes, bytes]]  # ASGI style: lower-case names, latin-1 bytes
# The addresses a new connection to (host, port) may go to, in the order to try them.
AddressResolver = Callable[[str, int], Awaitable[Sequence[str]]]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
T = TypeVar("T")


class Origin(NamedTuple):
    scheme: str  # "http" or "https"
    host: str  # what is resolved and, over https, what the certificate must name
    port: int
    authority: bytes  # the Host header: the host, and the port when the URL gives one


class HttpResponse(NamedTuple):
    status: int
    headers: Headers  # lower-case names, in the order received
    body: bytes  # whole, or its start when the client keeps only a start
    reason: str = ""


class HttpFailure(Exception):
    """No usable answer: the connection was reset or closed, or the answer was malformed or
    over a limit."""


class ClosedBeforeAnswer(HttpFailure):
    """The connection was closed before any byte of the answer came back."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one exchange at a time."""

    def __init__(self, max_header_bytes: int, body_bytes_kept: int | None) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.max_header_bytes = max_header_bytes
        self.body_bytes_kept = body_bytes_kept
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.reusable = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[HttpResponse] | None = None
        self._head_request = False
        self._received = False
        self._bytes_before_headers = 0  # as received before the chunk being parsed
        self._chunk_bytes = 0  # the chunk being parsed
        self._status = 0
        self._reason = b""
        self._headers: Headers = []
        self._chunks: list[bytes] = []
        self._body_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream connection's transport
        self.open = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = self.reusable = False
        if self._answer is None or self._answer.done():
            return
        # With the status and headers in, an answer ends here when its length is the
        # connection's, or when only the start of its body was wanted.
        if self._status and (self._delimited_by_close() or self.body_bytes_kept is not None):
            self._finish(keep_alive=False)
        elif not self._received:
            self._answer.set_exception(ClosedBeforeAnswer("the connection was closed"))
        else:
            self._answer.set_exception(HttpFailure("the connection closed mid-answer"))

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():  # bytes nobody asked for
            self.close()
            return
        self._received = True
        self._chunk_bytes = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            over_limit = exc.__context__  # what a callback raised, if one did
            self._fail(
                str(over_limit) if isinstance(over_limit, _OverLimit)
                else f"malformed answer: {exc}"
            )
            return
        if not self._status:  # a header line still coming may be any length: count it raw
            self._bytes_before_headers += len(data)
            if self._bytes_before_headers > self.max_header_bytes:
                self._fail(self._headers_too_large())

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        # Counted only when what came so far could be over the limit: most answers are not.
        if self._bytes_before_headers + self._chunk_bytes > self.max_header_bytes and sum(
            len(name) + len(value) for name, value in self._headers
        ) > self.max_header_bytes:
            raise _OverLimit(self._headers_too_large())
        self._status = self.parser.get_status_code()
        if self._head_request:  # no body follows, whatever the length says
            self._finish(keep_alive=False)

    def on_body(self, body: bytes) -> None:
        kept = self.body_bytes_kept
        if kept is None:
            self._chunks.append(body)
            return
        room = kept - self._body_bytes
        if room > 0:
            self._chunks.append(body[:room])
            self._body_bytes += min(room, len(body))
        if self._body_bytes >= kept:  # the rest is not read
            self._finish(keep_alive=False)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer; the final one follows
            self._status, self._reason, self._headers = 0, b"", []
            return
        self._finish(keep_alive=self.parser.should_keep_alive())

    def _headers_too_large(self) -> str:
        return f"the answer's headers are larger than {self.max_header_bytes} bytes"

    def _delimited_by_close(self) -> bool:
        return not any(
            name in (b"content-length", b"transfer-encoding") for name, _ in self._headers
        )

    def _finish(self, *, keep_alive: bool) -> None:
        if self._answer is not None and not self._answer.done():
            self.reusable = keep_alive and self.open
            self._answer.set_result(HttpResponse(
                self._status, self._headers, b"".join(self._chunks),
                self._reason.decode("latin-1").strip(),
            ))

    def _fail(self, reason: str) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(HttpFailure(reason))
        self.close()

    async def exchange(self, message: bytes, *, head_request: bool, deadline: float) -> HttpResponse:
        """The answer, or TimeoutError when none is complete by `deadline` (the loop's clock);
        the connection is closed when the exchange does not end with an answer."""
        if not self.open or self.transport is None:
            raise ClosedBeforeAnswer("the connection was closed")
        self.reusable = self._received = False
        self._head_request = head_request
        self._status, self._reason, self._headers = 0, b"", []
        self._bytes_before_headers = self._body_bytes = 0
        self._chunks = []
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[HttpResponse] = loop.create_future()
        self._answer = answer
        # A timer, not a timeout context around the whole request: on every request's path,
        # and it costs less than half as much.
        timer = loop.call_at(deadline, self._time_out)
        self.transport.write(message)
        try:
            return await answer
        except BaseException:
            self.close()
            raise
        finally:
            timer.cancel()

    def _time_out(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(TimeoutError())

    def close(self) -> None:
        self.open = self.reusable = False
        if self.transport is not None:
            self.transport.close()


class _OverLimit(Exception):
    """Raised inside the parser's callbacks to stop reading an answer over a limit."""


class _Pool:
    """The idle connections to one origin, and the cap on those in use."""

    def __init__(self, max_connections: int | None) -> None:
        self.idle: list[_Connection] = []
        self.in_use = 0  # requests between asking for a connection and giving it back
        self.slots = None if max_connections is None else asyncio.Semaphore(max_connections)

    def kept(self, now: float, idle_seconds: float) -> _Connection | None:
        """The most recently used connection still open and not idle too long."""
        while self.idle:
            connection = self.idle.pop()
            if connection.open and now - connection.idle_since < idle_seconds:
                return connection
            connection.close()
        return None

    def sweep(self, now: float, idle_seconds: float) -> None:
        for connection in self.idle:
            if now - connection.idle_since >= idle_seconds:
                connection.close()
        self.idle = [connection for connection in self.idle if connection.open]


class HttpClient:
    """Requests over pooled keep-alive connections, one origin's pool apart from another's.

    - `timeout`: for a whole request, waiting for a connection and connecting included;
      one request may give its own.
    - `resent_methods`: a request of one of these methods goes again, once, on a new
      connection when the kept-alive connection it was written on is found closed before any
      byte of an answer (the server closed it while idle, as the request went out).
    - `max_header_bytes`: an answer whose status line and headers are longer is a failure.
    - `body_bytes_kept`: None reads whole bodies; a number keeps only that many bytes of each,
      and the rest is not read (the connection is then closed).
    - `connections_per_origin`: connections in use at once to one origin; None for no cap.
    - `idle_seconds`: a connection unused this long is closed rather than reused.
    - `addresses`: None lets the system resolve the host; otherwise a new connection goes
      only to an address this gives at that moment, the first that accepts (an address checked
      just before connecting cannot be swapped by a changing DNS answer).
    https verifies the certificate and the host name."""

    def __init__(
        self, *, timeout: float, resent_methods: frozenset[str], max_header_bytes: int,
        body_bytes_kept: int | None = None, connections_per_origin: int | None = None,
        idle_seconds: float, addresses: AddressResolver | None = None,
    ) -> None:
        self.timeout = timeout
        self.resent_methods = resent_methods
        self.max_header_bytes = max_header_bytes
        self.body_bytes_kept = body_bytes_kept
        self.connections_per_origin = connections_per_origin
        self.idle_seconds = idle_seconds
        self.addresses = addresses
        self._tls = ssl.create_default_context()
        self._pools: dict[Origin, _Pool] = {}
        self._last_sweep = time.monotonic()

    async def request(
        self, origin: Origin, method: str, target: bytes, headers: Headers, body: bytes,
        *, timeout: float | None = None,
    ) -> HttpResponse:
        """`target` is the percent-encoded path and query; `headers` are written as given,
        after Host and before the Content-Length the client adds. Raises TimeoutError,
        HttpFailure, OSError (no connection) or whatever `addresses` raises."""
        message = _message(origin, method, target, headers, body)
        pool = self._pool(origin)
        deadline = asyncio.get_running_loop().time() + (timeout or self.timeout)
        head_request = method == "HEAD"
        pool.in_use += 1
        slots = pool.slots
        try:
            if slots is not None:
                # A free slot is taken at once: only waiting for one needs the deadline.
                await (_by(deadline, slots.acquire()) if slots.locked() else slots.acquire())
            try:
                kept = pool.kept(time.monotonic(), self.idle_seconds)
                if kept is not None:
                    try:
                        return self._give_back(pool, kept, await kept.exchange(
                            message, head_request=head_request, deadline=deadline
                        ))
                    except ClosedBeforeAnswer:
                        if method not in self.resent_methods:
                            raise
                connection = await _by(deadline, self._connect(origin))
                return self._give_back(pool, connection, await connection.exchange(
                    message, head_request=head_request, deadline=deadline
                ))
            finally:
                if slots is not None:
                    slots.release()
        finally:
            pool.in_use -= 1

    def close(self) -> None:
        for pool in self._pools.values():
            while pool.idle:
                pool.idle.pop().close()
        self._pools.clear()

    def _pool(self, origin: Origin) -> _Pool:
        now = time.monotonic()
        if now - self._last_sweep > self.idle_seconds:
            self._last_sweep = now
            self._sweep(now)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(self.connections_per_origin)
        return pool

    def _sweep(self, now: float) -> None:
        """Closes what has been idle too long, for origins no longer called too."""
        for origin, pool in list(self._pools.items()):
            pool.sweep(now, self.idle_seconds)
            if not pool.idle and not pool.in_use:
                del self._pools[origin]

    def _give_back(
        self, pool: _Pool, connection: _Connection, response: HttpResponse
    ) -> HttpResponse:
        if connection.reusable:
            connection.idle_since = time.monotonic()
            pool.idle.append(connection)
        else:
            connection.close()
        return response

    async def _connect(self, origin: Origin) -> _Connection:
        if self.addresses is None:
            return await self._open(origin, origin.host)
        failure: OSError | None = None
        for address in await self.addresses(origin.host, origin.port):
            try:
                return await self._open(origin, address)
            except OSError as exc:
                failure = exc
        raise failure or OSError(f"no address to connect to for {origin.host}")

    async def _open(self, origin: Origin, address: str) -> _Connection:
        tls = self._tls if origin.scheme == "https" else None
        _, connection = await asyncio.get_running_loop().create_connection(
            lambda: _Connection(self.max_header_bytes, self.body_bytes_kept),
            address, origin.port, ssl=tls, server_hostname=origin.host if tls else None,
        )
        return connection


async def _by(deadline: float, step: Awaitable[T]) -> T:
    """`step`, or TimeoutError at `deadline` (the loop's clock)."""
    async with asyncio.timeout_at(deadline):
        return await step


def _message(
    origin: Origin, method: str, target: bytes, headers: Headers, body: bytes
) -> bytes:
    lines = [b"%s %s HTTP/1.1\r\nhost: %s" % (method.encode("ascii"), target, origin.authority)]
    lines += [name + b": " + value for name, value in headers]
    if body or method in BODY_METHODS:
        lines.append(b"content-length: %d" % len(body))
    lines += [b"", body]
    return b"\r\n".join(lines)
