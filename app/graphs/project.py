"""``langgraph.json`` found, read and checked in one place: its ``graphs`` object and the
``http`` and ``store`` sections, with the keys and types of LangGraph's Agent Server
(langgraph-api 0.16.7, ``config/schemas.py``). A value of the wrong type is a
``GraphConfigError`` naming the key, so that the server does not start on a mistake that
would silently change what it serves. A key LangGraph does not know is ignored, as
LangGraph ignores it (a file that runs there runs here), and named in a warning at start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadwatch.graphs.registry import GraphConfigError

CONFIG_FILE = "langgraph.json"
JS_SUFFIXES = (".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs", ".jsx")

# The route groups `http.disable_<group>` takes away (mcp and a2a: none here, accepted).
ROUTE_GROUPS = (
    "assistants",
    "threads",
    "runs",
    "store",
    "meta",
    "ui",
    "mcp",
    "a2a",
    "event_streaming",
)
# LangGraph keys that change nothing here (no custom auth, no header forwarding to runs).
HTTP_KEYS_WITHOUT_EFFECT = frozenset(
    {"configurable_headers", "logging_headers", "enable_custom_route_auth", "middleware_order"}
)
_HTTP_KEYS = frozenset(
    {"app", "cors", "mount_prefix", "disable_webhooks", *(f"disable_{g}" for g in ROUTE_GROUPS)}
    | HTTP_KEYS_WITHOUT_EFFECT
)
# Starlette CORSMiddleware's arguments, as LangGraph passes `http.cors` to it: key -> type.
_CORS_LISTS = ("allow_origins", "allow_methods", "allow_headers", "expose_headers")
_CORS_KEYS = frozenset({*_CORS_LISTS, "allow_credentials", "allow_origin_regex", "max_age"})
_STORE_KEYS = frozenset({"path", "index", "ttl"})


@dataclass(frozen=True)
class HttpConfig:
    """``http`` of langgraph.json: what the API serves and how."""

    app: str | None = None  # "./file.py:app" or "package.module:app": a Starlette app
    disabled: frozenset[str] = frozenset()  # route groups not mounted
    disable_webhooks: bool = False
    cors: Mapping[str, Any] | None = None  # CORSMiddleware's arguments, replacing ours
    mount_prefix: str | None = None  # every route under it, but /ok and /metrics
    without_effect: tuple[str, ...] = ()  # keys given that change nothing here

    def serves(self, group: str) -> bool:
        """Whether the group's routes are mounted. As on LangGraph, ``disable_runs`` also
        takes the thread-centric protocol away: its commands start runs."""
        if group == "event_streaming" and "runs" in self.disabled:
            return False
        return group not in self.disabled


@dataclass(frozen=True)
class Project:
    """One langgraph.json, checked: where it is, its parsed object and its sections."""

    path: Path | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    http: HttpConfig = HttpConfig()
    store: Mapping[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()  # keys of http and store that LangGraph does not know

    @property
    def folder(self) -> Path:
        """What relative paths in the file are relative to."""
        return self.path.parent if self.path is not None else Path.cwd()


def find_config(
    graphs_config: str | os.PathLike[str] | None, cwd: Path | None = None
) -> Path | None:
    """The configured langgraph.json (a file, or a folder holding one; it must exist), else
    ./langgraph.json when there is one, else None."""
    if graphs_config:
        path = Path(graphs_config)
        path = path / CONFIG_FILE if path.is_dir() else path
        if not path.is_file():
            raise GraphConfigError(f"graphs config {path} does not exist")
        return path.resolve()
    default = (cwd or Path.cwd()) / CONFIG_FILE
    return default.resolve() if default.is_file() else None


def load_project(graphs_config: str | os.PathLike[str] | None, cwd: Path | None = None) -> Project:
    """The project the server runs: see find_config; an empty one when there is none."""
    return project_at(find_config(graphs_config, cwd))


def project_at(path: Path | None) -> Project:
    """The checked langgraph.json at ``path`` (None, or a missing file: an empty project)."""
    if path is None or not path.is_file():
        return Project()
    data = read_config(path)
    try:
        http, store = data.get("http"), data.get("store")
        ignored = _unknown("http", http, _HTTP_KEYS) + _unknown("store", store, _STORE_KEYS)
        return Project(path, data, parse_http(http), check_store(store), ignored)
    except GraphConfigError as exc:
        raise GraphConfigError(f"{path}: {exc}") from None


def read_config(path: Path) -> dict[str, Any]:
    """The parsed langgraph.json; its ``graphs`` must be an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GraphConfigError(f"cannot read graphs config {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("graphs"), dict):
        raise GraphConfigError(f'graphs config {path} needs a "graphs" object')
    return data


def parse_http(section: Any) -> HttpConfig:
    """``http``: null or an object of LangGraph's HttpConfig keys."""
    if section is None:
        return HttpConfig()
    _check("http", section, dict, "an object")
    for key in ("disable_webhooks", "enable_custom_route_auth", *_disable_keys()):
        _check(f"http.{key}", section.get(key), bool, "true or false")
    for key in ("configurable_headers", "logging_headers"):
        _check(f"http.{key}", section.get(key), dict, "an object")
    order = section.get("middleware_order")
    if order not in (None, "auth_first", "middleware_first"):
        raise _invalid("http.middleware_order", order, '"auth_first" or "middleware_first"')
    return HttpConfig(
        app=_app(section.get("app")),
        disabled=frozenset(g for g in ROUTE_GROUPS if section.get(f"disable_{g}")),
        disable_webhooks=bool(section.get("disable_webhooks")),
        cors=parse_cors(section.get("cors")),
        mount_prefix=_mount_prefix(section.get("mount_prefix")),
        without_effect=tuple(k for k in sorted(HTTP_KEYS_WITHOUT_EFFECT) if k in section),
    )


def parse_cors(section: Any) -> dict[str, Any] | None:
    """``http.cors``: Starlette CORSMiddleware's arguments (its defaults for the others)."""
    if section is None:
        return None
    _check_keys("http.cors", section, _CORS_KEYS)
    for key in _CORS_LISTS:
        value = section.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        ):
            raise _invalid(f"http.cors.{key}", value, "a list of strings")
    _check("http.cors.allow_credentials", section.get("allow_credentials"), bool, "true or false")
    _check("http.cors.allow_origin_regex", section.get("allow_origin_regex"), str, "a string")
    age = section.get("max_age")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int) or age < 0):
        raise _invalid("http.cors.max_age", age, "an integer >= 0 (seconds)")
    return {key: value for key, value in section.items() if value is not None}


