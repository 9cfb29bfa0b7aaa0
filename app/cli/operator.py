"""Operator commands on the store at REDIS_URL (else on the embedded Redis of the `threadwatch
dev` running in this folder): `sweep`, `threads search|prune|get`, `stats`, `doctor`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from threadwatch.cli.base import cli, console, err_console, operator_settings, redact
from threadwatch.domain import ThreadStatus
from threadwatch.settings import Settings
from threadwatch.store.counters import read_snapshot

if TYPE_CHECKING:
    from threadwatch.store.search import ThreadQuery
    from threadwatch.store.stores import Stores

# -- operator commands: they read (and `doctor --fix` repairs) the store at REDIS_URL, or
# that of the `threadwatch dev` running in this folder (cli/dev_record.py) ------------------

threads_cli = typer.Typer(
    help="Search and inspect the threads in the store at REDIS_URL (without it: the store of "
    "the `threadwatch dev` running in this folder).",
    no_args_is_help=True,
)
cli.add_typer(threads_cli, name="threads")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
SEARCH_SORT_FIELDS = ("created_at", "updated_at", "state_updated_at", "thread_id", "status")


def _connect(settings: Settings) -> Stores:
    """The stores on REDIS_URL, as the API wires them (the tests put fakeredis here)."""
    from threadwatch.store.stores import Stores

    return Stores.connect(settings)


def _operator_stores(command: str) -> tuple[Settings, Stores]:
    settings = operator_settings(command)
    return settings, _connect(settings)


@contextmanager
def _redis_errors(settings: Settings) -> Iterator[None]:
    """An unreachable Redis ends the command with one line (exit code 2), not a traceback."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        url = redact(settings.redis_url or "")
        err_console.print(f"[red]Cannot reach Redis at {escape(url)}: {escape(str(exc))}[/red]")
        raise typer.Exit(2) from None


def _print_json(value: object) -> None:
    from threadwatch.store.codec import materialize

    typer.echo(json.dumps(materialize(value), indent=2, ensure_ascii=False))


def human_duration(seconds: float) -> str:
    """4000 -> '1h 6m', 75 -> '1m 15s', 3.2 -> '3s': the two largest units."""
    seconds = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def _print_table(table: Table) -> None:
    """On a terminal a table fits its width; elsewhere (a pipe, a file) it keeps its natural
    width, so that ids are never cut."""
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update(width=10_000), table).maximum
    wide = Console(width=max(natural, console.width), soft_wrap=True, highlight=False, emoji=False)
    wide.print(table)


def _short_time(iso: str | None) -> str:
    """'2025-01-01T10:00:00.123456+00:00' -> '2025-01-01 10:00:00' (UTC)."""
    return iso[:19].replace("T", " ") if iso else ""


