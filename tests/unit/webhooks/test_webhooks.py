"""Webhooks: URL policy (LangGraph's 422 texts), run payload, Standard Webhooks signing, and
one POST by deliver_webhook to a local HTTP server (no RQ: see the integration tier)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from standardwebhooks import Webhook

from tests.support import free_port
from threadwatch.errors import WebhookUrlRejected
from threadwatch.store.codec import RawJSON
from threadwatch.webhooks.delivery import (
    WebhookDeliveryError,
    backoff,
    deliver_webhook,
    enqueue_webhook,
)
from threadwatch.webhooks.policy import (
    MAX_URL_LENGTH,
    RELATIVE_URL_TEXT,
    check_webhook_url,
    run_webhook_payload,
    sign_webhook,
    signature_headers,
    signing_key,
    webhook_body,
    with_sent_at,
)

# The Standard Webhooks test vector (standard-webhooks repo, libraries/python/tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# --- a local webhook receiver ------------------------------------------------------------


class HookServer:
    """An HTTP server on 127.0.0.1 answering POSTs with scripted statuses (then 200),
    recording each request's path, headers (lowercased names) and body."""

    def __init__(self, statuses: Sequence[int] = ()) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                hook.requests.append({"path": self.path, "headers": headers, "body": body})
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{hook.port}/moved")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> HookServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


@pytest.fixture
def hook() -> Iterator[HookServer]:
    with HookServer() as server:
        yield server


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names resolved from this dict (others fail like an unknown name); IPs pass through."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            try:
                socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            except OSError:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            return real(host, port, *args, **kwargs)
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port),
            )
            for ip in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def rejection(url: str, allow_private: bool = False, **kwargs: Any) -> str:
    with pytest.raises(WebhookUrlRejected) as raised:
        check_webhook_url(url, allow_private, **kwargs)
    assert raised.value.status_code == 422
    return raised.value.detail


# --- URL policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/hook", "loopback IP range"),
        ("http://127.8.9.10/", "loopback IP range"),
        ("http://[::1]/", "blocked IP range"),  # ::1 lies in ::/96, checked first (LangGraph)
        ("http://10.1.2.3/", "private IP range"),
        ("http://172.16.0.1/", "private IP range"),
        ("http://192.168.1.1/", "private IP range"),
        ("http://100.64.0.1/", "private IP range"),
        ("http://[fd12:3456::1]/", "private IP range"),
        ("http://169.254.169.254/latest/meta-data", "blocked IP range"),
        ("http://[fe80::1]/", "blocked IP range"),
        ("http://0.0.0.0/", "blocked IP range"),
        ("http://[::]/", "blocked IP range"),
        ("http://224.0.0.1/", "blocked IP range"),
        ("http://[ff02::1]/", "blocked IP range"),
        ("http://240.0.0.1/", "blocked IP range"),
        ("http://255.255.255.255/", "blocked IP range"),
        ("http://192.0.2.10/", "blocked IP range"),
        ("http://[::ffff:127.0.0.1]/", "blocked IP range"),
        ("http://[64:ff9b::a00:1]/", "blocked IP range"),
        ("http://[2001:db8::1]/", "private IP range"),
        ("http://2130706433/", "loopback IP range"),  # 127.0.0.1 as one number
        ("http://0x7f.1/", "loopback IP range"),
        ("http://localhost:2024/hook", "localhost address"),
        ("http://LOCALHOST./hook", "localhost address"),
        ("http://localhost.localdomain/", "localhost address"),
        ("http://host.docker.internal/", "localhost address"),
        ("http://api.localhost/", "localhost address"),
        ("http://metadata.google.internal/", "cloud metadata endpoint"),
        ("http://redis.default.svc.cluster.local/", "Kubernetes internal DNS"),
        ("ftp://example.com/hook", "scheme 'ftp' not allowed"),
        ("file://host/etc/passwd", "scheme 'file' not allowed"),
    ],
)
def test_blocked_hosts_get_langgraphs_text(url: str, reason: str) -> None:
    assert rejection(url) == f"Webhook host blocked: {reason}"


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("/threads/callback", RELATIVE_URL_TEXT),
        ("http://", "Invalid webhook hostname ''"),
        ("mailto:someone@example.com", "Invalid webhook hostname ''"),
        ("http://example.com:99999/", "Invalid webhook port"),
        ("http://example.com:0/", "Invalid webhook port"),
        ("http://example.com/a b", "Invalid webhook URL"),
        ("http://example.com/" + "a" * MAX_URL_LENGTH, "Webhook URL too long"),
    ],
)
def test_malformed_urls(url: str, detail: str) -> None:
    assert rejection(url, resolve=False) == detail


