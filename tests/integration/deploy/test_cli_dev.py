"""`threadwatch dev` end to end: embedded Redis, API, clean stop on a signal."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import free_port, server_env
from threadwatch.cli.dev_record import DevRecord, read_record, write_record
from threadwatch.cli.processes import stop_process

STOP_TIMEOUT = 15.0


def threadwatch_argv() -> list[str]:
    """The installed console script, next to this interpreter."""
    script = Path(sys.executable).with_name("threadwatch")
    if not script.exists():
        pytest.fail(f"{script} is missing: install the project (pip install -e '.[test]')")
    return [str(script)]


def dev_env() -> dict[str, str]:
    """This environment without any Redis URL, so that dev starts its embedded one."""
    return {**server_env(None), "PYTHONUNBUFFERED": "1"}


def start_dev(
    folder: Path, port: int, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, Path]:
    """`threadwatch dev --port PORT` started in ``folder`` as a user starts it there, with
    this environment less any Redis URL unless ``env`` is given; its output goes to
    ``folder``/dev.out, returned with the process."""
    output = folder / "dev.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            [*threadwatch_argv(), "dev", "--port", str(port)],
            cwd=folder,
            env=env or dev_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, output


def wait_for_ok(url: str, proc: subprocess.Popen, output: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dev exited early:\n{output.read_text()}"
        try:
            response = httpx.get(f"{url}/ok", timeout=1.0)
            if response.status_code == 200:
                assert response.json() == {"ok": True}
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"no answer on {url}/ok within {timeout:g} s:\n{output.read_text()}")


def wait_for_banner(proc: subprocess.Popen, output: Path, timeout: float = 30.0) -> str:
    """The output once dev has printed its whole banner (after the API answered)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        printed = output.read_text()
        if "Press Ctrl-C to stop." in printed:
            return printed
        assert proc.poll() is None, f"dev exited early:\n{printed}"
        time.sleep(0.2)
    pytest.fail(f"no banner within {timeout:g} s:\n{output.read_text()}")


