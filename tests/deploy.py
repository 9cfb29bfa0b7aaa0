"""The deployment files at the top of the repository (Procfile, docker-compose.yml, Dockerfile)
and the commands they run, for the tests that check them and the tests that run them."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support import ROOT, server_env

PROCFILE = ROOT / "Procfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
GRAPHS_CONFIG = ROOT / "tests" / "fixtures" / "graphs" / "project" / "langgraph.json"
COMPOSE_API_PORT = 8123  # what the compose file's api listens on and publishes


def procfile() -> dict[str, str]:
    """The Procfile's process types and their command lines, in order."""
    entries: dict[str, str] = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def procfile_argv(name: str, port: int = 8123) -> list[str]:
    """The argv of a Procfile process with $PORT = `port`, as its shell would expand it and
    exec it."""
    command = procfile()[name].replace("${PORT:-8123}", str(port))
    assert "$" not in command, command
    argv = shlex.split(command)
    return argv[1:] if argv[0] == "exec" else argv


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def procfile_env(redis_url: str, port: int) -> dict[str, str]:
    """The environment of a deployment under test: this checkout's `threadwatch` first on
    PATH, the test Redis in REDIS_URL (as compose and PaaS set it), the fixture project's
    graphs, PORT for `web`."""
    env = server_env(None)
    env["REDIS_URL"] = redis_url
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    env["PORT"] = str(port)
    env["THREADWATCH_GRAPHS_CONFIG"] = str(GRAPHS_CONFIG)
    env["THREADWATCH_WORKER_CONCURRENCY"] = "2"
    return env
