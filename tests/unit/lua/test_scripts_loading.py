"""scripts.py: every .lua file is registered, shipped and loaded after the libraries its
`-- uses:` lines name; a script names exactly the libraries whose functions it calls."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch

import pytest
from fakeredis import FakeRedis

from tests.support import ROOT
from threadwatch.store.scripts import (
    REPAIR_SCRIPT_NAMES,
    SCRIPT_NAMES,
    libraries,
    lua_source,
    uses,
)

LUA = ROOT / "app" / "store" / "lua"
SCRIPTS = [*SCRIPT_NAMES, *(f"repair/{name}" for name in REPAIR_SCRIPT_NAMES)]
LIBRARIES = sorted(p.relative_to(LUA).as_posix() for p in (LUA / "lib").glob("*.lua"))
DEFINED = re.compile(r"^local function (\w+)", re.MULTILINE)


def code(path: str) -> str:
    """The Lua of lua/<path> without its comments."""
    return re.sub(r"--.*", "", (LUA / path).read_text(encoding="utf-8"))


def library_functions() -> dict[str, str]:
    """Function name -> the library that defines it."""
    return {name: lib for lib in LIBRARIES for name in DEFINED.findall(code(lib))}


def test_every_script_file_is_registered() -> None:
    on_disk = {
        p.relative_to(LUA).with_suffix("").as_posix()
        for p in LUA.rglob("*.lua")
        if p.parent.name != "lib"
    }
    assert on_disk == set(SCRIPTS)


def test_every_lua_file_is_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["threadwatch.store"]
    for path in LUA.rglob("*.lua"):
        relative = path.relative_to(LUA.parent).as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative


@pytest.mark.parametrize("path", [f"{name}.lua" for name in SCRIPTS] + LIBRARIES)
def test_uses_names_the_libraries_whose_functions_it_calls(path: str) -> None:
    functions = library_functions()
    text = code(path)
    own = set(DEFINED.findall(text))
    called = {
        name for name in functions if name not in own and re.search(rf"(?<![\w.:]){name}\(", text)
    }
    assert set(uses(path)) == {functions[name] for name in called}


def test_libraries_come_once_after_those_they_use() -> None:
    order = libraries("transition.lua")
    assert len(order) == len(set(order))
    for i, library in enumerate(order):
        assert set(uses(library)) <= set(order[:i]), library
    assert "lib/thread_status.lua" in order


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_compiles_with_its_libraries(fake_redis: FakeRedis, name: str) -> None:
    source = lua_source(name)
    for library in libraries(f"{name}.lua"):
        assert (LUA / library).read_text(encoding="utf-8") in source
    sha = fake_redis.script_load(source)
    assert fake_redis.script_exists(sha) == [True]
