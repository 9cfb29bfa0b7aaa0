"""The protocol's wire vocabulary, as LangGraph's server speaks it: channels, the event
envelope, subscriptions (channel, namespace and depth filters), command replies, and the
compact message shapes that `values` and `updates` events carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHANNELS = frozenset(
    {"values", "updates", "checkpoints", "messages", "tools", "custom", "lifecycle", "input"}
    | {"tasks"}
)
# LangGraph's text for a bad channel in a stream body (it omits `checkpoints`).
CHANNELS_ALLOWED = (
    "Allowed: values, updates, messages, tools, custom, lifecycle, input, tasks, "
    "or any `custom:<name>`."
)
STATE_MESSAGE_TYPES = frozenset(
    {"human", "user", "ai", "assistant", "system", "tool", "function", "remove"}
)


def supported_channel(channel: object) -> bool:
    """A channel of the protocol: a fixed name, or `custom:<name>`."""
    if not isinstance(channel, str):
        return False
    return channel in CHANNELS or (channel.startswith("custom:") and len(channel) > 7)


def namespace_key(namespace: list[str]) -> str:
    """A namespace as one string, as LangGraph keys it (synthetic event ids use it)."""
    return "\0".join(namespace)


def synthetic_id(run_id: str, *parts: str) -> str:
    """The event id of an event the server makes (lifecycle, input): the same on every
    replay, as LangGraph's."""
    return f"synth:{run_id}:{'|'.join(parts)}"


def envelope(
    seq: int,
    event_id: str,
    method: str,
    namespace: list[str],
    timestamp: int,
    data: Any,
    node: str | None = None,
) -> dict[str, Any]:
    """One event as LangGraph sends it."""
    params: dict[str, Any] = {"namespace": namespace, "timestamp": timestamp, "data": data}
    if node is not None:
        params["node"] = node
    return {"type": "event", "event_id": event_id, "seq": seq, "method": method, "params": params}


def success(command_id: Any, result: dict[str, Any], seq: int | None = 0) -> dict[str, Any]:
    """A command's reply; ``meta`` tells how far the connection's events went."""
    reply: dict[str, Any] = {"type": "success", "id": command_id, "result": result}
    if seq is not None:
        reply["meta"] = {"applied_through_seq": seq}
    return reply


def error(command_id: Any, code: str, message: str) -> dict[str, Any]:
    """A command's refusal, as LangGraph words it (HTTP 200, `type: error`)."""
    return {"type": "error", "id": command_id, "error": code, "message": message}


def _prefix_match(namespace: list[str], prefix: list[str]) -> bool:
    """Whether ``namespace`` starts with ``prefix``; a prefix segment without `:` also
    matches a segment with a task suffix (`agent` matches `agent:<task id>`)."""
    if len(prefix) > len(namespace):
        return False
    for segment, candidate in zip(prefix, namespace, strict=False):
        if candidate == segment:
            continue
        if ":" in segment or candidate.split(":")[0] != segment:
            return False
    return True


@dataclass
class Subscription:
    """What one stream or subscription asked for: channels, and namespaces (prefixes, each
    down to ``depth`` levels below it)."""

    channels: frozenset[str]
    namespaces: list[list[str]] | None = None
    depth: int | None = None
    id: str = ""
    seen: set[str] = field(default_factory=set)

    def matches(self, event: dict[str, Any]) -> bool:
        method = event["method"]
        channel = "input" if method == "input.requested" else method
        params = event["params"]
        if channel == "custom":
            data = params.get("data")
            name = data.get("name") if isinstance(data, dict) else None
            if "custom" not in self.channels and f"custom:{name}" not in self.channels:
                return False
        elif channel not in self.channels:
            return False
        if not self.namespaces:
            return True
        namespace = params["namespace"]
        return any(
            _prefix_match(namespace, prefix)
            and (self.depth is None or len(namespace) - len(prefix) <= self.depth)
            for prefix in self.namespaces
        )


