"""`python -m app.cli`: the `threadwatch` command."""

from app.cli import main

main()
