"""Long-running commands: `threadwatch dev` (embedded Redis + API + worker), `serve` (the API),
`worker`, and `version`."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

import threadwatch as app_package
from threadwatch.cli.base import (
    ConfigOption,
    HostOption,
    PortOption,
    check_project,
    cli,
    console,
    err_console,
    load_settings,
    redact,
    server_settings,
    use_graphs_config,
)
from threadwatch.cli.dev_record import DevRecord, find_dev, remove_record, write_record
from threadwatch.cli.embedded_redis import start_embedded_redis
from threadwatch.cli.processes import child_popen_kwargs, stop_process
from threadwatch.graphs.project import Project

APP_FACTORY = "threadwatch.api.app:serve_app"
# httptools with a limit on request heads (app/api/http_protocol.py), as uvicorn's --http.
HTTP_PROTOCOL = "threadwatch.api.http_protocol:BoundedHttpToolsProtocol"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# On SIGTERM the API stops accepting connections and lets in-flight requests (a runs.wait,
# a join) end for this many seconds before it cancels them.
GRACEFUL_SHUTDOWN_SECONDS = 30


@dataclass
class Child:
    """A supervised child process of `threadwatch dev`."""

    name: str
    argv: list[str]
    proc: subprocess.Popen | None = field(default=None, repr=False)


def _uvicorn_argv(host: str, port: int, log_level: str, reload: bool) -> list[str]:
    argv = [sys.executable, "-m", "uvicorn", APP_FACTORY, "--factory"]
    argv += ["--host", host, "--port", str(port), "--log-level", log_level]
    argv += ["--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS)]
    argv += ["--http", HTTP_PROTOCOL]
    if reload:
        argv += ["--reload", "--reload-dir", str(Path(app_package.__file__).parent)]
    return argv


def dev_cors_env(origins: list[str]) -> dict[str, str]:
    """CORS under dev, as under `langgraph dev`: any origin (unless THREADWATCH_CORS_ORIGINS
    names some), and the Private Network Access preflight answered, so that Studio and
    agent-chat-ui in a browser reach the local API."""
    return {
        "THREADWATCH_CORS_ORIGINS": ",".join(origins) or "*",
        "THREADWATCH_CORS_ALLOW_PRIVATE_NETWORK": "true",
    }


def _api_url(host: str, port: int) -> str:
    """The API's URL as a local client reaches it."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"  # an IPv6 address
    return f"http://{shown}:{port}"


def _graphs_source(project: Project) -> str | None:
    """The langgraph.json the API loads (as load_registry picks it), for the banner."""
    if project.path is None:
        return None
    try:
        return f"./{project.path.relative_to(Path.cwd().resolve())}"
    except ValueError:
        return str(project.path)


def _api_info(base: str) -> dict | None:
    """GET /info of the API once it answers: {} when it answers without the graphs, None
    while it does not answer yet."""
    try:
        with urllib.request.urlopen(f"{base}/info", timeout=1.0) as response:
            info = json.loads(response.read())
    except urllib.error.HTTPError:
        return {}  # it answers: up, but without /info
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else {}


def _graph_lines(graphs: object, source: str | None) -> list[str]:
    """The graphs the API loaded (their ids) and, one line each, those that failed and why."""
    if not isinstance(graphs, dict):
        return ["Graphs [dim]unknown (GET /info did not list them)[/dim]"]
    if source is None:
        return ["Graphs none (no ./langgraph.json here; `--config path` runs a project's graphs)"]
    loaded, errors = graphs.get("loaded") or [], graphs.get("errors") or {}
    names = ", ".join(str(graph_id) for graph_id in loaded) if loaded else "none loaded"
    lines = [f"Graphs [bold]{escape(names)}[/bold] [dim](from {escape(source)})[/dim]"]
    for summary in errors.values():
        first_line = (str(summary).strip().splitlines() or [""])[0]
        lines.append(f"[red]       {escape(first_line)}[/red]")
    return lines


def _print_ready(base: str, info: dict, source: str | None) -> None:
    """The rest of the banner, once the API answers: where it listens, its graphs. One
    write, so that no line of the children's logs lands inside it."""
    body = '{"status": "idle", "limit": 1}'
    lines = [
        f"API    [bold]{escape(base)}[/bold]",
        f"Docs   [bold]{escape(base)}/docs[/bold]",
        *_graph_lines(info.get("graphs"), source),
        escape(
            f"Try: curl -s -X POST {base}/threads/search "
            f"-H 'Content-Type: application/json' -d '{body}'"
        ),
        "Press Ctrl-C to stop.",
    ]
    console.print("\n".join(lines))


def _announcer(base: str, source: str | None) -> Callable[[], bool]:
    """A probe `_supervise` calls until it returns True: it prints the rest of the banner
    once the API answers GET /info, so that the banner names the graphs the API loaded."""

    def announce() -> bool:
        info = _api_info(base)
        if info is None:
            return False
        _print_ready(base, info, source)
        return True

    return announce


def _refuse_to_start(message: str) -> None:
    """End `threadwatch dev` before it started anything: one line, exit code 1."""
    err_console.print(f"[red]{escape(message)}[/red]")
    raise typer.Exit(1)


