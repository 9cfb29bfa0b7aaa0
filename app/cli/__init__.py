"""The `threadwatch` command: `dev` (everything on one machine), `serve` (the API only),
`worker`, and the operator commands on the store at REDIS_URL (`sweep`, `threads search`,
`threads prune`, `threads get`, `stats`, `doctor`)."""

from __future__ import annotations

from app.cli import daemons, operator  # noqa: F401  (they register their commands)
from app.cli.base import cli
from app.cli.daemons import GRACEFUL_SHUTDOWN_SECONDS
from app.cli.operator import human_duration, parse_metadata_filters

__all__ = ["GRACEFUL_SHUTDOWN_SECONDS", "cli", "human_duration", "main", "parse_metadata_filters"]


def main() -> None:
    cli()
