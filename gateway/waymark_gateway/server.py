"""The options of the HTTP server in front of the gateway (`uvicorn.Config(app, **SERVER_OPTIONS)`).

uvicorn's httptools protocol buffers a request head of any size and any number of fields; this
one refuses a head the gateway would refuse anyway, before buffering much of it, so a hostile
client cannot make the server hold megabytes per connection. uvicorn's own X-Forwarded-For
handling is off: only the gateway decides whom to believe (WAYMARK_TRUSTED_PROXIES)."""

import json
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from waymark_gateway.proxy.middleware import MAX_HEADER_BYTES
from waymark_kernel.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

MAX_HEADER_FIELDS = 100
MAX_REQUEST_TARGET_BYTES = 8 * 1024
# Room for a request line, MAX_HEADER_BYTES of names and values and every field's separators:
# a longer head breaks one of the limits above, so nothing the gateway accepts is refused here.
MAX_HEAD_BYTES = 2 * MAX_HEADER_BYTES


class HeadRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HeadLimitedProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading_head = True
        self.head_bytes = 0  # at least the bytes of the head being read
        self.refusal: HeadRefused | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.reading_head and not self.transport.is_closing():
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.refuse(HeadRefused(
                    431, f"The request head is larger than {MAX_HEAD_BYTES} bytes.",
                ))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading_head, self.head_bytes = True, 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_REQUEST_TARGET_BYTES:
            self.refusal = HeadRefused(
                414, f"The request target is longer than {MAX_REQUEST_TARGET_BYTES} bytes.",
            )
            raise self.refusal  # stops the parser: answered by send_400_response

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > MAX_HEADER_FIELDS:
            self.refusal = HeadRefused(
                431, f"The request has more than {MAX_HEADER_FIELDS} header fields.",
            )
            raise self.refusal

    def on_headers_complete(self) -> None:
        self.reading_head = False
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self.refusal is None:
            super().send_400_response(msg)
        else:
            self.refuse(self.refusal)

    def refuse(self, refusal: HeadRefused) -> None:
        """Answers a problem and closes the connection, whatever is left of the request."""
        phrase = HTTPStatus(refusal.status).phrase
        body = json.dumps({
            "type": PROBLEM_BASE + phrase.lower().replace(" ", "-"), "title": phrase,
            "status": refusal.status, "detail": refusal.detail,
        }).encode()
        head = [STATUS_LINE[refusal.status]]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
            b"x-content-type-options: nosniff\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


SERVER_OPTIONS: dict[str, Any] = {"http": HeadLimitedProtocol, "proxy_headers": False}
