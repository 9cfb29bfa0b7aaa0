"""Helpers shared by the test tiers (the fixtures themselves live in the conftest files)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

from threadwatch.graphs import GraphRegistry, load_graphs

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = Path(REPO_ROOT)
# Graph projects and other files the tests load.
FIXTURES = ROOT / "tests" / "fixtures"


def no_server(reason: str) -> None:
    """Fail under CI, where a missing service is a broken set-up; skip elsewhere (STYLE 11)."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_default_db(url: str, db: int) -> str:
    """The URL unchanged if it names a db (path /N or ?db=N), else with `db`."""
    parts = urlsplit(url)
    if "db" in parse_qs(parts.query):
        return url
    if parts.scheme == "unix":  # the path is the socket's
        return f"{url}{'&' if parts.query else '?'}db={db}"
    if parts.path.strip("/"):
        return url
    return urlunsplit(parts._replace(path=f"/{db}"))


def server_env(redis_url: str | None) -> dict[str, str]:
    """This environment for a threadwatch subprocess running this checkout, on `redis_url`.

    REDIS_URL is dropped because it would win over THREADWATCH_REDIS_URL; None drops both, so
    that `threadwatch dev` starts its embedded Redis. API keys of the shell are dropped too
    (tests that want them set them).
    """
    dropped = ("REDIS_URL", "THREADWATCH_REDIS_URL", "THREADWATCH_API_KEYS")
    env = {k: v for k, v in os.environ.items() if k.upper() not in dropped}
    if redis_url is not None:
        env["THREADWATCH_REDIS_URL"] = redis_url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    return env


def load_project_graphs(project: Path, **env: str) -> GraphRegistry:
    """load_graphs(project), with sys.path (which loading extends) restored afterwards, and
    the variables `env` set while loading and restored (removed if absent) afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "path", list(sys.path))
        for name, value in env.items():
            patch.setenv(name, value)
        return load_graphs(project)
