"""Webhooks: the URL policy (an SSRF guard), LangGraph's run-webhook payload, signing.

Delivery lives in app/webhooks/delivery.py (an RQ job); nothing here imports RQ. The refusal texts
are LangGraph's (langgraph-api 0.16.7, ``webhook.py`` and ``lc_security/policy.py``): 422
``Webhook host blocked: <reason>``. Signatures follow Standard Webhooks (standardwebhooks.com).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from standardwebhooks import Webhook

from threadwatch.errors import WebhookUrlRejected
from threadwatch.store.codec import datetime_to_us, now_us, to_json, us_to_iso

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 4096  # LangGraph's webhooks.url.max_url_length default
SENT_AT_FIELD = "webhook_sent_at"
RUN_WEBHOOK_STATUSES = frozenset({"success", "error", "timeout", "interrupted", "rollback"})
SECRET_PREFIX = "whsec_"

# LangGraph's text for a relative URL (it would call its own routes unauthenticated).
RELATIVE_URL_TEXT = (
    "Loopback webhooks (relative URLs and localhost) are disabled by default. They bypass "
    "authentication via the in-process ASGI transport and can be abused to invoke internal "
    "routes as an unauthenticated caller. Set webhooks.url.disable_loopback to false (in "
    "langgraph.json or via LANGGRAPH_WEBHOOKS) to opt back in — only do so when you control "
    "the mounted routes."
)


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Never a webhook target, allow_private or not (LangGraph's "always blocked" ranges):
# link-local, "this network", IETF/documentation/benchmark ranges, multicast, reserved,
# broadcast; IPv4-mapped/compatible and NAT64 IPv6 (they smuggle IPv4 targets).
_ALWAYS_BLOCKED = _nets(
    "169.254.0.0/16", "0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    "fe80::/10", "ff00::/8", "::ffff:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48",
)  # fmt: skip
_LOOPBACK = _nets("127.0.0.0/8", "::1/128")
_PRIVATE = _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_METADATA_IPS = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.amazonaws.com", "metadata", "instance-data"}
)
_LOCALHOST_NAMES = frozenset({"localhost", "localhost.localdomain", "host.docker.internal"})
_K8S_SUFFIX = ".svc.cluster.local"
_LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$")  # 2130706433, 0x7f.1, 0177.0.0.1: inet_aton forms


@dataclass(frozen=True)
class WebhookTarget:
    """A URL that passed the checks that need no DNS: where to connect and what to send."""

    url: str  # normalized: scheme and host lowercased (IDNA), no fragment, no default port
    host: str  # ASCII hostname or IP, without brackets
    port: int
    ip: IPAddress | None  # set when the host is an IP literal


def blocked(reason: str) -> WebhookUrlRejected:
    """LangGraph's 422 for a refused host."""
    return WebhookUrlRejected(f"Webhook host blocked: {reason}")


# --- URL policy -------------------------------------------------------------------------


def check_webhook_url(url: str, allow_private: bool, *, resolve: bool = True) -> str:
    """The normalized URL, or WebhookUrlRejected (422) with LangGraph's text.

    Only http(s); loopback and private hosts are refused unless ``allow_private``; link-local,
    multicast, reserved ranges and cloud metadata always are. ``resolve`` looks the name up
    and checks every address (a name that resolves to 127.0.0.1 is refused like 127.0.0.1).
    """
    target = parse_webhook_url(url, allow_private)
    if resolve and target.ip is None:
        try:
            addresses = resolve_host(target.host, target.port)
        except OSError as exc:
            raise blocked("DNS resolution failed") from exc
        check_addresses(addresses, allow_private)
    return target.url


def parse_webhook_url(url: str, allow_private: bool) -> WebhookTarget:
    """Every check that needs no DNS (scheme, host names, IP literals); see check_webhook_url."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlRejected("Webhook URL too long")
    if url.startswith("/"):
        raise WebhookUrlRejected(
            "Relative webhook URLs are not supported" if allow_private else RELATIVE_URL_TEXT
        )
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise WebhookUrlRejected("Invalid webhook URL")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise WebhookUrlRejected(f"Invalid webhook hostname '{host}'")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise blocked(f"scheme '{scheme}' not allowed")
    port = _port(parts, scheme)
    host, ip = _host(host)
    if ip is not None:
        check_addresses([ip], allow_private)
    else:
        _check_name(host, allow_private)
    return WebhookTarget(_normalized(parts, scheme, host, port), host, port, ip)


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address the name resolves to (OSError when it does not resolve)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise blocked("DNS resolution returned no results")
    return list(dict.fromkeys(addresses))


def check_addresses(addresses: Iterable[IPAddress], allow_private: bool) -> None:
    """Refuse the target when any address is blocked (one bad answer is enough)."""
    for address in addresses:
        reason = blocked_reason(address, allow_private)
        if reason:
            raise blocked(reason)


def blocked_reason(address: IPAddress, allow_private: bool) -> str | None:
    """LangGraph's reason for refusing this address, or None when it may be called."""
    if isinstance(address, ipaddress.IPv6Address):
        reason = _range_reason(address, allow_private)
        inner = address.ipv4_mapped or (
            ipaddress.IPv4Address(address.packed[-4:]) if address in _NAT64 else None
        )
        if reason or inner is None:
            return reason
        address = inner
    return _range_reason(address, allow_private)