def read_subscription(params: dict[str, Any]) -> Subscription | None:
    """The subscription of a stream body or subscribe command; None when its channels are
    missing or not all supported. Namespaces and depth that are not well formed are
    ignored, as LangGraph ignores them."""
    channels = params.get("channels")
    if not isinstance(channels, list) or not channels:
        return None
    if not all(supported_channel(channel) for channel in channels):
        return None
    namespaces = params.get("namespaces")
    kept = (
        [ns for ns in namespaces if isinstance(ns, list) and all(isinstance(s, str) for s in ns)]
        if isinstance(namespaces, list)
        else []
    )
    depth = params.get("depth")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        depth = None
    return Subscription(frozenset(channels), kept or None, depth)


def read_since(value: Any) -> int | None:
    """A resume cursor: a non-negative integer seq (booleans are not)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


# -- state payloads -------------------------------------------------------------------------


def state_payload(value: Any) -> Any:
    """A `values` or `updates` payload as the protocol carries it: messages in their
    compact protocol shape, ``__interrupt__`` left out (interrupts go to `input`)."""
    if isinstance(value, list):
        return [_message(item) if _is_message(item) else state_payload(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: (
            [_message(m) if _is_message(m) else m for m in entry]
            if key == "messages" and isinstance(entry, list)
            else state_payload(entry)
        )
        for key, entry in value.items()
        if key != "__interrupt__"
    }


def _message_type(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return {"assistant": "ai", "user": "human"}.get(value, value)


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and _message_type(value.get("type")) in STATE_MESSAGE_TYPES


def _message(value: dict[str, Any]) -> dict[str, Any]:
    """A LangChain message (as JSON) in the protocol's shape: type, content (blocks when
    it has any), id, name and the fields of its kind."""
    kind = _message_type(value.get("type"))
    message: dict[str, Any] = {"type": kind, "content": _content(value.get("content", ""))}
    for key in ("id", "name"):
        if isinstance(value.get(key), str):
            message[key] = value[key]
    if kind in ("ai", "human") and isinstance(value.get("example"), bool):
        message["example"] = value["example"]
    if isinstance(value.get("response_metadata"), dict) and value["response_metadata"]:
        message["response_metadata"] = value["response_metadata"]
    if kind == "tool":
        if isinstance(value.get("tool_call_id"), str):
            message["tool_call_id"] = value["tool_call_id"]
        if value.get("status") in ("success", "error"):
            message["status"] = value["status"]
        if "artifact" in value:
            message["artifact"] = value["artifact"]
    if kind == "ai":
        calls = [_tool_call(c) for c in value.get("tool_calls") or () if isinstance(c, dict)]
        if calls:
            message["tool_calls"] = calls
        invalid = [
            {"type": "invalid_tool_call", **{k: c[k] for k in ("id", "name", "args") if k in c}}
            | {"error": c.get("error") if isinstance(c.get("error"), str) else "Malformed args."}
            for c in value.get("invalid_tool_calls") or ()
            if isinstance(c, dict)
        ]
        if invalid:
            message["invalid_tool_calls"] = invalid
    return message


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "tool_call", "name": call.get("name")}
    entry["args"] = call.get("args")
    if isinstance(call.get("id"), str):
        entry["id"] = call["id"]
    return entry


def _content(content: Any) -> Any:
    """Text stays text; a list becomes content blocks (text parts as `text` blocks, blocks
    of other APIs as `non_standard`)."""
    if not isinstance(content, list):
        return content
    blocks: list[Any] = []
    for part in content:
        if isinstance(part, str):
            blocks.append({"type": "text", "text": part})
        elif isinstance(part, dict) and isinstance(part.get("type"), str):
            blocks.append(_block(part))
    return blocks or content


PROTOCOL_BLOCKS = frozenset(
    {"text", "reasoning", "tool_call", "tool_call_chunk", "invalid_tool_call"}
    | {"server_tool_call", "server_tool_call_chunk", "server_tool_call_result"}
    | {"image", "audio", "video", "file", "non_standard"}
)


def _block(part: dict[str, Any]) -> dict[str, Any]:
    if part["type"] in PROTOCOL_BLOCKS:
        return part
    if part["type"] == "image_url":
        image = part.get("image_url")
        url = image if isinstance(image, str) else (image or {}).get("url")
        if isinstance(url, str):
            return {"type": "image", "url": url}
    return {"type": "non_standard", "value": dict(part)}
