"""A user's project with its own `app` package (the FastAPI layout) runs under
`threadwatch dev` started in its folder, graphs that import `app.*` included: threadwatch
installs as `threadwatch` and `threadwatch_workers`, never as `app` or `workers`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.deploy.test_cli_dev import STOP_TIMEOUT, start_dev, wait_for_ok
from tests.support import free_port
from threadwatch.cli.processes import stop_process

GRAPH = """from app.tools import shout


def graph(input, config):
    return {"out": shout(input["text"])}
"""


def make_project(folder: Path) -> None:
    (folder / "app").mkdir()
    (folder / "app" / "__init__.py").write_text('"""The user\'s own app package."""\n')
    (folder / "app" / "tools.py").write_text("def shout(text):\n    return text.upper()\n")
    (folder / "app" / "graph.py").write_text(GRAPH)
    (folder / "workers").mkdir()  # an RQ or Celery project's
    (folder / "workers" / "__init__.py").write_text("")
    graphs = {"by_path": "./app/graph.py:graph", "by_module": "app.graph:graph"}
    config = {"dependencies": ["."], "graphs": graphs}
    (folder / "langgraph.json").write_text(json.dumps(config))


def test_dev_runs_a_project_that_has_its_own_app_package(tmp_path: Path) -> None:
    make_project(tmp_path)
    port = free_port()
    proc, output = start_dev(tmp_path, port)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_ok(url, proc, output)
        for graph_id in ("by_path", "by_module"):
            response = httpx.post(
                f"{url}/runs/wait",
                json={"assistant_id": graph_id, "input": {"text": "hi"}},
                timeout=30,
            )
            assert response.status_code == 200, (response.text, output.read_text())
            assert response.json() == {"out": "HI"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_TIMEOUT) == 0, output.read_text()
    finally:
        stop_process(proc)


def test_nothing_installs_a_top_level_app_or_workers(tmp_path: Path) -> None:
    probe = "import importlib.util as u; print(u.find_spec('app'), u.find_spec('workers'))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["None", "None"]
