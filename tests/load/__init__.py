"""Load generators that drive a whole deployment (tests/integration/run_stack.py), shared by
the integration tests and the long runs started as scripts (`python -m tests.load.<name>`)."""
