"""The `threadwatch` command: `dev` (everything on one machine), `serve` (the API only),
`worker`, and the operator commands on the store at REDIS_URL, or on the embedded Redis of the
`threadwatch dev` running in the current folder (`sweep`, `threads search`, `threads prune`,
`threads get`, `stats`, `doctor`)."""

from __future__ import annotations

from threadwatch.cli import daemons, doctor, operator  # noqa: F401  (they register commands)
from threadwatch.cli.base import cli
from threadwatch.cli.daemons import GRACEFUL_SHUTDOWN_SECONDS
from threadwatch.cli.operator import human_duration, parse_metadata_filters

__all__ = ["GRACEFUL_SHUTDOWN_SECONDS", "cli", "human_duration", "main", "parse_metadata_filters"]


def main() -> None:
    cli()