def test_the_relative_url_text_is_langgraphs() -> None:
    assert RELATIVE_URL_TEXT.startswith("Loopback webhooks (relative URLs and localhost) are ")
    assert RELATIVE_URL_TEXT.endswith("only do so when you control the mounted routes.")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://[::1]:8000/hook",
        "http://10.1.2.3/",
        "http://[fd12:3456::1]/",
        "http://localhost:2024/hook",
        "http://2130706433/",
    ],
)
def test_allow_private_lets_loopback_and_private_through(
    url: str, fake_dns: dict[str, list[str]]
) -> None:
    fake_dns["localhost"] = ["127.0.0.1", "::1"]
    assert check_webhook_url(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/", "blocked IP range"),
        ("http://100.100.100.200/", "cloud metadata endpoint"),
        ("http://[fd00:ec2::254]/", "cloud metadata endpoint"),
        ("http://metadata.google.internal/", "cloud metadata endpoint"),
        ("http://0.0.0.0/", "blocked IP range"),
        ("http://224.0.0.1/", "blocked IP range"),
        ("http://[::ffff:10.0.0.1]/", "blocked IP range"),
    ],
)
def test_allow_private_still_blocks_metadata_and_odd_ranges(url: str, reason: str) -> None:
    assert rejection(url, allow_private=True) == f"Webhook host blocked: {reason}"


def test_a_name_resolving_to_loopback_is_blocked(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["hooks.example.com"] = ["127.0.0.1"]
    assert rejection("https://hooks.example.com/x") == "Webhook host blocked: loopback IP range"
    assert check_webhook_url("https://hooks.example.com/x", allow_private=True)


def test_every_resolved_address_is_checked(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["mixed.example.com"] = ["93.184.216.34", "10.0.0.7"]
    assert rejection("http://mixed.example.com/") == "Webhook host blocked: private IP range"
    fake_dns["v6.example.com"] = ["2606:4700::1111", "fe80::1"]
    assert rejection("http://v6.example.com/") == "Webhook host blocked: blocked IP range"


def test_unresolvable_names(fake_dns: dict[str, list[str]]) -> None:
    assert rejection("http://nowhere.example/") == "Webhook host blocked: DNS resolution failed"
    assert check_webhook_url("http://nowhere.example/", False, resolve=False)


def test_public_urls_come_back_normalized(fake_dns: dict[str, list[str]]) -> None:
    fake_dns.update({"example.com": ["93.184.216.34"], "xn--bcher-kva.de": ["81.169.145.1"]})
    assert check_webhook_url("HTTPS://Example.COM:443/A?b=1#frag", False) == (
        "https://example.com/A?b=1"
    )
    assert check_webhook_url("http://u:p@example.com:8080/x", False) == (
        "http://u:p@example.com:8080/x"
    )
    assert check_webhook_url("http://bücher.de/", False) == "http://xn--bcher-kva.de/"
    assert check_webhook_url("http://[2606:4700::1111]:80/", False) == ("http://[2606:4700::1111]/")


# --- run payload --------------------------------------------------------------------------

RUN = {
    "run_id": "00000000-0000-4000-8000-000000000001",
    "thread_id": "00000000-0000-4000-8000-0000000000a1",
    "assistant_id": "fe096781-5601-53d2-b2f6-0d3403f7e9ca",
    "created_at": "2025-01-01T00:00:00.000000+00:00",
    "updated_at": "2025-01-01T00:00:01.000000+00:00",
    "status": "running",
    "metadata": RawJSON(b'{"owner":"me"}'),
    "kwargs": RawJSON(b'{"webhook":"https://example.com/hook"}'),
    "multitask_strategy": "enqueue",
}


def test_payload_is_the_run_with_the_outcome() -> None:
    started = datetime(2025, 1, 1, 0, 0, 2, tzinfo=UTC)
    before = datetime.now(UTC)
    payload = run_webhook_payload(
        RUN, "success", started, "2025-01-01T00:00:03.000000+00:00", {"messages": []}, None
    )
    assert list(payload) == [*RUN, "run_started_at", "run_ended_at", "webhook_sent_at", "values"]
    assert payload["status"] == "success"
    assert payload["run_started_at"] == "2025-01-01T00:00:02.000000+00:00"
    assert payload["run_ended_at"] == "2025-01-01T00:00:03.000000+00:00"
    sent_at = datetime.fromisoformat(payload["webhook_sent_at"])
    assert before - timedelta(seconds=1) <= sent_at <= datetime.now(UTC)
    assert payload["values"] == {"messages": []}
    assert "error" not in payload


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("boom"), {"error": "ValueError", "message": "boom"}),
        (TimeoutError("slow"), {"error": "TimeoutError", "message": "slow"}),
        (OSError("secret path"), {"error": "OSError", "message": "An internal error occurred"}),
        (
            {"error": "GraphRecursionError", "message": "x"},
            {"error": "GraphRecursionError", "message": "x"},
        ),
    ],
)
def test_payload_error_only_when_the_run_raised(error: Any, expected: dict[str, str]) -> None:
    payload = run_webhook_payload(RUN, "error", None, None, None, error)
    assert payload["error"] == expected
    assert list(payload)[-1] == "error"


