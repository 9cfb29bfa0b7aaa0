"""The `threadwatch` command: `dev` (everything on one machine) and `serve` (the API only)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

import app as app_package
from app.embedded_redis import start_embedded_redis
from app.processes import child_popen_kwargs, stop_process
from app.settings import Settings

APP_FACTORY = "app.api.app:create_app"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

cli = typer.Typer(
    name="threadwatch",
    help="LangGraph-compatible thread status service on Redis.",
    no_args_is_help=True,
    add_completion=False,
)
# soft_wrap: long lines (the curl hint) stay on one line so they can be copied.
console = Console(soft_wrap=True, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

HostOption = Annotated[
    str | None, typer.Option(help="Interface to bind (default: THREADWATCH_HOST, else 127.0.0.1).")
]
ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config", help="The langgraph.json (or its folder) whose graphs run here (default: ./)."
    ),
]
PortOption = Annotated[
    int | None, typer.Option(help="Port to listen on (default: THREADWATCH_PORT, else 8123).")
]


@dataclass
class Child:
    """A supervised child process of `threadwatch dev`."""

    name: str
    argv: list[str]
    proc: subprocess.Popen | None = field(default=None, repr=False)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        err_console.print(f"[red]Invalid settings:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def _redact(url: str) -> str:
    """The URL with its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _uvicorn_argv(host: str, port: int, log_level: str, reload: bool) -> list[str]:
    argv = [sys.executable, "-m", "uvicorn", APP_FACTORY, "--factory"]
    argv += ["--host", host, "--port", str(port), "--log-level", log_level]
    if reload:
        argv += ["--reload", "--reload-dir", str(Path(app_package.__file__).parent)]
    return argv


def _print_urls(host: str, port: int) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    body = '{"status": "idle", "limit": 1}'
    console.print(f"API   [bold]{escape(base)}[/bold]")
    console.print(f"Docs  [bold]{escape(base)}/docs[/bold]")
    console.print(
        escape(
            f"Try: curl -s -X POST {base}/threads/search "
            f"-H 'Content-Type: application/json' -d '{body}'"
        )
    )
    console.print("Press Ctrl-C to stop.")


def _supervise(children: list[Child], env: dict[str, str]) -> int:
    """Start the children, wait for a stop signal or for one of them to exit, stop them all.

    They run in their own process groups (app.processes), so a terminal Ctrl-C reaches only
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
        exited = _wait_first_exit(children, signals)
        if exited is None:
            return 0
        err_console.print(f"[red]{exited.name} exited with code {exited.proc.returncode}[/red]")
        return exited.proc.returncode or 1
    finally:
        for child in reversed(children):
            if child.proc is not None:
                stop_process(child.proc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_first_exit(children: list[Child], signals: list[int]) -> Child | None:
    """Block until a stop signal (return None) or a child exits (return it)."""
    while not signals:
        for child in children:
            if child.proc is not None and child.proc.poll() is not None:
                return child
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
    _use_graphs_config(config)
    settings = _settings()
    host, port = host or settings.host, port or settings.port
    with ExitStack() as stack:
        if settings.redis_url:
            redis_url = settings.redis_url
            console.print(f"Using Redis at [bold]{escape(_redact(redis_url))}[/bold] (REDIS_URL)")
        else:
            server = stack.enter_context(start_embedded_redis(settings.data_dir))
            redis_url = server.url
            console.print(
                f"Embedded Redis (Valkey {escape(server.version)}) listening on "
                f"[bold]{redis_url}[/bold], data in {escape(settings.data_dir.rstrip('/'))}/"
            )
        # The children read the URL from THREADWATCH_REDIS_URL; REDIS_URL would win over it.
        env = {k: v for k, v in os.environ.items() if k.upper() != "REDIS_URL"}
        env["THREADWATCH_REDIS_URL"] = redis_url
        children = [
            Child("api", _uvicorn_argv(host, port, settings.log_level, reload)),
            Child("worker", [sys.executable, "-m", "app.cli", "worker"]),
        ]
        _print_urls(host, port)
        code = _supervise(children, env)
    raise typer.Exit(code)


@cli.command()
def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[int, typer.Option(min=1, help="Number of API worker processes.")] = 1,
    config: ConfigOption = None,
) -> None:
    """Run the API only, against the Redis server at REDIS_URL."""
    settings = _server_settings("serve", config)
    import uvicorn

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level,
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
    settings = _server_settings("worker", config)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from workers.worker import run_worker

    run_worker(settings, concurrency)


def _server_settings(command: str, config: str | None) -> Settings:
    """Settings of a command that needs REDIS_URL (exit code 2 without it)."""
    _use_graphs_config(config)
    settings = _settings()
    if not settings.redis_url:
        err_console.print(
            f"[red]REDIS_URL is not set; `threadwatch {command}` needs a Redis server "
            "(use `threadwatch dev` for an embedded one)[/red]"
        )
        raise typer.Exit(2)
    return settings


def _use_graphs_config(config: str | None) -> None:
    """--config reaches the API (and its children) as THREADWATCH_GRAPHS_CONFIG."""
    if config:
        os.environ["THREADWATCH_GRAPHS_CONFIG"] = os.path.abspath(config)


@cli.command()
def version() -> None:
    """Print the version."""
    console.print(f"threadwatch {app_package.__version__}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