def _range_reason(address: IPAddress, allow_private: bool) -> str | None:
    if allow_private and _within(address, _LOOPBACK + _PRIVATE):
        return "cloud metadata endpoint" if address in _METADATA_IPS else None
    if _within(address, _ALWAYS_BLOCKED):  # ::1 too (in ::/96), as on LangGraph
        return "blocked IP range"
    if _within(address, _LOOPBACK):
        return "loopback IP range"
    if _within(address, _PRIVATE):
        return "private IP range"
    if address in _METADATA_IPS:
        return "cloud metadata endpoint"
    # What the lists above miss (IPv6 reserved, site-local, documentation, …): the stdlib view.
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return "blocked IP range"
    if address.is_link_local or getattr(address, "is_site_local", False):
        return "blocked IP range"
    if not allow_private and not address.is_global:
        return "private IP range"
    return None


def _within(address: IPAddress, nets: Iterable[IPNetwork]) -> bool:
    return any(address in net for net in nets)


def _check_name(host: str, allow_private: bool) -> None:
    name = host.rstrip(".")
    if not allow_private and (name in _LOCALHOST_NAMES or name.endswith(".localhost")):
        raise blocked("localhost address")
    if name in _METADATA_HOSTS:
        raise blocked("cloud metadata endpoint")
    if not allow_private and name.endswith(_K8S_SUFFIX):
        raise blocked("Kubernetes internal DNS")


def _host(raw: str) -> tuple[str, IPAddress | None]:
    """(ASCII lowercase host, its address when it is an IP literal)."""
    try:
        ip = ipaddress.ip_address(raw.split("%", 1)[0])
        return str(ip), ip
    except ValueError:
        pass
    if _LEGACY_IPV4.match(raw):
        try:
            ip = ipaddress.IPv4Address(socket.inet_aton(raw))
            return str(ip), ip
        except OSError:
            pass
    try:
        return raw.encode("idna").decode("ascii").lower(), None
    except UnicodeError as exc:
        raise WebhookUrlRejected(f"Invalid webhook hostname '{raw}'") from exc


def _port(parts: SplitResult, scheme: str) -> int:
    try:
        port = parts.port
    except ValueError as exc:  # not a number, or out of range
        raise WebhookUrlRejected("Invalid webhook port") from exc
    if port == 0:
        raise WebhookUrlRejected("Invalid webhook port")
    return port or (443 if scheme == "https" else 80)


def _normalized(parts: SplitResult, scheme: str, host: str, port: int) -> str:
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"[{host}]" if ":" in host else host
    if port != (443 if scheme == "https" else 80):
        netloc = f"{netloc}:{port}"
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


# --- Run webhook payload (langgraph_api/webhook.py call_webhook) ------------------------


def run_webhook_payload(
    run: Mapping[str, Any],
    status: str,
    run_started_at: datetime | str | None,
    run_ended_at: datetime | str | None,
    values: Any,
    error: Mapping[str, Any] | BaseException | None = None,
) -> dict[str, Any]:
    """``{...run, status, run_started_at, run_ended_at, webhook_sent_at, values[, error]}``.

    ``webhook_sent_at`` is now; the delivery job sets it again at each attempt. ``error`` is
    only present when the run raised, as ``{"error": <type>, "message": ...}``.
    """
    if status not in RUN_WEBHOOK_STATUSES:
        raise ValueError(f"not a run webhook status: {status!r}")
    payload = {
        **run,
        "status": status,
        "run_started_at": _iso(run_started_at),
        "run_ended_at": _iso(run_ended_at),
        SENT_AT_FIELD: us_to_iso(now_us()),
        "values": values,
    }
    if error is not None:
        payload["error"] = serialize_error(error)
    return payload


# Exception types whose message LangGraph passes on (others: a generic message; serde.py).
_PUBLIC_ERRORS = (ValueError, TypeError, KeyError, AttributeError, RuntimeError, TimeoutError)


def serialize_error(error: Mapping[str, Any] | BaseException) -> dict[str, Any]:
    """``{"error": "ValueError", "message": "boom"}`` like LangGraph's serde."""
    if isinstance(error, Mapping):
        return dict(error)
    message = str(error) if isinstance(error, _PUBLIC_ERRORS) else "An internal error occurred"
    return {"error": type(error).__name__, "message": message}


def webhook_body(payload: Mapping[str, Any]) -> str:
    """Compact JSON text of a payload (RawJSON fields spliced in as stored)."""
    return to_json(dict(payload)).decode()


def with_sent_at(body: str, sent_at: str | None = None) -> str:
    """Add ``"webhook_sent_at": <now>`` as the last member of a JSON object body."""
    head = body.rstrip()
    if not head.endswith("}"):
        raise ValueError("webhook body is not a JSON object")
    inner = head[:-1].rstrip()
    sep = "" if inner.endswith("{") else ","
    return f'{inner}{sep}"{SENT_AT_FIELD}":"{sent_at or us_to_iso(now_us())}"}}'


def _iso(value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        return us_to_iso(datetime_to_us(value))
    return value


# --- Signing (Standard Webhooks) --------------------------------------------------------


def new_msg_id() -> str:
    """A webhook-id: the same for every attempt of one message (receivers dedupe on it)."""
    return f"msg_{uuid.uuid4().hex}"


def signing_key(secret: str) -> bytes:
    """``whsec_<base64>`` -> the decoded key; any other string is the key itself (UTF-8)."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error as exc:
            raise ValueError("webhook secret: invalid base64 after whsec_") from exc
    else:
        key = secret.encode()
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">``."""
    if "." in msg_id:
        raise ValueError("webhook-id may not contain '.'")
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(signing_key(secret)).sign(msg_id=msg_id, timestamp=moment, data=body)


def signature_headers(
    secret: str, body: str, *, msg_id: str, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (timestamp: now)."""
    ts = int(datetime.now(UTC).timestamp()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign_webhook(secret, msg_id, ts, body),
    }
