"""The real server's HTTP/1.1 (uvicorn with app/api/http_protocol.py, as `threadwatch serve`
runs it): a request head over THREADWATCH_MAX_HEADER_BYTES gets a clean 431, however it is
sent, and the server goes on; an error answer keeps a healthy keep-alive connection open."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

from threadwatch.settings import Settings

LIMIT = Settings().max_header_bytes


def raw_exchange(url: str, chunks: list[bytes]) -> bytes:
    """Send ``chunks`` on a fresh connection (one write each), then read until it closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused part way: the answer is read below
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    return received


@pytest.mark.parametrize("size", [LIMIT + 1, 4 * LIMIT, 64 * LIMIT])
def test_a_head_over_the_limit_gets_431(api_url: str, size: int) -> None:
    head = b"GET /ok HTTP/1.1\r\nhost: x\r\nx-big: "
    # Written in pieces, as a slow or hostile client sends it.
    filler = [b"a" * 4096] * (size // 4096 + 1)
    answer = raw_exchange(api_url, [head, *filler, b"\r\n\r\n"])
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"Request headers are larger than" in answer
    assert httpx.get(f"{api_url}/ok").status_code == 200  # and the server goes on


def test_a_head_under_the_limit_is_served(api_url: str) -> None:
    headers = {f"x-h{i}": "v" * 1000 for i in range(LIMIT // 2 // 1000)}
    assert httpx.get(f"{api_url}/ok", headers=headers).status_code == 200


def test_errors_keep_the_keep_alive_connection(http: httpx.Client) -> None:
    """A 404, a 422 (bad JSON, then a bad field), a 413 and a 405, then a good request: all
    on one connection (the same local port), none answered with `connection: close`."""
    big = b"[" + b"1," * (Settings().max_body_bytes // 2) + b"1]"
    answers = [
        http.get("/threads/00000000-0000-4000-8000-000000000000"),
        http.post("/threads/search", content=b"{not json"),
        http.post("/threads/search", json={"limit": "many"}),
        http.post("/threads/search", content=big),
        http.put("/ok"),
        http.post("/threads/search", json={"limit": 1}),
    ]
    assert [a.status_code for a in answers] == [404, 422, 422, 413, 405, 200]
    assert all(a.headers.get("connection") != "close" for a in answers)
    ports = {local_port(a) for a in answers}
    assert len(ports) == 1, ports


def local_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])
