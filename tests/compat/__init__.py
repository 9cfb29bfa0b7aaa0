"""The compatibility script (`python -m tests.compat`): not part of the test suite."""
