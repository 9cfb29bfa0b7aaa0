"""Encoding between Redis hashes and API-shaped dicts: timestamps, JSON fields.

Thread ids are held by the index zsets and sets (status, order, ttl, metadata leaves, alert
candidates) as the UUID's 16 bytes, ``thread_member``: a third of the text's memory, in the
same byte order (so that ``order:thread_id`` ranks them as the text would); ``thread_id_of``
turns a member back into the id. Keys and hashes keep the text.

Timestamps are stored as integer microseconds since the epoch (exact in a double, compact
in a listpack) and rendered as RFC 3339 with microseconds and ``+00:00``, like LangGraph.
JSON fields are stored as the exact bytes the API returns; reads keep them as ``RawJSON``
and responses splice them in (``orjson.Fragment``) instead of decoding and re-encoding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

# Hash fields holding JSON, with the value a thread has when the field is absent.
THREAD_JSON_FIELDS: dict[str, bytes] = {
    "metadata": b"{}",
    "config": b"{}",
    "values": b"null",
    "interrupts": b"{}",
    "error": b"null",
}
THREAD_TIME_FIELDS = ("created_at", "updated_at", "state_updated_at", "status_since")
RUN_JSON_FIELDS: dict[str, bytes] = {"metadata": b"{}", "kwargs": b"{}"}
RUN_TIME_FIELDS = ("created_at", "updated_at")


MEMBER_LENGTH = 16
TEXT_MEMBER_LENGTH = 36  # a member written as the id's text, before 16-byte members


def text(raw: Any) -> str:
    """A Redis reply as text (the clients here read bytes: decode_responses is off; redis-py
    types a reply as the union of every form a command can give)."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def thread_member(thread_id: str) -> bytes:
    """The index member of a thread id (a canonical UUID, as the API validates them)."""
    member = bytes.fromhex(thread_id.replace("-", ""))
    if len(member) != MEMBER_LENGTH:
        raise ValueError(f"not a thread id: {thread_id!r}")
    return member


def thread_id_of(member: bytes) -> str:
    """The thread id of an index member (the inverse of ``thread_member``); a member in the
    text form that stores written before 16-byte members hold (``threadwatch doctor --fix``
    converts them) is that text."""
    if len(member) == TEXT_MEMBER_LENGTH:
        return member.decode()
    h = member.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RawJSON(bytes):
    """JSON text read from Redis, not yet decoded."""

    def load(self) -> Any:
        return orjson.loads(bytes(self))


