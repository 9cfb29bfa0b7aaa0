"""docker-compose.yml, Dockerfile and Procfile, checked without a Docker engine: the compose file's
structure (Redis with AOF, a healthcheck and a named volume; the API and the workers waiting
for a healthy Redis), its commands being exactly the Procfile's (which
tests/integration/test_procfile.py runs for real), and its settings defaults being the
application's. `docker compose config -q` (or docker-compose v1) validates the file against
the Compose schema when a client is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import (
    COMPOSE_API_PORT,
    COMPOSE_FILE,
    DOCKERFILE,
    ROOT,
    compose,
    procfile,
    procfile_argv,
)
from threadwatch.settings import Settings

INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):-(?P<default>[^}]*)\}$")
APP_SERVICES = {"api": "web", "worker": "worker"}  # compose service -> Procfile process


def env_name(field: str) -> str:
    return "REDIS_URL" if field == "redis_url" else f"THREADWATCH_{field.upper()}"


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def test_procfile_has_web_and_worker() -> None:
    """`exec`: the shell gives way to threadwatch, which gets the signals and exits with its
    own code."""
    assert procfile() == {
        "web": "exec threadwatch serve --host 0.0.0.0 --port ${PORT:-8123}",
        "worker": "exec threadwatch worker",
    }


def test_services_are_redis_the_api_and_the_workers() -> None:
    """No separate scheduler or sweeper service: both run inside the worker processes."""
    assert set(compose()["services"]) == {"redis", "api", "worker"}


def test_redis_persists_to_a_named_volume_with_aof_and_has_a_healthcheck() -> None:
    redis = service("redis")
    assert re.match(r"^(redis:7|valkey/valkey:)", redis["image"]), redis["image"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    volume, target = redis["volumes"][0].split(":")[:2]
    assert target == "/data"
    assert volume in compose()["volumes"]  # a named volume, not a host folder


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_wait_for_a_healthy_redis_and_use_it(name: str) -> None:
    spec = service(name)
    assert spec["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert spec["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert spec["build"] == "."
    assert any(":/app/graphs:ro" in volume for volume in spec["volumes"])
    assert spec["environment"]["THREADWATCH_GRAPHS_CONFIG"] == "${THREADWATCH_GRAPHS_CONFIG:-}"


@pytest.mark.parametrize(("name", "process"), sorted(APP_SERVICES.items()))
def test_each_service_runs_exactly_the_procfiles_command(name: str, process: str) -> None:
    command = service(name)["command"]
    argv = command if isinstance(command, list) else command.split()
    assert argv == procfile_argv(process, COMPOSE_API_PORT)


def test_the_api_port_is_published() -> None:
    assert service("api")["ports"] == [f"{COMPOSE_API_PORT}:{COMPOSE_API_PORT}"]
    assert "ports" not in service("worker")  # scale-able: nothing to clash on


def test_the_services_share_one_environment() -> None:
    assert service("api")["environment"] == service("worker")["environment"]


def compose_environment() -> dict[str, str]:
    """The app services' environment as compose resolves it with nothing set in the shell:
    `${NAME:-default}` gives the default; a name without a value is left unset."""
    resolved = {}
    for name, value in service("api")["environment"].items():
        if value is None:
            continue
        match = INTERPOLATION.match(str(value))
        if match:
            assert match["name"] == name, (name, value)  # each reads its own variable
            value = match["default"]
        resolved[name] = str(value)
    return resolved


def test_every_variable_is_a_setting() -> None:
    """A misspelt name would be ignored silently (extra="ignore")."""
    known = {env_name(field) for field in Settings.model_fields}
    assert set(service("api")["environment"]) <= known


def test_compose_defaults_are_the_applications_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Settings from the compose environment alone equal Settings with nothing set (apart from
    REDIS_URL): empty values parse as "not set", and no default drifts from app/settings.py."""
    monkeypatch.chdir(tmp_path)  # no .env
    for name in list(os.environ):
        if name.upper().startswith("THREADWATCH_") or name.upper() == "REDIS_URL":
            monkeypatch.delenv(name)
    defaults = Settings().model_dump()
    for name, value in compose_environment().items():
        monkeypatch.setenv(name, value)
    from_compose = Settings().model_dump()
    assert from_compose.pop("redis_url") == "redis://redis:6379/0"
    defaults.pop("redis_url")
    # graphs_config: "" and None both mean "./langgraph.json if there is one"
    assert not from_compose.pop("graphs_config") and not defaults.pop("graphs_config")
    assert from_compose == defaults


def test_dockerfile_installs_the_package_with_langgraph_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[[i for i, line in enumerate(lines) if not line.startswith("#")][0]] == (
        "FROM python:3.11-slim"
    )
    assert "RUN pip install '.[langgraph]'" in lines
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    # What setuptools needs to build the package is copied in, and not ignored.
    copied = {src for line in lines if line.startswith("COPY ") for src in line.split()[1:-1]}
    assert {"pyproject.toml", "README.md", "app", "workers"} <= copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"pyproject.toml", "README.md", "app", "workers"} & set(ignored)


def compose_client() -> list[str] | None:
    """`docker compose` (the v2 plugin) or `docker-compose` (v1), whichever is installed."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_accepts_the_file() -> None:
    client = compose_client()
    if client is None:
        pytest.skip("no docker compose client installed (the YAML checks above still ran)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADWATCH_")}
    result = subprocess.run(
        [*client, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr  # no warnings (e.g. unset variables)


def test_the_api_gives_in_flight_requests_a_bounded_grace_on_sigterm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`threadwatch serve` (uvicorn.run) and `threadwatch dev` (a uvicorn child) both pass
    --timeout-graceful-shutdown: requests in flight finish, for 30 s at most."""
    import uvicorn
    from typer.testing import CliRunner

    from threadwatch import cli
    from threadwatch.cli import daemons

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    result = CliRunner().invoke(cli.cli, procfile_argv("web")[1:])
    assert result.exit_code == 0, result.output
    assert calls[0]["timeout_graceful_shutdown"] == cli.GRACEFUL_SHUTDOWN_SECONDS == 30
    argv = daemons._uvicorn_argv("127.0.0.1", 8123, "info", reload=False)
    index = argv.index("--timeout-graceful-shutdown")
    assert argv[index + 1] == str(cli.GRACEFUL_SHUTDOWN_SECONDS)


def test_serve_and_dev_run_the_bounded_http_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both run uvicorn with the httptools protocol that limits request heads
    (tests/integration/api/test_http_limits.py sends it the heads)."""
    import uvicorn
    from typer.testing import CliRunner
    from uvicorn.importer import import_from_string

    from threadwatch import cli
    from threadwatch.api.http_protocol import BoundedHttpToolsProtocol
    from threadwatch.cli import daemons

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert CliRunner().invoke(cli.cli, ["serve"]).exit_code == 0
    assert import_from_string(calls[0]["http"]) is BoundedHttpToolsProtocol
    argv = daemons._uvicorn_argv("127.0.0.1", 8123, "info", reload=False)
    assert argv[argv.index("--http") + 1] == calls[0]["http"]
