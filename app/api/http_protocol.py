"""The HTTP/1.1 protocol `threadwatch serve` and `dev` run uvicorn with: httptools (the fast
parser uvicorn picks anyway) with a limit on the request head, its request line and headers
(THREADWATCH_MAX_HEADER_BYTES).

httptools buffers a head however long it is, and uvicorn's own limit is h11's only. Here a
complete head over the limit is answered 431 and its connection closed before the app sees
it; a head still arriving is refused as soon as the reads that held nothing else pass the
limit, so a client cannot make the server buffer one without end. The body's limits are
app/api/middleware.py's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from threadwatch.settings import Settings
from threadwatch.store.codec import to_json


@cache
def max_header_bytes() -> int:
    return Settings().max_header_bytes


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request head of at most max_header_bytes()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit = max_header_bytes()
        self.in_head = False  # between a message's first byte and its headers' end
        self.head_bytes = 0  # bytes of reads that held nothing but the current head
        self.messages = 0  # messages complete on this connection
        self.idle = True  # no message begun since the last one completed
        self.refused = False

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        began_in_head, messages = self.in_head or self.idle, self.messages
        super().data_received(data)
        if self.refused or not (self.in_head and began_in_head and messages == self.messages):
            return
        self.head_bytes += len(data)
        if self.head_bytes > self.limit:
            self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head, self.idle, self.head_bytes = True, False, 0

    def on_headers_complete(self) -> None:
        self.in_head = False
        head = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if head > self.limit:
            self._refuse_head()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self.messages, self.idle = self.messages + 1, True
        if not self.refused:
            super().on_message_complete()

    def _refuse_head(self) -> None:
        self.refused = True
        body = to_json({"detail": f"Request headers are larger than {self.limit} bytes"})
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n"
        )
        self.logger.warning("Request headers over %d bytes: refused (431).", self.limit)
        self.transport.write(head + body)
        self.transport.close()
