"""pytest collects nothing here: the compatibility script needs LangGraph's own server and
runs on its own (`python -m tests.compat`, docs/development.md)."""

collect_ignore_glob = ["*"]
