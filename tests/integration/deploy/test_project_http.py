"""A project using langgraph.json's ``http`` and ``store`` sections runs under
`threadwatch dev` as under `langgraph dev`: its own app served beside the API (lifespan and
middleware included), a disabled route group gone, and its own store used by the /store API
(in the API process) and by its graph (in the worker process)."""

from __future__ import annotations

import pickle
import shutil
import signal
from pathlib import Path

import httpx

from tests.integration.deploy.test_cli_dev import STOP_TIMEOUT, start_dev, wait_for_ok
from tests.support import FIXTURES, free_port
from threadwatch.cli.processes import stop_process

PROJECT = FIXTURES / "graphs" / "http_project"


def test_dev_serves_the_projects_app_flags_and_store(tmp_path: Path) -> None:
    shutil.copytree(PROJECT, tmp_path / "project", ignore=shutil.ignore_patterns("__pycache__"))
    folder = tmp_path / "project"
    port = free_port()
    proc, output = start_dev(folder, port)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_ok(url, proc, output)
        with httpx.Client(base_url=url, timeout=30) as client:
            hello = client.get("/custom/hello")
            greeting = "hello from the user's lifespan"
            assert hello.json() == {"greeting": greeting}, output.read_text()
            assert hello.headers["x-user-middleware"] == "1"
            assert client.post("/assistants/search", json={}).status_code == 404
            assert client.get("/info").json()["flags"]["assistants"] is False
            note = {"namespace": ["notes"], "key": "a", "value": {"text": "from the api"}}
            assert client.put("/store/items", json=note).status_code == 204
            run = {"assistant_id": "notes", "input": {"key": "b", "text": "from the graph"}}
            done = client.post("/runs/wait", json=run)
            assert done.status_code == 200, (done.text, output.read_text())
            assert done.json()["notes"] == ["from the api", "from the graph"]
            got = client.get("/store/items", params={"namespace": "notes", "key": "b"})
            assert got.json()["value"] == {"text": "from the graph"}
            # get_store() in the project's own routes gives its store too.
            assert client.get("/custom/notes").json() == ["a", "b"]
        # Both items are in the project's store (its file), not in Redis.
        kept = pickle.loads((folder / "items.pickle").read_bytes())
        assert sorted(kept[("notes",)]) == ["a", "b"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_TIMEOUT) == 0, output.read_text()
    finally:
        stop_process(proc)