def _compact(value: object, width: int = 60) -> str:
    from threadwatch.store.codec import materialize

    text = json.dumps(materialize(value), separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def parse_metadata_filters(pairs: list[str] | None) -> dict[str, object]:
    """KEY=VALUE pairs -> a metadata filter; VALUE is JSON when it parses (n=1 -> 1,
    ok=true -> True), else text (team=a -> "a")."""
    import orjson

    metadata: dict[str, object] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--metadata")
        try:
            metadata[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            metadata[key] = raw
    return metadata


@cli.command()
def sweep(json_output: JsonOption = False) -> None:
    """Run one sweep now: end lost runs, delete expired threads, fire stuck-thread alerts."""
    settings, stores = _operator_stores("sweep")
    from threadwatch.ops.sweeper import run_sweep

    with _redis_errors(settings):
        report = run_sweep(stores.redis, settings, by="cli")
    if json_output:
        _print_json(asdict(report))
        return
    table = Table(title=f"Sweep done in {report.duration_ms:g} ms", title_justify="left")
    table.add_column("What")
    table.add_column("Count", justify="right")
    table.add_row("lost runs ended (failed)", str(report.reclaimed))
    table.add_row("lost runs requeued", str(report.requeued))
    table.add_row("stalled runs resumed", str(report.resumed))
    table.add_row("expired threads deleted", str(report.expired))
    table.add_row("expired store items deleted", str(report.expired_items))
    table.add_row("old ended runs deleted", str(report.trimmed_runs))
    table.add_row("ended runs past their TTL deleted", str(report.expired_runs))
    table.add_row("alert notifications queued", str(report.alerts))
    _print_table(table)


StatusOption = Annotated[ThreadStatus | None, typer.Option(help="Only threads in this status.")]
MetadataOption = Annotated[
    list[str] | None,
    typer.Option(
        "--metadata",
        "-m",
        help="KEY=VALUE the metadata must contain (repeatable); VALUE is JSON when valid "
        "(n=1 is the number 1), else text.",
    ),
]
OlderThanOption = Annotated[
    str | None,
    typer.Option(help="Only threads in their status for at least this long: 90s, 15m, 2h, 1d."),
]


@threads_cli.command("search")
def threads_search(
    status: StatusOption = None,
    metadata: MetadataOption = None,
    older_than: OlderThanOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Threads to show.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Threads to skip.")] = 0,
    sort_by: Annotated[
        str, typer.Option(help="created_at, updated_at, state_updated_at, thread_id or status.")
    ] = "created_at",
    sort_order: Annotated[str, typer.Option(help="asc or desc.")] = "desc",
    json_output: JsonOption = False,
) -> None:
    """Search threads as POST /threads/search does, and print them as a table."""
    if sort_by not in SEARCH_SORT_FIELDS:
        raise typer.BadParameter(f"one of {', '.join(SEARCH_SORT_FIELDS)}", param_hint="--sort-by")
    if sort_order not in ("asc", "desc"):
        raise typer.BadParameter("asc or desc", param_hint="--sort-order")
    query = _thread_query(
        status,
        metadata,
        older_than,
        limit=limit,
        offset=offset,
        sort_by=sort_by,
        sort_order=sort_order,
    )
    settings, stores = _operator_stores("threads search")
    with _redis_errors(settings):
        page = stores.search.search(query)
        now = stores.now_us()
    if json_output:
        _print_json(page.threads)
        return
    from threadwatch.store.codec import datetime_to_us

    table = Table()
    table.add_column("thread_id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("in status for", no_wrap=True, justify="right")
    table.add_column("updated_at (UTC)", no_wrap=True)
    table.add_column("metadata", overflow="fold")
    for thread in page.threads:
        since = datetime_to_us(datetime.fromisoformat(thread["status_since"]))
        table.add_row(
            escape(thread["thread_id"]),
            thread["status"],
            human_duration((now - since) / 1_000_000),
            _short_time(thread["updated_at"]),
            escape(_compact(thread["metadata"])),
        )
    _print_table(table)
    more = " (more: raise --limit or use --offset)" if page.has_more else ""
    console.print(f"{len(page.threads)} thread{'s' if len(page.threads) != 1 else ''}{more}")


def _thread_query(
    status: ThreadStatus | None,
    metadata: list[str] | None,
    older_than: str | None,
    **page: Any,
) -> ThreadQuery:
    """The search the --status, --metadata and --older-than options describe."""
    from threadwatch.ops.alerts.rules import parse_duration
    from threadwatch.store.search import ThreadQuery

    min_age = None
    if older_than is not None:
        try:
            min_age = parse_duration(older_than)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--older-than") from None
    return ThreadQuery(
        metadata=parse_metadata_filters(metadata),
        status=status,
        min_status_age_seconds=min_age,
        **page,
    )


PRUNE_BATCH = 500


@threads_cli.command("prune")
def threads_prune(
    status: StatusOption = None,
    metadata: MetadataOption = None,
    older_than: OlderThanOption = None,
    strategy: Annotated[
        str, typer.Option(help="delete (threads, runs, checkpoints) or keep_latest (checkpoints).")
    ] = "delete",
    yes: Annotated[bool, typer.Option("--yes", help="Prune without asking.")] = False,
) -> None:
    """Prune every thread the filters match (as POST /threads/prune), with a progress bar."""
    if strategy not in ("delete", "keep_latest"):
        raise typer.BadParameter("delete or keep_latest", param_hint="--strategy")
    if status is None and not metadata and older_than is None:
        raise typer.BadParameter("give at least one of --status, --metadata, --older-than")
    settings, stores = _operator_stores("threads prune")
    with _redis_errors(settings):
        now = stores.now_us()  # one cutoff for the whole prune
        query = _thread_query(status, metadata, older_than, now_us=now, sort_by="thread_id")
        total = stores.search.count(query)
        if total == 0:
            console.print("No thread matches.")
            return
        if not yes and not typer.confirm(f"Prune ({strategy}) {total} threads?"):
            raise typer.Exit(1)
        pruned = offset = 0
        columns = (TextColumn("pruning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("prune", total=total)
            while True:
                batch = replace(query, limit=PRUNE_BATCH, offset=offset)
                ids = [t["thread_id"] for t in stores.search.search(batch).threads]
                if not ids:
                    break
                done = stores.threads.prune(ids, strategy)
                pruned += done
                # Deleted threads leave the results; kept ones (keep_latest) are paged past.
                offset += len(ids) if strategy == "keep_latest" else len(ids) - done
                bar.update(task, advance=len(ids))
    console.print(f"Pruned {pruned} threads ({strategy}).")


@threads_cli.command("get")
def threads_get(
    thread_id: Annotated[str, typer.Argument(help="The thread's id.")],
    history: Annotated[
        int,
        typer.Option(
            min=1,
            max=1000,
            metavar="N",
            help="Show the last N status changes (a number: --history 50).",
        ),
    ] = 20,
    runs: Annotated[
        int,
        typer.Option(
            min=1,
            max=1000,
            metavar="N",
            help="Show the last N runs (a number: --runs 5).",
        ),
    ] = 20,
    json_output: JsonOption = False,
) -> None:
    """Print one thread, its last status changes and its runs, newest first.

    --history N and --runs N set how many of each (default 20):
    threadwatch threads get ID --history 50 --runs 5
    """
    from threadwatch.errors import ThreadNotFound
    from threadwatch.store.codec import to_json

    settings, stores = _operator_stores("threads get")
    with _redis_errors(settings):
        try:
            thread = stores.threads.get(thread_id, include_ttl=True)
            transitions = stores.threads.transitions(thread_id, limit=history)
            run_list = stores.runs.list(thread_id, limit=runs)
        except ThreadNotFound:
            err_console.print(f"[red]Thread {escape(thread_id)} not found[/red]")
            raise typer.Exit(1) from None
    if json_output:
        _print_json({"thread": thread, "transitions": transitions, "runs": run_list})
        return
    from rich.json import JSON

    console.print(JSON(to_json(thread).decode()))
    changes = Table(title="Status changes (newest first)", title_justify="left")
    for column in ("at (UTC)", "from", "to", "run_id"):
        changes.add_column(column, no_wrap=True)
    for change in transitions:
        changes.add_row(
            _short_time(change["at"]),
            change["from"] or "",
            change["to"],
            escape(change["run_id"] or ""),
        )
    _print_table(changes) if transitions else console.print("No status changes yet.")
    table = Table(title="Runs (newest first)", title_justify="left")
    for column in ("run_id", "status", "created_at (UTC)", "updated_at (UTC)", "assistant_id"):
        table.add_column(column, no_wrap=column != "assistant_id", overflow="fold")
    for run in run_list:
        table.add_row(
            escape(run["run_id"]),
            run["status"] or "",
            _short_time(run["created_at"]),
            _short_time(run["updated_at"]),
            escape(run["assistant_id"] or ""),
        )
    _print_table(table) if run_list else console.print("No runs.")


@cli.command()
def stats(json_output: JsonOption = False) -> None:
    """Threads per status with the oldest time in each, runs in flight, expired leases."""
    settings, stores = _operator_stores("stats")
    with _redis_errors(settings):
        now = stores.now_us()
        snapshot = read_snapshot(stores.redis, stores.keys, now, {}, ())
    statuses: dict[str, dict[str, float | int | None]] = {}
    for status in ThreadStatus:
        since = snapshot.oldest_since_us[status.value]
        age = (now - since) / 1_000_000 if since is not None else None
        statuses[status.value] = {"count": snapshot.threads[status.value], "oldest_seconds": age}
    pending, running = snapshot.runs["pending"], snapshot.runs["running"]
    expired, last = snapshot.lease_expired, snapshot.sweeper
    summary = {
        "threads": statuses,
        "total_threads": sum(s["count"] or 0 for s in statuses.values()),
        "runs": {"pending": pending, "running": running},
        "leases_expired": expired,
        "last_sweep": last or None,
    }
    if json_output:
        _print_json(summary)
        return
    table = Table(title="Threads", title_justify="left")
    table.add_column("status")
    table.add_column("threads", justify="right")
    table.add_column("oldest in status", justify="right")
    for name, row in statuses.items():
        age = row["oldest_seconds"]
        table.add_row(name, str(row["count"]), "" if age is None else human_duration(age))
    table.add_row("[bold]total[/bold]", f"[bold]{summary['total_threads']}[/bold]", "")
    _print_table(table)
    runs = Table(title="Runs", title_justify="left")
    runs.add_column("what")
    runs.add_column("count", justify="right")
    runs.add_row("pending", str(pending))
    runs.add_row("running", str(running))
    runs.add_row("leases expired", str(expired))
    _print_table(runs)
    if last.get("last_finished_at"):
        ago = human_duration((now - int(last["last_finished_at"])) / 1_000_000)
        console.print(f"Last sweep: {ago} ago ({last.get('last_duration_ms', '?')} ms)")
    else:
        console.print("Last sweep: never")