def descendants(pid: int) -> dict[int, str]:
    """{pid: command name} of the live (not zombie) descendants of `pid`, from /proc."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state != "Z":
            parents[int(entry.name)] = (int(ppid), name)
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, name) in parents.items():
            if ppid == parent and child not in found:
                found[child] = name
                frontier.append(child)
    return found


def is_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_dev_starts_embedded_redis_serves_and_stops_cleanly(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    proc, output = start_dev(tmp_path, port)
    try:
        wait_for_ok(f"http://127.0.0.1:{port}", proc, output)
        printed = wait_for_banner(proc, output)
        match = re.search(r"on redis://127\.0\.0\.1:(\d+), data in \.threadwatch/", printed)
        assert match, printed
        assert f"http://127.0.0.1:{port}/docs" in printed
        assert "Graphs none (no ./langgraph.json here" in printed
        redis_port = int(match.group(1))
        valkeys = [p for p, name in descendants(proc.pid).items() if "valkey" in name]
        assert len(valkeys) == 1, descendants(proc.pid)

        proc.send_signal(stop_signal)
        assert proc.wait(STOP_TIMEOUT) == 0, output.read_text()
    finally:
        stop_process(proc)
    assert not any(is_alive(pid) for pid in valkeys), "valkey-server outlived threadwatch dev"
    assert not port_is_open(redis_port)
    assert not port_is_open(port)
    assert (tmp_path / ".threadwatch" / "appendonlydir").is_dir()


def test_serve_without_redis_url_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*threadwatch_argv(), "serve"],
        cwd=tmp_path,
        env=dev_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "REDIS_URL is not set" in result.stderr


def operator(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A `threadwatch` command run to its end in `cwd` without any Redis URL, as a user
    types it there."""
    return subprocess.run(
        [*threadwatch_argv(), *args],
        cwd=cwd,
        env=dev_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_operator_commands_find_the_dev_of_their_folder(tmp_path: Path) -> None:
    # A dev killed earlier left its record behind; it must neither be used nor stop dev.
    stale = DevRecord(4242, f"redis://127.0.0.1:{free_port()}", "0" * 40, "http://127.0.0.1:1")
    write_record(tmp_path / ".threadwatch", stale)
    port = free_port()
    proc, output = start_dev(tmp_path, port)
    try:
        wait_for_ok(f"http://127.0.0.1:{port}", proc, output)
        record = read_record(tmp_path / ".threadwatch")
        assert record is not None and record.pid == proc.pid, record
        assert record.api_url == f"http://127.0.0.1:{port}"
        assert f"listening on {record.redis_url}, data in" in output.read_text()

        result = operator(tmp_path, "stats", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["total_threads"] == 0

        proc.send_signal(signal.SIGINT)
        assert proc.wait(STOP_TIMEOUT) == 0, output.read_text()
    finally:
        stop_process(proc)
    assert not (tmp_path / ".threadwatch" / "dev.json").exists()
    result = operator(tmp_path, "stats")
    assert result.returncode == 2
    assert "no `threadwatch dev` is running in this folder" in result.stderr
    assert "Start `threadwatch dev` in this folder, or set REDIS_URL." in result.stderr


def test_dev_on_a_busy_port_exits_at_once_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = operator(tmp_path, "dev", "--port", str(port))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""  # no banner
    assert result.stderr.splitlines() == [
        f"Port {port} on 127.0.0.1 is already in use (another threadwatch dev?): stop what "
        "listens there, or pick another port with --port."
    ]
    assert not (tmp_path / ".threadwatch").exists()  # no embedded Redis was started


def test_a_second_dev_in_the_same_folder_exits_at_once(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """Two embedded servers would write the same append-only file: the second dev stops
    before it starts anything (the test Redis stands in for the first dev's)."""
    run_id = redis_client.info("server")["run_id"]
    first = DevRecord(4242, redis_url, run_id, "http://127.0.0.1:8123")
    write_record(tmp_path / ".threadwatch", first)
    result = operator(tmp_path, "dev", "--port", str(free_port()))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"threadwatch dev is already running in this folder (pid 4242, API "
        f"http://127.0.0.1:8123, Redis {redis_url}); stop it first, or use that one."
    ]
    assert sorted(p.name for p in (tmp_path / ".threadwatch").iterdir()) == ["dev.json"]
    assert read_record(tmp_path / ".threadwatch") == first


GOOD_GRAPH = "def graph(input, config):\n    return input\n"
BROKEN_GRAPH = "import not_installed_anywhere\n\ngraph = None\n"


def test_dev_banner_lists_the_graphs_loaded_and_why_others_failed(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text(GOOD_GRAPH)
    (tmp_path / "broken.py").write_text(BROKEN_GRAPH)
    graphs = {
        "agent": "./agent.py:graph",
        "broken": "./broken.py:graph",
        "typo": "./agent.py:grpah",
        "other": "./agent.py:graph",
    }
    (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": graphs}))
    port = free_port()
    proc, output = start_dev(tmp_path, port)
    try:
        lines = wait_for_banner(proc, output).splitlines()
        start = lines.index(f"API    http://127.0.0.1:{port}")
        assert lines[start : start + 5] == [
            f"API    http://127.0.0.1:{port}",
            f"Docs   http://127.0.0.1:{port}/docs",
            "Graphs agent, other (from ./langgraph.json)",
            "       Failed to load graph 'broken' from ./broken.py:graph: "
            "ModuleNotFoundError: No module named 'not_installed_anywhere'",
            "       Failed to load graph 'typo' from ./agent.py:grpah: "
            "AttributeError: the module has no 'grpah' (it defines: graph)",
        ]
        assert lines[start + 6] == "Press Ctrl-C to stop."
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_TIMEOUT) == 0, output.read_text()
    finally:
        stop_process(proc)
