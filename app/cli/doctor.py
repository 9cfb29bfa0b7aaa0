"""`threadwatch doctor`: the store's index check (app/store/integrity.py) as a command.

Its output is meant to be copied: every example (a thread id, a key) prints on a line of its
own, whole, without table borders or wrapping, whatever the terminal's width; ``--json``
prints the whole report.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from threadwatch.cli import operator
from threadwatch.cli.base import cli, console, err_console

if TYPE_CHECKING:
    from threadwatch.store.integrity import DoctorReport


class _ProgressBars:
    """Doctor progress (store.integrity.ProgressSink) as rich progress bars, one per pass."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def start(self, description: str, total: int | None) -> None:
        self._finish()
        self.task = self.progress.add_task(escape(description), total=total)

    def advance(self, amount: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, amount)

    def _finish(self) -> None:
        if self.task is not None:
            done = next(t.completed for t in self.progress.tasks if t.id == self.task)
            self.progress.update(self.task, total=max(done, 1), completed=max(done, 1))


@cli.command()
def doctor(
    fix: Annotated[
        bool, typer.Option("--fix", help="Repair the indexes from the thread and run hashes.")
    ] = False,
    batch: Annotated[
        int, typer.Option(min=10, max=100_000, help="Keys read per round trip.")
    ] = 1000,
    json_output: operator.JsonOption = False,
) -> None:
    """Check the index invariants over every thread (and repair them with --fix).

    Safe on a live store: what a write in progress changes is not reported. Exit code 0 when
    the store is (left) consistent, 1 when problems remain.
    """
    from threadwatch.store.integrity import Doctor

    settings, stores = operator._operator_stores("doctor")
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with operator._redis_errors(settings):
        with Progress(*columns, console=err_console, transient=True) as bar:
            checker = Doctor(stores.redis, stores.threads.keys, batch, _ProgressBars(bar))
            report = checker.fix() if fix else checker.check()
    if json_output:
        operator._print_json(_as_json(report))
    else:
        _print_report(report)
    raise typer.Exit(0 if report.clean else 1)


def _as_json(report: DoctorReport) -> dict[str, object]:
    """The report with only the problems found (each with its count and examples)."""
    summary: dict[str, object] = {
        "threads": report.threads,
        "runs": report.runs,
        "leaf_sets": report.leaf_sets,
        "repaired": report.repaired,
        "clean": report.clean,
        "problems": {p.name: asdict(p) for p in report.found_problems()},
    }
    if report.remaining is not None:
        summary["remaining"] = _as_json(report.remaining)
    return summary


def _print_report(report: DoctorReport) -> None:
    out = console  # soft_wrap: a line never breaks, whatever the terminal's width
    out.print(
        f"Checked {report.threads} threads, {report.runs} runs, "
        f"{report.leaf_sets} metadata leaf sets."
    )
    problems = report.found_problems()
    if not problems:
        out.print("[green]No problems found.[/green]")
        return
    for problem in problems:
        counts = f"{problem.found} found" + (f", {problem.fixed} fixed" if report.repaired else "")
        out.print(f"\n[bold]{problem.name}[/bold] ({counts}): {escape(problem.description)}")
        for example in problem.examples:
            out.print(f"  {escape(example)}")
    out.print()
    if report.remaining is None:
        out.print(f"[red]{report.found} problems; `threadwatch doctor --fix` repairs them.[/red]")
        return
    out.print(f"Fixed {report.fixed} of {report.found} problems.")
    left = report.remaining.found_problems()
    if left:
        listing = ", ".join(f"{p.name} ({p.found})" for p in left)
        out.print(f"[red]Still found after the repair: {escape(listing)}[/red]")
    else:
        out.print("[green]The verifying check found no problems.[/green]")
