"""Compare LangGraph's clients against `langgraph dev` and `threadwatch dev`.

    .venv/bin/python -m tests.compat [--langgraph-venv /tmp/lgvenv] [--flows 'chat_ui/*']

Starts both servers on the fixture project (tests/compat/project), runs every flow against
each (the Python SDK sync and async, RemoteGraph, the JS SDK under node), normalises the
answers and prints a diff per flow, then the number of unexplained differences (exit 1 if
any). docs/development.md says how to set up the LangGraph virtualenv.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from tests.compat import servers
from tests.compat.explained import explain
from tests.compat.flows_py import FLOWS
from tests.compat.normalise import Difference, Normaliser, differences, unordered
from tests.support import free_port

HERE = Path(__file__).parent
JS_DIR = HERE.parent / "js"
FLOW_TIMEOUT = 120.0
SHOWN = 160  # characters of a value shown in the report


def arguments() -> argparse.Namespace:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m tests.compat", description=summary)
    parser.add_argument(
        "--langgraph-venv",
        default=os.environ.get("LANGGRAPH_VENV", servers.DEFAULT_LG_VENV),
        help="virtualenv with langgraph-cli[inmem] (default: $LANGGRAPH_VENV, else /tmp/lgvenv)",
    )
    parser.add_argument("--langgraph-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--threadwatch-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--flows", default="*", help="which flows (a glob, e.g. 'chat_ui/*')")
    parser.add_argument("--save", type=Path, help="write both sides' normalised answers here")
    parser.add_argument("--workdir", type=Path, help="where the project copies and logs go")
    parser.add_argument("--no-js", action="store_true", help="skip the JS SDK flows")
    return parser.parse_args()


def run_python_flow(flow: Any, url: str) -> dict[str, Any]:
    """One flow in a thread of its own, so that a hung server costs FLOW_TIMEOUT, no more."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(asyncio.run, flow(url))
    try:
        return future.result(timeout=FLOW_TIMEOUT)
    except concurrent.futures.TimeoutError:
        return {"steps": {"flow": {"failed": f"no answer within {FLOW_TIMEOUT:g} s"}}, "names": {}}
    except Exception as exc:
        return {"steps": {"flow": {"failed": f"{type(exc).__name__}: {exc}"}}, "names": {}}
    finally:
        pool.shutdown(wait=False)


def js_ready() -> str | None:
    """Why the JS flows cannot run, or None once tests/js has its node_modules."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        return "node and npm are not installed"
    if not (JS_DIR / "node_modules" / "@langchain" / "langgraph-sdk").is_dir():
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=JS_DIR, check=False)
        if done.returncode:
            return "npm install failed in tests/js"
    return None


def run_js_flows(url: str) -> dict[str, Any]:
    script = JS_DIR / ".tmp" / "compat_flows.mjs"
    script.parent.mkdir(exist_ok=True)
    shutil.copy(HERE / "flows.mjs", script)
    env = {**os.environ, "API_URL": url}
    try:
        done = subprocess.run(
            ["node", str(script)],
            cwd=JS_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=FLOW_TIMEOUT * 2,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"js": {"steps": {"flow": {"failed": "node timed out"}}, "names": {}}}
    if done.returncode:
        return {"js": {"steps": {"flow": {"failed": done.stderr[-2000:]}}, "names": {}}}
    return json.loads(done.stdout)


def answers(url: str, pattern: str, with_js: bool) -> dict[str, Any]:
    found = {}
    for name, flow in FLOWS.items():
        if fnmatch(name, pattern):
            print(f"  {name}", flush=True)
            found[name] = run_python_flow(flow, url)
    if with_js and any(fnmatch(n, pattern) for n in ("chat_ui/js", "join/js")):
        print("  chat_ui/js, join/js (node)", flush=True)
        found.update({k: v for k, v in run_js_flows(url).items() if fnmatch(k, pattern)})
    return found


# Steps whose answers are compared as sets: the sidebar's search is server-wide (it holds the
# other flows' threads too) and its default order differs on purpose (the dev server sorts by
# updated_at, LangGraph's production server and threadwatch by created_at).
UNORDERED_STEPS = {"chat_ui/*": ("search", "search_after")}


def order_free(flow: str, steps: Any) -> Any:
    """``steps`` with the answers of its UNORDERED_STEPS sorted alike on both sides."""
    if not isinstance(steps, dict):
        return steps
    names = [n for pattern, ns in UNORDERED_STEPS.items() if fnmatch(flow, pattern) for n in ns]
    return {
        name: unordered(answer) if name in names and isinstance(answer, list) else answer
        for name, answer in steps.items()
    }


def shown(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def pattern(path: str) -> str:
    """A difference's path with its list indices as `*`, to group repeats."""
    return re.sub(r"/\d+(?=/|$)", "/*", path)


def report(lg: dict[str, Any], tw: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Print the differences per flow, repeats grouped by path pattern; return the number of
    unexplained differences and both sides' normalised answers."""
    unexplained = 0
    saved: dict[str, Any] = {}
    for flow in sorted(lg.keys() | tw.keys()):
        sides = [side.get(flow, {}) for side in (lg, tw)]
        left, right = (Normaliser(s.get("names"))(order_free(flow, s.get("steps"))) for s in sides)
        saved[flow] = {"langgraph": left, "threadwatch": right}
        found = differences(left, right)
        groups: dict[str, list[Difference]] = {}
        reasons: dict[str, int] = {}
        for difference in found:
            why = explain(flow, difference)
            if why is None:
                groups.setdefault(pattern(difference.path), []).append(difference)
            else:
                reasons[why.reason] = reasons.get(why.reason, 0) + 1
        count = sum(len(g) for g in groups.values())
        unexplained += count
        steps = {g[0].path.split("/")[1] for g in groups.values()}
        total = len((left or {}).keys() | (right or {}).keys())
        print(
            f"\n== {flow}: {count} unexplained in {len(steps)} of {total} steps, "
            f"{len(found) - count} explained"
        )
        for where, group in groups.items():
            first = group[0]
            times = f" (x{len(group)}, first {first.path})" if len(group) > 1 else ""
            print(f"  {where}{times}")
            print(f"    langgraph:   {shown(first.langgraph)}")
            print(f"    threadwatch: {shown(first.threadwatch)}")
        for reason, times in sorted(reasons.items()):
            print(f"  explained (x{times}): {reason}")
    return unexplained, saved


def main() -> int:
    args = arguments()
    lg_port = args.langgraph_port or free_port()
    tw_port = args.threadwatch_port or free_port()
    why_no_js = None if args.no_js else js_ready()
    with_js = not args.no_js and why_no_js is None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tw-compat-"))
    sides: dict[str, dict[str, Any]] = {}
    with servers.both(workdir, Path(args.langgraph_venv), lg_port, tw_port) as running:
        for server in running:
            print(f"{server.name} at {server.url} (log: {server.log})", flush=True)
            sides[server.name] = answers(server.url, args.flows, with_js)
    unexplained, saved = report(sides["langgraph"], sides["threadwatch"])
    if args.save:
        args.save.write_text(json.dumps(saved, indent=1, sort_keys=True))
    if why_no_js:
        print(f"\nJS flows skipped: {why_no_js}")
    print(f"\n{unexplained} unexplained differences")
    return 1 if unexplained else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # a flow thread still waiting on a hung server must not keep us alive
