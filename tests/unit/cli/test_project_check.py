"""`threadwatch dev`, `serve` and `worker` refuse a langgraph.json the API would refuse
before they start anything: one line naming the key, exit code 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from threadwatch.cli import cli


@pytest.mark.parametrize("command", ["dev", "serve", "worker"])
def test_a_bad_http_key_stops_the_command(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"graphs": {}, "http": {"disable_runs": "yes"}}
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
    done = CliRunner().invoke(cli, [command, "--config", str(tmp_path)])
    assert done.exit_code == 2, done.output
    assert '"http.disable_runs" must be true or false, got "yes"' in done.output
    assert "Traceback" not in done.output
