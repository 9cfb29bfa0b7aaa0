"""The `threadwatch` Typer app, its consoles and the settings every command reads."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from threadwatch.settings import Settings

if TYPE_CHECKING:
    from threadwatch.graphs.project import Project

cli = typer.Typer(
    name="threadwatch",
    help="LangGraph-compatible thread status service on Redis.",
    no_args_is_help=True,
    add_completion=False,
)
# soft_wrap: long lines (the curl hint) stay on one line so they can be copied.
# emoji=False: key names hold `:leaves:` and the like, which rich would print as emoji.
console = Console(soft_wrap=True, highlight=False, emoji=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)

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


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        err_console.print(f"[red]Invalid settings:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def check_project(graphs_config: str | None) -> Project:
    """The project; a langgraph.json the API would refuse (an unknown key, a wrong value)
    stops the command before it starts anything, in one line naming the key."""
    from threadwatch.graphs import GraphConfigError
    from threadwatch.graphs.project import load_project

    try:
        return load_project(graphs_config)
    except GraphConfigError as exc:
        err_console.print(f"[red]Invalid langgraph.json:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def redact(url: str) -> str:
    """The URL with its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def server_settings(command: str, config: str | None) -> Settings:
    """Settings of a command that needs REDIS_URL (exit code 2 without it, or with a
    langgraph.json it cannot run)."""
    use_graphs_config(config)
    settings = load_settings()
    check_project(settings.graphs_config)
    if not settings.redis_url:
        err_console.print(
            f"[red]REDIS_URL is not set; `threadwatch {command}` needs a Redis server "
            "(use `threadwatch dev` for an embedded one)[/red]"
        )
        raise typer.Exit(2)
    return settings


def operator_settings(command: str) -> Settings:
    """Settings of an operator command: the store at REDIS_URL, else the embedded Redis of
    the `threadwatch dev` running in this folder (its record in the data dir); exit code 2
    with what to do when there is neither."""
    from threadwatch.cli.dev_record import find_dev, record_path

    settings = load_settings()
    if settings.redis_url:
        return settings
    live, stale = find_dev(settings.data_dir)
    if live is not None:
        return settings.model_copy(update={"redis_url": live.redis_url})
    if stale is not None:
        found = (
            f"the `threadwatch dev` recorded in {record_path(settings.data_dir)} "
            f"(pid {stale.pid}) is no longer running"
        )
    else:
        found = "no `threadwatch dev` is running in this folder"
    err_console.print(
        f"[red]`threadwatch {escape(command)}` needs a Redis: REDIS_URL is not set and "
        f"{escape(found)}. Start `threadwatch dev` in this folder, or set REDIS_URL.[/red]"
    )
    raise typer.Exit(2)


def use_graphs_config(config: str | None) -> None:
    """--config reaches the API (and its children) as THREADWATCH_GRAPHS_CONFIG."""
    if config:
        os.environ["THREADWATCH_GRAPHS_CONFIG"] = os.path.abspath(config)
