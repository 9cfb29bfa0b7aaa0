"""Loading graphs from langgraph.json: env, paths, modules, classification (LangGraph's factory
rules), load errors kept per graph, the registry, and plain callables without langgraph."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import FIXTURES, load_project_graphs
from threadwatch.domain import system_assistant_id
from threadwatch.errors import InvalidAssistant
from threadwatch.graphs import (
    AssistantNotFound,
    FactoryCall,
    GraphConfigError,
    GraphInvalid,
    GraphLoadFailed,
    GraphNotFound,
    GraphRegistry,
    apply_env,
    factory_call,
    langgraph_types,
    load_graphs,
    load_registry,
    open_graph,
)

PROJECT = FIXTURES / "graphs" / "project"
LOADED = ("agent", "named", "factory", "async_factory", "echo", "echo_async", "shout")
ENV_NAMES = ("TW_FIXTURE_GREETING", "TW_FIXTURE_A", "TW_FIXTURE_B", "TW_FIXTURE_GONE")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Loading extends sys.path, os.environ and sys.modules: undo all three after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ENV_NAMES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)  # recorded as absent, so it is removed again afterwards
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("_threadwatch_graph_", "tw_fixture_pkg", "tw_tmp_")):
            del sys.modules[name]


@pytest.fixture(scope="module")
def registry() -> GraphRegistry:
    return load_project_graphs(PROJECT, TW_FIXTURE_GREETING="")


@pytest.fixture
def without_langgraph(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if langgraph were not installed: every import of it fails."""
    for name in [n for n in sys.modules if n == "langgraph" or n.startswith("langgraph.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "langgraph", None)
    langgraph_types.cache_clear()
    yield
    langgraph_types.cache_clear()


def project(tmp_path: Path, graphs: dict[str, Any], files: dict[str, str], **extra: Any) -> Path:
    """A langgraph.json with ``graphs`` (and ``extra`` keys) beside ``files``."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": graphs, **extra}))
    return config


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- the fixture project --------------------------------------------------------------------


def test_every_kind_of_entry_loads_and_the_broken_one_is_kept_as_an_error(
    registry: GraphRegistry,
) -> None:
    assert registry.ids == LOADED
    kinds = {graph_id: registry.kind(graph_id) for graph_id in registry.ids}
    assert kinds == {
        **dict.fromkeys(("agent", "named", "factory", "async_factory"), "langgraph"),
        **dict.fromkeys(("echo", "echo_async", "shout"), "callable"),
    }
    assert registry.source("shout") == "tw_fixture_pkg.shouting:shout"
    assert registry.source("agent") == "./agent.py:graph"
    assert list(registry.errors) == ["broken"] and "broken" not in registry
    assert registry.config_path == (PROJECT / "langgraph.json").resolve()


def test_factories_follow_langgraph_api_call_rules(registry: GraphRegistry) -> None:
    assert registry.graphs["factory"].factory == FactoryCall(config="config")
    assert registry.graphs["async_factory"].factory == FactoryCall()
    assert registry.graphs["agent"].factory is None
    assert registry.graphs["echo"].factory is None


def test_the_load_error_names_the_entry_the_exception_and_its_text(
    registry: GraphRegistry,
) -> None:
    error = registry.errors["broken"]
    assert error.error_type == "RuntimeError"
    assert error.location == str((PROJECT / "broken.py").resolve())
    assert error.summary == (
        "Failed to load graph 'broken' from ./broken.py:graph: "
        "RuntimeError: broken on purpose: this module fails at import"
    )
    assert 'broken.py", line 3' in error.traceback


def test_a_load_error_is_logged_with_the_file_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="threadwatch.graphs"):
        load_graphs(PROJECT / "langgraph.json")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    text = errors[0].getMessage()
    assert text.startswith(f"Failed to load graph 'broken' from {PROJECT.resolve()}/broken.py: ")
    assert "RuntimeError: broken on purpose" in text and "Traceback" in text
    assert any("failed ['broken']" in r.getMessage() for r in caplog.records)


def test_assistant_names_follow_the_compiled_graph_name(registry: GraphRegistry) -> None:
    assert registry.graphs["named"].name == "support-bot"
    assert registry.graphs["agent"].name == "agent"  # the default "LangGraph" is not a name
    assert registry.graphs["echo_async"].description == "Echoes its input, asynchronously."


# -- env, paths, modules ----------------------------------------------------------------


def test_the_env_file_is_applied_before_the_graphs_are_imported() -> None:
    agent = load_graphs(PROJECT).graphs["agent"].target  # agent.py reads the env at import
    assert os.environ["TW_FIXTURE_GREETING"] == "hello from fixture.env"
    assert agent.invoke({"ask": False})["greeting"] == "hello from fixture.env"


def test_an_env_object_overrides_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TW_FIXTURE_A", "before")
    files = {
        "g.py": "import os\nSEEN = os.environ['TW_FIXTURE_A']\ndef g(i, c):\n    return SEEN\n"
    }
    env = {"TW_FIXTURE_A": "from json", "TW_FIXTURE_B": 7}
    registry = load_graphs(project(tmp_path, {"g": "./g.py:g"}, files, env=env))
    assert registry.graphs["g"].target(None, {}) == "from json"
    assert os.environ["TW_FIXTURE_B"] == "7"


def test_apply_env_reads_dotenv_syntax_and_removes_valueless_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TW_FIXTURE_GONE", "here")
    (tmp_path / "x.env").write_text(
        '# comment\nexport TW_FIXTURE_A="a b"\nTW_FIXTURE_B=${TW_FIXTURE_A}!\nTW_FIXTURE_GONE\n'
    )
    apply_env("x.env", tmp_path)
    assert os.environ["TW_FIXTURE_A"] == "a b" and os.environ["TW_FIXTURE_B"] == "a b!"
    assert "TW_FIXTURE_GONE" not in os.environ


def test_a_missing_env_file_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    apply_env("missing.env", tmp_path)
    assert "missing.env does not exist" in caplog.text
    with pytest.raises(GraphConfigError, match='"env" must be'):
        apply_env(["A=1"], tmp_path)


def test_paths_are_relative_to_the_config_folder_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = project(tmp_path / "p", {"g": "./src/g.py:g"}, {"src/g.py": "def g(i, c): ..."})
    monkeypatch.chdir(tmp_path)
    assert load_graphs(config).ids == ("g",)
    assert load_graphs(tmp_path / "p").ids == ("g",)  # a folder holding langgraph.json


def test_module_entries_import_from_the_project_and_its_local_dependencies(
    tmp_path: Path,
) -> None:
    files = {
        "libs/tw_tmp_lib/__init__.py": "",
        "libs/tw_tmp_lib/mod.py": "def g(i, c):\n    return 'lib'\n",
        "tw_tmp_top.py": "def g(i, c):\n    return 'top'\n",
    }
    graphs = {"lib": "tw_tmp_lib.mod:g", "top": "tw_tmp_top:g"}
    registry = load_graphs(project(tmp_path, graphs, files, dependencies=[".", "./libs", "x"]))
    assert [registry.graphs[g].target(None, {}) for g in ("lib", "top")] == ["lib", "top"]
    assert str(tmp_path.resolve() / "libs") in sys.path


def test_a_file_is_executed_once_per_load_under_a_name_fixed_by_its_path(
    tmp_path: Path,
) -> None:
    files = {"g.py": "import os\nos.environ['TW_FIXTURE_A'] += 'x'\ndef a(i, c): ...\nb = a\n"}
    config = project(tmp_path, {"a": "./g.py:a", "b": "./g.py:b"}, files, env={"TW_FIXTURE_A": ""})
    first = load_graphs(config)
    assert os.environ["TW_FIXTURE_A"] == "x"
    second = load_graphs(config)
    module = first.graphs["a"].target.__module__
    assert module == second.graphs["a"].target.__module__
    assert module.startswith("_threadwatch_graph_g_") and module in sys.modules


# -- errors per entry, errors of the whole config -------------------------------------------


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ("./g.py", "'./g.py' needs the form './file.py:variable' or 'package.module:variable'"),
        ("./g.py:", "needs the form"),
        ("./agent.ts:graph", "'./agent.ts:graph' is a JavaScript graph"),
        (42, 'expected "./file.py:variable"'),
        (
            "./g.py:nothing",
            "AttributeError: the module has no 'nothing' (it defines: g, VALUE, g3)",
        ),
        ("./g.py:VALUE", "TypeError: 'VALUE' is a int: expected a compiled LangGraph graph"),
        ("./missing.py:g", "FileNotFoundError: no such file: missing.py"),
        ("tw_tmp_absent.mod:g", "ModuleNotFoundError: No module named 'tw_tmp_absent'"),
        ("./g.py:g3", "TypeError: g3(a, b, c): a graph factory takes no argument"),
    ],
)
def test_a_bad_entry_is_an_error_of_its_own(tmp_path: Path, entry: Any, error: str) -> None:
    files = {"g.py": "def g(i, c): ...\nVALUE = 1\ndef g3(a, b, c): ...\n"}
    registry = load_graphs(project(tmp_path, {"ok": "./g.py:g", "bad": entry}, files))
    assert registry.ids == ("ok",)
    assert error in registry.errors["bad"].summary


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "cannot read graphs config"),
        ("[]", 'needs a "graphs" object'),
        ('{"graphs": []}', 'needs a "graphs" object'),
    ],
)
def test_an_unusable_config_fails_the_start(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "langgraph.json").write_text(text)
    with pytest.raises(GraphConfigError, match=error):
        load_graphs(tmp_path / "langgraph.json")


def test_load_registry_uses_the_setting_then_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(load_registry(None, cwd=tmp_path)) == 0
    with pytest.raises(GraphConfigError, match="does not exist"):
        load_registry(str(tmp_path / "nope.json"))
    project(tmp_path, {"g": "./g.py:g"}, {"g.py": "def g(i, c): ..."})
    monkeypatch.chdir(tmp_path)
    assert load_registry(None).ids == ("g",)
    assert load_registry(str(tmp_path / "langgraph.json")).ids == ("g",)


# -- classification ---------------------------------------------------------------------


def _zero() -> None: ...
def _config(config): ...
def _runtime(runtime: ServerRuntime): ...  # noqa: F821 (a name imported under TYPE_CHECKING)
def _both(rt: Any, config: Any) -> None: ...
def _plain(input: Any, config: Any) -> None: ...
def _plain_default(input: Any, config: Any = None, extra: int = 0) -> None: ...
def _plain_varargs(*args: Any) -> None: ...
def _keyword_config(input: Any, *, config: Any) -> None: ...


class _Callable:
    def __call__(self, input: Any, config: Any) -> Any:
        return input


def test_factory_call_matches_langgraph_api_classification() -> None:
    from langgraph_sdk.runtime import ServerRuntime

    def both(rt: ServerRuntime, config: dict) -> None: ...

    assert factory_call(_zero) == FactoryCall()
    assert factory_call(_config) == FactoryCall(config="config")
    assert factory_call(_runtime) == FactoryCall(runtime="runtime")
    assert factory_call(both) == FactoryCall(config="config", runtime="rt")
    assert factory_call(_both) is None  # two unannotated arguments: (input, config)
    assert factory_call(_plain) is None
    assert factory_call(_plain_default) is None
    assert factory_call(_plain_varargs) is None
    assert factory_call(_Callable()) is None
    with pytest.raises(TypeError, match="a plain callable graph takes"):
        factory_call(_keyword_config)
    with pytest.raises(TypeError, match="cannot read the signature"):
        factory_call(max)


def test_an_uncompiled_state_graph_is_compiled_at_load(tmp_path: Path) -> None:
    files = {
        "g.py": (
            "from langgraph.graph import START, StateGraph\n"
            "from typing_extensions import TypedDict\n"
            "class S(TypedDict):\n    n: int\n"
            "builder = StateGraph(S)\nbuilder.add_node('inc', lambda s: {'n': s['n'] + 1})\n"
            "builder.add_edge(START, 'inc')\n"
        )
    }
    graph = load_graphs(project(tmp_path, {"g": "./g.py:builder"}, files)).graphs["g"]
    assert graph.kind == "langgraph" and graph.factory is None
    assert graph.target.invoke({"n": 1}) == {"n": 2}


# -- the registry -----------------------------------------------------------------------


def test_resolve_assistant_accepts_a_graph_name_or_its_assistant_id(
    registry: GraphRegistry,
) -> None:
    agent_id = system_assistant_id("agent")
    assert agent_id == "fe096781-5601-53d2-b2f6-0d3403f7e9ca"
    assert registry.resolve_assistant("agent") == "agent"
    assert registry.resolve_assistant(agent_id) == "agent"
    assert registry.resolve_assistant(agent_id.upper()) == "agent"
    assert registry.resolve_assistant(agent_id.replace("-", "")) == "agent"
    assert registry.graph_of(agent_id) is registry.graphs["agent"]


def test_resolve_assistant_errors_carry_the_langgraph_texts(registry: GraphRegistry) -> None:
    with pytest.raises(InvalidAssistant) as invalid:
        registry.resolve_assistant("nope")
    assert invalid.value.status_code == 422
    assert invalid.value.detail == (
        "Invalid assistant: 'nope'. Must be either:\n"
        "- A valid assistant UUID, or\n"
        "- One of the registered graphs: agent, named, factory, async_factory, echo, "
        "echo_async, shout"
    )
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(AssistantNotFound, match=f"^Assistant with ID {unknown} not found$"):
        registry.resolve_assistant(unknown.upper())
    for broken in ("broken", system_assistant_id("broken")):
        with pytest.raises(GraphLoadFailed, match="^Failed to load graph 'broken' from"):
            registry.resolve_assistant(broken)


def test_require_names_the_known_graphs(registry: GraphRegistry) -> None:
    with pytest.raises(GraphNotFound) as missing:
        registry.require("nope")
    assert missing.value.status_code == 404
    assert missing.value.detail == f"Graph 'nope' not found. Expected one of: {sorted(LOADED)}"
    assert registry.get("nope") is None and registry.get("echo") is registry.graphs["echo"]


def test_the_registry_is_immutable(registry: GraphRegistry) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.graphs = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        registry.graphs["x"] = registry.graphs["echo"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del registry.errors["broken"]  # type: ignore[attr-defined]


# -- open_graph: the runnable for one use ----------------------------------------------------


def test_open_graph_calls_a_config_factory_with_the_config(registry: GraphRegistry) -> None:
    async def main() -> Any:
        config = {"configurable": {"suffix": "?!"}}
        async with open_graph(registry.graphs["factory"], config) as graph:
            return graph.name, await graph.ainvoke({"text": "hi"})

    assert run(main()) == ("factory", {"text": "hi?!", "suffix": "?!"})


def test_open_graph_awaits_an_async_factory_and_names_the_graph(registry: GraphRegistry) -> None:
    async def main() -> Any:
        async with open_graph(registry.graphs["async_factory"]) as graph:
            return graph.name, (await graph.ainvoke({"text": "hi"}))["text"]

    assert run(main()) == ("async_factory", "hi?")


def test_open_graph_attaches_a_checkpointer_and_runs_to_the_interrupt(
    registry: GraphRegistry,
) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    saver = InMemorySaver()
    config = {"configurable": {"thread_id": "t1"}}

    async def main() -> Any:
        async with open_graph(registry.graphs["agent"], checkpointer=saver) as graph:
            first = await graph.ainvoke({}, config)
            state = await graph.aget_state(config)
            resumed = await graph.ainvoke(Command(resume="yes"), config)
            return graph.name, first, state.next, resumed

    name, first, next_nodes, resumed = run(main())
    assert name == "agent" and next_nodes == ("ask",)
    assert first["__interrupt__"][0].value == {"question": "approve?", "count": 1}
    assert resumed["answer"] == "yes" and resumed["greeting"] == "hello from fixture.env"


def test_open_graph_enters_context_managers_and_passes_a_server_runtime(tmp_path: Path) -> None:
    files = {
        "g.py": (
            "import contextlib\n"
            "from langgraph_sdk.runtime import ServerRuntime\n"
            "from langgraph.graph import START, StateGraph\n"
            "from typing_extensions import TypedDict\n"
            "class S(TypedDict):\n    n: int\n"
            "SEEN = []\n"
            "@contextlib.asynccontextmanager\n"
            "async def g(config, runtime: ServerRuntime):\n"
            "    SEEN.append((runtime.access_context, runtime.execution_runtime is not None))\n"
            "    b = StateGraph(S)\n    b.add_node('x', lambda s: s)\n    b.add_edge(START, 'x')\n"
            "    yield b\n"
            "    SEEN.append('exited')\n"
            "def bad():\n    return {'not': 'a graph'}\n"
        )
    }
    registry = load_graphs(project(tmp_path, {"g": "./g.py:g", "bad": "./g.py:bad"}, files))
    assert registry.graphs["g"].factory == FactoryCall(config="config", runtime="runtime")

    async def main() -> Any:
        async with open_graph(registry.graphs["g"]) as graph:
            compiled_name = graph.name
        async with open_graph(registry.graphs["g"], access_context="threads.create_run"):
            pass
        return compiled_name

    assert run(main()) == "g"
    seen = sys.modules[registry.graphs["g"].target.__module__].SEEN
    assert seen == [("assistants.read", False), "exited", ("threads.create_run", True), "exited"]

    async def bad() -> None:
        async with open_graph(registry.graphs["bad"]):
            pass

    with pytest.raises(GraphInvalid) as invalid:
        run(bad())
    assert invalid.value.status_code == 424
    assert invalid.value.detail.startswith("Graph 'bad' is not valid. Review graph registration.")


def test_open_graph_gives_a_plain_callable_as_it_is(registry: GraphRegistry) -> None:
    async def main() -> Any:
        async with open_graph(registry.graphs["echo_async"]) as fn:
            return await fn({"x": 1}, {})

    assert run(main()) == {"echo": {"x": 1}}


# -- without langgraph --------------------------------------------------------------------


@pytest.mark.usefixtures("without_langgraph")
def test_plain_callables_load_and_run_without_langgraph(tmp_path: Path) -> None:
    registry = load_graphs(PROJECT)
    assert registry.ids == ("echo", "echo_async", "shout")
    assert registry.errors["agent"].error_type == "ModuleNotFoundError"
    assert "langgraph" in registry.errors["agent"].message

    async def main() -> Any:
        async with open_graph(registry.graphs["shout"]) as fn:
            return fn({"text": "hey"}, {})

    assert run(main()) == {"text": "HEY"}
    files = {"f.py": "def make():\n    return None\n"}
    plain_factory = load_graphs(project(tmp_path, {"f": "./f.py:make"}, files))
    assert "which needs langgraph" in plain_factory.errors["f"].summary


def test_the_service_imports_without_langgraph() -> None:
    """The API, the worker and the runner start without the extra (plain callables only):
    nothing they import needs langgraph until a LangGraph graph or checkpoint is used."""
    block = "import sys\nfor name in ('langgraph', 'langchain_core'): sys.modules[name] = None\n"
    modules = ", ".join(
        (
            "threadwatch.api.app",
            "threadwatch.runs.runner",
            "threadwatch_workers.worker",
            "threadwatch_workers.jobs",
            "threadwatch.store.checkpoints",
        )
    )
    done = subprocess.run(
        [sys.executable, "-c", f"{block}import {modules}\nprint('imported')"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