def test_payload_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="not a run webhook status"):
        run_webhook_payload(RUN, "running", None, None, None)


def test_body_splices_stored_json_and_keeps_big_numbers() -> None:
    values = RawJSON(b'{"n":123456789012345678901234567890}')
    body = webhook_body(run_webhook_payload(RUN, "interrupted", None, None, values))
    decoded = json.loads(body)
    assert decoded["values"] == {"n": 123456789012345678901234567890}
    assert decoded["kwargs"] == {"webhook": "https://example.com/hook"}
    assert decoded["metadata"] == {"owner": "me"}
    assert ": " not in body  # compact


def test_with_sent_at_appends_the_field() -> None:
    assert with_sent_at("{}", "T") == '{"webhook_sent_at":"T"}'
    assert with_sent_at('{"a":1}\n', "T") == '{"a":1,"webhook_sent_at":"T"}'
    assert json.loads(with_sent_at('{"a":{}}'))["webhook_sent_at"]
    with pytest.raises(ValueError):
        with_sent_at("[1]", "T")


# --- signing ------------------------------------------------------------------------------


def test_signature_matches_the_spec_vector() -> None:
    assert sign_webhook(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def independent_signature(key: bytes, msg_id: str, timestamp: int, body: str) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@pytest.mark.parametrize(
    ("secret", "key"),
    [
        (SPEC_SECRET, base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
        ("whsec_" + base64.b64encode(b"k" * 32).decode().rstrip("="), b"k" * 32),
        ("a raw shared secret", b"a raw shared secret"),
    ],
)
def test_signature_is_hmac_sha256_of_id_timestamp_body(secret: str, key: bytes) -> None:
    body = '{"status":"success","values":{"é":1}}'
    assert signing_key(secret) == key
    assert sign_webhook(secret, "msg_1", 1700000000, body) == independent_signature(
        key, "msg_1", 1700000000, body
    )


def test_signature_headers_verify_with_the_reference_library() -> None:
    body = '{"run_id":"r","status":"success"}'
    headers = signature_headers(SPEC_SECRET, body, msg_id="msg_abc")
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_abc"
    assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 5
    assert Webhook(SPEC_SECRET).verify(body, headers) == {"run_id": "r", "status": "success"}
    fixed = signature_headers(SPEC_SECRET, SPEC_BODY, msg_id=SPEC_MSG_ID, timestamp=SPEC_TIMESTAMP)
    assert fixed["webhook-signature"] == SPEC_SIGNATURE


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", ""])
def test_bad_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        signing_key(secret)


def test_a_message_id_with_a_dot_is_refused() -> None:
    with pytest.raises(ValueError, match="webhook-id"):
        sign_webhook(SPEC_SECRET, "msg.1", 1, "{}")


# --- one delivery (no RQ) -----------------------------------------------------------------


def test_delivery_posts_the_body_with_headers(hook: HookServer) -> None:
    status = deliver_webhook(
        hook.url + "?token=t", '{"a":1}', {"X-Extra": "yes"}, True, secret=SPEC_SECRET,
        msg_id="msg_42", stamp_sent_at=True,
    )  # fmt: skip
    assert status == 200
    [request] = hook.requests
    assert request["path"] == "/hook?token=t"
    headers = request["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("threadwatch/")
    assert headers["x-extra"] == "yes"
    assert headers["host"] == f"127.0.0.1:{hook.port}"
    assert headers["webhook-id"] == "msg_42"
    payload = Webhook(SPEC_SECRET).verify(request["body"], headers)
    assert payload["a"] == 1 and payload["webhook_sent_at"]


def test_unsigned_delivery_has_no_signature_headers(hook: HookServer) -> None:
    assert deliver_webhook(hook.url, "{}", {}, True) == 200
    assert not any(h.startswith("webhook-") for h in hook.requests[0]["headers"])
    assert hook.requests[0]["body"] == b"{}"


@pytest.mark.parametrize("status", [500, 429, 404, 302])
def test_non_2xx_raises_and_redirects_are_not_followed(hook: HookServer, status: int) -> None:
    hook.statuses = [status]
    with pytest.raises(WebhookDeliveryError, match=f"answered HTTP {status}"):
        deliver_webhook(hook.url, "{}", {}, True)
    assert [r["path"] for r in hook.requests] == ["/hook"]


def test_connection_refused_raises_a_delivery_error() -> None:
    with pytest.raises(WebhookDeliveryError, match="ConnectError"):
        deliver_webhook(f"http://127.0.0.1:{free_port()}/", "{}", {}, True)


def test_delivery_rechecks_the_policy(hook: HookServer) -> None:
    with pytest.raises(WebhookUrlRejected, match="loopback IP range"):
        deliver_webhook(hook.url, "{}", {}, False)
    assert hook.requests == []


def test_delivery_connects_to_the_checked_address(
    hook: HookServer, fake_dns: dict[str, list[str]]
) -> None:
    """A name is resolved once per attempt and the checked address is used (no second
    lookup that DNS rebinding could answer differently); Host keeps the name."""
    fake_dns["hooks.example.com"] = ["127.0.0.1"]
    url = f"http://hooks.example.com:{hook.port}/hook"
    with pytest.raises(WebhookUrlRejected, match="loopback IP range"):
        deliver_webhook(url, "{}", {}, False)
    assert deliver_webhook(url, "{}", {}, True) == 200
    assert hook.requests[0]["headers"]["host"] == f"hooks.example.com:{hook.port}"


def test_a_dns_failure_at_delivery_is_retriable(fake_dns: dict[str, list[str]]) -> None:
    with pytest.raises(WebhookDeliveryError, match="DNS resolution failed"):
        deliver_webhook("http://gone.example.com/", "{}", {}, False)


# --- enqueue (no server) ------------------------------------------------------------------


def test_backoff_doubles() -> None:
    assert backoff(5) == [1, 2, 4, 8, 16]
    assert backoff(14)[-1] == 3600


def test_enqueue_refuses_a_blocked_url_without_touching_redis() -> None:
    queue = Queue("unused", connection=redis.Redis(port=free_port()))
    with pytest.raises(WebhookUrlRejected) as raised:
        enqueue_webhook(queue, "http://localhost:8123/x", {}, secret=None, allow_private=False)
    assert raised.value.detail == "Webhook host blocked: localhost address"


def test_enqueue_swallows_a_redis_outage() -> None:
    client = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    queue = Queue("unused", connection=client)
    url = "http://93.184.216.34/"
    assert enqueue_webhook(queue, url, {}, secret=None, allow_private=False) is None
    client.close()
