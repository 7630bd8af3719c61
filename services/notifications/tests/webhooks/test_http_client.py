"""The webhook HTTP client against loopback servers that answer as the test needs, byte by byte."""

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from waymark_notifications.webhooks.sender import SendResult, WebhookSender
from waymark_notifications.webhooks.url_guard import UrlGuard

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
INSECURE_GUARD = UrlGuard(allow_insecure=True, high_ports=(1024, 65535))  # loopback servers
Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """Reads each request on each connection and lets `answer` reply (or not)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while not writer.is_closing():
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                await self.answer(request, writer)
        writer.close()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/hooks/one?source=test"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(answer: Answer, tls: ssl.SSLContext | None = None) -> Server:
            server = Server(answer)
            listening = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=tls)
            stack.push_async_callback(listening.wait_closed)
            stack.callback(listening.close)
            server.port = listening.sockets[0].getsockname()[1]
            return server

        yield start


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:
    async with WebhookSender(INSECURE_GUARD, timeout_seconds=2) as webhook_sender:
        yield webhook_sender


async def send(sender: WebhookSender, url: str) -> SendResult:
    return await sender.send(url, "msg_1", '{"type":"webhook.test"}', ["whsec_AAAA"])


def replying(*raw: bytes) -> Answer:
    async def answer(_request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"".join(raw))
    return answer


async def test_a_webhook_goes_as_one_signed_post_and_2xx_counts(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender
) -> None:
    server = await serve(replying(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"))
    result = await send(sender, server.url())
    assert result.succeeded
    assert result.status_code == 202
    assert result.response_excerpt == "ok"
    head, body = server.requests[0].split(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hooks/one?source=test HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")
    assert body == b'{"type":"webhook.test"}'


async def test_connections_are_kept_alive_and_reused(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender
) -> None:
    server = await serve(replying(NO_CONTENT))
    results = [await send(sender, server.url()) for _ in range(3)]
    assert all(result.succeeded for result in results)
    assert (server.connections, len(server.requests)) == (1, 3)


async def test_a_connection_the_server_closed_is_replaced(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender
) -> None:
    async def answer_then_close(_request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(NO_CONTENT)  # without saying `Connection: close`
        await writer.drain()
        writer.close()

    server = await serve(answer_then_close)
    assert (await send(sender, server.url())).succeeded
    await asyncio.sleep(0)  # the client may or may not have seen the close yet: either works
    assert (await send(sender, server.url())).succeeded
    assert (server.connections, len(server.requests)) == (2, 2)


async def test_a_server_closing_without_an_answer_is_a_failed_attempt(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender
) -> None:
    async def close(_request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await serve(close)
    result = await send(sender, server.url())
    assert result.status_code is None
    assert not result.succeeded
    assert result.error == "Broken answer: the connection was closed"
    assert len(server.requests) == 1


async def test_no_answer_within_the_timeout_is_a_failed_attempt(
    serve: Callable[..., Awaitable[Server]]
) -> None:
    async def never(_request: bytes, _writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()

    server = await serve(never)
    async with WebhookSender(INSECURE_GUARD, timeout_seconds=0.2) as sender:
        result = await send(sender, server.url())
    assert result.status_code is None
    assert result.error == "No answer within 0.2 s."


async def test_retry_after_is_read_from_an_answer_asking_to_wait(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender
) -> None:
    server = await serve(replying(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n"
    ))
    result = await send(sender, server.url())
    assert not result.succeeded
    assert result.error == "HTTP 503 Service Unavailable"
    assert result.retry_after_seconds == 120.0


async def test_410_is_a_failed_attempt_with_its_status(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender
) -> None:
    server = await serve(replying(b"HTTP/1.1 410 Gone\r\nContent-Length: 4\r\n\r\ngone"))
    result = await send(sender, server.url())
    assert (result.status_code, result.succeeded, result.error) == (410, False, "HTTP 410 Gone")


async def test_redirects_are_not_followed(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender
) -> None:
    elsewhere = await serve(replying(NO_CONTENT))
    server = await serve(replying(
        f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {elsewhere.url()}\r\n"
        "Content-Length: 0\r\n\r\n".encode()
    ))
    result = await send(sender, server.url())
    assert (result.status_code, result.succeeded) == (307, False)
    assert elsewhere.requests == []


async def test_a_long_or_chunked_answer_keeps_only_its_start(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender
) -> None:
    chunk = b"x" * 1000
    server = await serve(replying(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        *(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)), b"0\r\n\r\n",
    ))
    result = await send(sender, server.url())
    assert result.succeeded
    assert result.response_excerpt == "x" * 199 + "…"


async def test_a_certificate_that_does_not_verify_gets_no_request(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender, self_signed_tls: ssl.SSLContext
) -> None:
    server = await serve(replying(NO_CONTENT), tls=self_signed_tls)
    result = await send(sender, server.url("https"))
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("Cannot connect:")
    assert "CERTIFICATE_VERIFY_FAILED" in result.error
    assert server.requests == []


@pytest.fixture
def self_signed_tls(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that no authority signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


async def test_the_trace_context_goes_out_after_the_signed_headers(
    serve: Callable[..., Awaitable[Server]], sender: WebhookSender
) -> None:
    server = await serve(replying(NO_CONTENT))
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    result = await sender.send(
        server.url(), "msg_1", '{"type":"webhook.test"}', ["whsec_AAAA"],
        {"traceparent": traceparent},
    )
    assert result.succeeded
    lines = server.requests[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert lines.index(b"traceparent: " + traceparent.encode()) > lines.index(
        next(line for line in lines if line.startswith(b"webhook-signature: "))
    )