def _fragment(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return orjson.Fragment(bytes(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def to_json(value: Any) -> bytes:
    """Serialize an API response, splicing ``RawJSON`` fields in as they are."""
    try:
        return orjson.dumps(value, default=_fragment)
    except TypeError:
        return dumps(materialize(value))


def materialize(value: Any) -> Any:
    """A response value with every ``RawJSON`` decoded (for Python callers)."""
    if isinstance(value, RawJSON):
        return value.load()
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v) for v in value]
    return value


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch."""
    return time.time_ns() // 1000


def redis_now_us(redis: Any) -> int:
    """The Redis server's clock in microseconds since the epoch (the clock every script
    stamps with, so that all clients agree)."""
    seconds, micros = redis.time()
    return int(seconds) * 1_000_000 + int(micros)


def seconds_to_us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def us_to_iso(us: int) -> str:
    """1795547588272123 -> '2026-11-24T19:01:58.272123+00:00'."""
    seconds, micros = divmod(int(us), 1_000_000)
    dt = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)
    return dt.isoformat(timespec="microseconds")


def datetime_to_us(dt: datetime) -> int:
    """Aware datetime -> microseconds since the epoch (naive datetimes are taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def dumps(value: Any) -> bytes:
    """Compact JSON bytes as stored in Redis (integers beyond 64 bits included)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # orjson refuses integers beyond 64 bits; JSON itself has no such limit.
        return json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()


def decode_hash(raw: dict[bytes, bytes] | list[bytes]) -> dict[str, bytes]:
    """HGETALL reply (a dict, or the flat list a Lua script returns) -> {field: raw value}."""
    if isinstance(raw, list):
        return {raw[i].decode(): raw[i + 1] for i in range(0, len(raw), 2)}
    return {k.decode(): v for k, v in raw.items()}


def thread_from_hash(thread_id: str, h: dict[str, bytes]) -> dict[str, Any]:
    """Thread dict with every API field; JSON fields stay raw (``RawJSON``)."""
    thread: dict[str, Any] = {"thread_id": thread_id}
    for field in ("created_at", "updated_at", "state_updated_at"):
        thread[field] = us_to_iso(int(h[field]))
    thread["metadata"] = RawJSON(h.get("metadata") or THREAD_JSON_FIELDS["metadata"])
    thread["status"] = h["status"].decode()
    for field in ("config", "values", "interrupts", "error"):
        thread[field] = RawJSON(h.get(field) or THREAD_JSON_FIELDS[field])
    thread["status_since"] = us_to_iso(int(h["status_since"]))
    return thread


def threads_from_hashes(
    thread_ids: Iterable[str], raws: Iterable[dict[bytes, bytes] | list[bytes]]
) -> list[dict[str, Any]]:
    """Threads from their HGETALL replies, in order; empty replies (gone) are left out."""
    return [
        thread_from_hash(thread_id, decode_hash(raw))
        for thread_id, raw in zip(thread_ids, raws, strict=True)
        if raw
    ]


def ttl_expiry_us(raw: Mapping[str, bytes | None]) -> int | None:
    """When a thread's TTL runs out (µs), or None without a TTL: the TTL after its last
    activity (updated_at) or its last ``keep_latest`` expiry (ttl_pruned_at), whichever is
    later. create_thread.lua and patch_thread.lua compute the same sum."""
    minutes = raw.get("ttl_minutes")
    if not minutes or raw.get("updated_at") is None:
        return None
    start = max(int(raw["updated_at"]), int(raw.get("ttl_pruned_at") or 0))
    return start + ttl_us(minutes)


def ttl_us(minutes: bytes | str | float) -> int:
    """A TTL in minutes (as stored) in whole microseconds, rounded down like the Lua side."""
    return int(float(minutes) * 60_000_000)


def ttl_from_hash(raw: dict[str, bytes]) -> dict[str, Any] | None:
    """The ``ttl`` object of ``GET /threads/{id}?include=ttl``, or None without a TTL."""
    expires_at = ttl_expiry_us(raw)
    if expires_at is None:
        return None
    minutes = float(raw["ttl_minutes"])
    return {
        "strategy": (raw.get("ttl_strategy") or b"delete").decode(),
        "ttl_minutes": int(minutes) if minutes.is_integer() else minutes,
        "expires_at": us_to_iso(expires_at),
    }


def transition_from_entry(raw: bytes) -> dict[str, Any]:
    """One entry of a thread's status history ("at|from|to|run_id", see
    lua/lib/status_change.lua), its time as an API timestamp."""
    at, old, new, run_id = raw.decode().split("|")
    return {"at": us_to_iso(int(at)), "from": old or None, "to": new, "run_id": run_id or None}


def run_from_hash(run_id: str, h: dict[str, bytes]) -> dict[str, Any]:
    """Run dict in the LangGraph Run shape."""

    def text(field: str) -> str | None:
        value = h.get(field)
        return value.decode() if value else None

    return {
        "run_id": run_id,
        "thread_id": text("thread_id"),
        "assistant_id": text("assistant_id"),
        "created_at": us_to_iso(int(h["created_at"])),
        "updated_at": us_to_iso(int(h["updated_at"])),
        "status": text("status"),
        "metadata": RawJSON(h.get("metadata") or RUN_JSON_FIELDS["metadata"]),
        "kwargs": RawJSON(h.get("kwargs") or RUN_JSON_FIELDS["kwargs"]),
        "multitask_strategy": text("multitask_strategy"),
    }