def _check_no_dev_here(data_dir: str) -> None:
    """A second embedded Redis on the same data dir would write the same append-only file."""
    live, _stale = find_dev(data_dir)
    if live is not None:
        _refuse_to_start(
            f"threadwatch dev is already running in this folder (pid {live.pid}, API "
            f"{live.api_url}, Redis {live.redis_url}); stop it first, or use that one."
        )


def _check_port_free(host: str, port: int) -> None:
    """Bind the API's address as uvicorn will (SO_REUSEADDR), and let it go: a port in use
    stops dev now, rather than once the banner is printed and the API dies on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _refuse_to_start(
                f"Port {port} on {host} is already in use (another threadwatch dev?): stop "
                "what listens there, or pick another port with --port."
            )
        _refuse_to_start(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.")


def _supervise(
    children: list[Child], env: dict[str, str], ready: Callable[[], bool] | None = None
) -> int:
    """Start the children, wait for a stop signal or for one of them to exit, stop them all.

    Meanwhile `ready` is called every poll until it returns True (the banner's last part).

    They run in their own process groups (cli/processes.py), so a terminal Ctrl-C reaches only
    us and each child gets exactly one SIGTERM, last started first; a second signal kills.
    """
    signals: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        signals.append(signum)
        if len(signals) > 1:
            for child in children:
                if child.proc is not None and child.proc.poll() is None:
                    child.proc.kill()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        for child in children:
            if not signals:
                child.proc = subprocess.Popen(child.argv, env=env, **child_popen_kwargs())
        exited = _wait_first_exit(children, signals, ready)
        if exited is None:
            return 0
        code = exited.proc.returncode if exited.proc is not None else None
        err_console.print(f"[red]{exited.name} exited with code {code}[/red]")
        return code or 1
    finally:
        for child in reversed(children):
            if child.proc is not None:
                stop_process(child.proc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_first_exit(
    children: list[Child], signals: list[int], ready: Callable[[], bool] | None = None
) -> Child | None:
    """Block until a stop signal (return None) or a child exits (return it); call `ready`
    meanwhile until it returns True."""
    while not signals:
        for child in children:
            if child.proc is not None and child.proc.poll() is not None:
                return child
        if ready is not None and ready():
            ready = None
        time.sleep(0.2)
    return None


@cli.command()
def dev(
    host: HostOption = None,
    port: PortOption = None,
    reload: Annotated[bool, typer.Option(help="Restart the API when app/ changes.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run everything locally; starts an embedded Redis (Valkey) unless REDIS_URL is set."""
    use_graphs_config(config)
    settings = load_settings()
    project = check_project(settings.graphs_config)
    host, port = host or settings.host, port or settings.port
    if not settings.redis_url:
        _check_no_dev_here(settings.data_dir)
    _check_port_free(host, port)
    with ExitStack() as stack:
        if settings.redis_url:
            redis_url = settings.redis_url
            console.print(f"Using Redis at [bold]{escape(redact(redis_url))}[/bold] (REDIS_URL)")
        else:
            server = stack.enter_context(start_embedded_redis(settings.data_dir))
            redis_url = server.url
            console.print(
                f"Embedded Redis (Valkey {escape(server.version)}) listening on "
                f"[bold]{redis_url}[/bold], data in {escape(settings.data_dir.rstrip('/'))}/"
            )
            # The operator commands run in this folder find the server through this record.
            record = DevRecord(os.getpid(), redis_url, server.run_id, _api_url(host, port))
            write_record(settings.data_dir, record)
            stack.callback(remove_record, settings.data_dir, record.pid)
            console.print(
                "Operator commands run in this folder use it (`threadwatch stats`, "
                "`threadwatch threads search`, ...)."
            )
        # The children read the URL from THREADWATCH_REDIS_URL; REDIS_URL would win over it.
        env = {k: v for k, v in os.environ.items() if k.upper() != "REDIS_URL"}
        env["THREADWATCH_REDIS_URL"] = redis_url
        # dev never asks for API keys: an empty value wins over the environment and .env.
        env["THREADWATCH_API_KEYS"] = ""
        env.update(dev_cors_env(settings.cors_origins))
        console.print(
            "auth: off (dev ignores THREADWATCH_API_KEYS; `threadwatch serve` requires x-api-key)"
            if settings.api_keys
            else "auth: off (with THREADWATCH_API_KEYS set, `threadwatch serve` requires x-api-key)"
        )
        children = [
            Child("api", _uvicorn_argv(host, port, settings.log_level, reload)),
            Child("worker", [sys.executable, "-m", "threadwatch.cli", "worker"]),
        ]
        base = _api_url(host, port) + (project.http.mount_prefix or "")
        code = _supervise(children, env, _announcer(base, _graphs_source(project)))
    raise typer.Exit(code)


@cli.command()
def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[int, typer.Option(min=1, help="Number of API worker processes.")] = 1,
    config: ConfigOption = None,
) -> None:
    """Run the API only, against the Redis server at REDIS_URL."""
    settings = server_settings("serve", config)
    import uvicorn

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        http=HTTP_PROTOCOL,
    )


@cli.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, help="Runs executed at once (default: THREADWATCH_WORKER_CONCURRENCY, 10)."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Execute runs (an RQ worker process) against the Redis server at REDIS_URL."""
    settings = server_settings("worker", config)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from threadwatch_workers.worker import run_worker

    run_worker(settings, concurrency)


@cli.command()
def version() -> None:
    """Print the version."""
    console.print(f"threadwatch {app_package.__version__}")
