"""`python -m threadwatch.cli`: the `threadwatch` command."""

from threadwatch.cli import main

main()
