"""``select`` and ``extract`` on search results, as the LangGraph server applies them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from threadwatch.store.codec import RawJSON

# values.messages[-1].content -> values, messages, -1, content; also ["quoted key"].
_STEP = re.compile(r'\.?([^.\[\]]+)|\[(-?\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for name, index, quoted in _STEP.findall(path):
        steps.append(int(index) if index else (quoted or name))
    return steps


def extract(thread: dict[str, Any], path: str) -> Any:
    """The value at ``path`` in the thread, or None when any step is missing."""
    node: Any = thread
    for step in parse_path(path):
        if isinstance(node, RawJSON):
            node = node.load()
        if isinstance(step, int) and isinstance(node, list) and -len(node) <= step < len(node):
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return None
    return node


def project(
    thread: dict[str, Any], select: Sequence[str] | None, paths: dict[str, str] | None
) -> dict[str, Any]:
    out = {k: v for k, v in thread.items() if k in select} if select else dict(thread)
    if paths:
        out["extracted"] = {alias: extract(thread, path) for alias, path in paths.items()}
    return out