def check_store(section: Any) -> dict[str, Any]:
    """``store``: null or an object of ``path``, ``index`` and ``ttl`` (the last two are
    checked where they are loaded, app/graphs/store_config.py)."""
    if section is None:
        return {}
    _check("store", section, dict, "an object")
    path = section.get("path")
    if path is not None and not (isinstance(path, str) and path.strip()):
        raise _invalid("store.path", path, 'a "./file.py:variable" or "package.module:variable"')
    return dict(section)


def _disable_keys() -> tuple[str, ...]:
    return tuple(f"disable_{group}" for group in ROUTE_GROUPS)


def _app(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or ":" not in value:
        raise _invalid("http.app", value, 'a "./path/to/file.py:variable"')
    if value.rpartition(":")[0].endswith(JS_SUFFIXES):
        raise _invalid("http.app", value, "a Python app (threadwatch runs no JavaScript)")
    return value


def _mount_prefix(value: Any) -> str | None:
    """LangGraph's rule: it starts with "/"; a trailing "/" is dropped ("/" is no prefix)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise _invalid("http.mount_prefix", value, 'a path starting with "/", e.g. "/my-api"')
    return value.rstrip("/") or None


def _unknown(name: str, section: Any, known: frozenset[str]) -> tuple[str, ...]:
    """The keys of ``section`` (when an object) that LangGraph does not know, named in full."""
    if not isinstance(section, dict):
        return ()
    return tuple(f"{name}.{key}" for key in sorted(set(section) - known))


def _check_keys(name: str, section: Any, known: frozenset[str]) -> None:
    """Every key known: for ``http.cors``, whose keys LangGraph passes to CORSMiddleware,
    which refuses any other."""
    if not isinstance(section, dict):
        raise _invalid(name, section, "an object")
    unknown = sorted(set(section) - known)
    if unknown:
        raise GraphConfigError(
            f'unknown key{"s" if len(unknown) > 1 else ""} in "{name}": '
            f"{', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _check(name: str, value: Any, kind: type, expected: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise _invalid(name, value, expected)


def _invalid(name: str, value: Any, expected: str) -> GraphConfigError:
    return GraphConfigError(f'"{name}" must be {expected}, got {json.dumps(value)}')
