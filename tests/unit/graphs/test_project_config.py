"""langgraph.json's ``http`` and ``store`` sections, read with LangGraph's keys and types:
what each key gives, an error naming the key for a wrong value, and unknown keys ignored
as LangGraph ignores them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadwatch.graphs import GraphConfigError
from threadwatch.graphs.project import (
    ROUTE_GROUPS,
    HttpConfig,
    find_config,
    load_project,
    parse_cors,
    parse_http,
    project_at,
)


def write_config(folder: Path, **sections: Any) -> Path:
    path = folder / "langgraph.json"
    path.write_text(json.dumps({"graphs": {}, **sections}))
    return path


def test_no_http_section_serves_every_group() -> None:
    http = parse_http(None)
    assert http == HttpConfig()
    assert all(http.serves(group) for group in ROUTE_GROUPS)


def test_each_disable_flag_takes_its_group_away() -> None:
    for group in ROUTE_GROUPS:
        http = parse_http({f"disable_{group}": True})
        assert not http.serves(group)
        assert [g for g in ROUTE_GROUPS if not http.serves(g)] == (
            [group, "event_streaming"] if group == "runs" else [group]
        )


def test_disable_runs_takes_the_protocol_away_too_as_on_langgraph() -> None:
    http = parse_http({"disable_runs": True, "disable_event_streaming": False})
    assert not http.serves("event_streaming")
    assert parse_http({"disable_runs": False}).serves("event_streaming")


def test_app_cors_prefix_and_webhooks_are_read() -> None:
    http = parse_http(
        {
            "app": "./web.py:app",
            "cors": {"allow_origins": ["https://a.example"], "max_age": 60},
            "mount_prefix": "/my-api/",
            "disable_webhooks": True,
        }
    )
    assert http.app == "./web.py:app"
    assert http.cors == {"allow_origins": ["https://a.example"], "max_age": 60}
    assert http.mount_prefix == "/my-api"  # LangGraph drops the trailing slash
    assert http.disable_webhooks


def test_a_root_prefix_is_no_prefix() -> None:
    assert parse_http({"mount_prefix": "/"}).mount_prefix is None


def test_langgraph_keys_without_effect_here_are_accepted_and_named() -> None:
    http = parse_http({"middleware_order": "auth_first", "configurable_headers": {}})
    assert http.without_effect == ("configurable_headers", "middleware_order")


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"disable_runs": "yes"}, '"http.disable_runs" must be true or false, got "yes"'),
        ({"app": "web.py"}, '"http.app" must be'),
        ({"app": "./web.ts:app"}, '"http.app" must be a Python app'),
        ({"mount_prefix": "api"}, '"http.mount_prefix" must be a path starting with "/"'),
        ({"middleware_order": "first"}, '"http.middleware_order"'),
        ({"cors": ["*"]}, '"http.cors" must be an object'),
        ({"cors": {"allow_origin": ["*"]}}, 'unknown key in "http.cors": allow_origin'),
        ({"cors": {"allow_methods": "GET"}}, '"http.cors.allow_methods" must be a list'),
        ({"cors": {"max_age": True}}, '"http.cors.max_age" must be an integer'),
        ({"cors": {"allow_credentials": 1}}, '"http.cors.allow_credentials"'),
    ],
)
def test_a_bad_http_value_names_its_key(section: dict[str, Any], named: str) -> None:
    with pytest.raises(GraphConfigError, match="http") as caught:
        parse_http(section)
    assert named in str(caught.value)


def test_cors_keeps_only_what_is_given() -> None:
    assert parse_cors({"allow_headers": ["x-api-key"], "allow_origin_regex": None}) == {
        "allow_headers": ["x-api-key"]
    }


def test_project_at_reads_both_sections_and_names_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, http={"disable_store": True}, store={"path": "./s.py:store"})
    project = project_at(path)
    assert project.path == path and project.folder == tmp_path
    assert not project.http.serves("store") and project.store == {"path": "./s.py:store"}
    write_config(tmp_path, store={"path": 3})
    with pytest.raises(GraphConfigError) as caught:
        project_at(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert '"store.path" must be' in str(caught.value)


def test_keys_langgraph_does_not_know_are_ignored_and_named(tmp_path: Path) -> None:
    """A file that runs on LangGraph runs here: LangGraph ignores keys it does not know."""
    path = write_config(
        tmp_path, http={"disable_thread": True, "future_flag": 1}, store={"paht": "./s.py:x"}
    )
    project = project_at(path)
    assert project.ignored == ("http.disable_thread", "http.future_flag", "store.paht")
    assert project.http.serves("threads") and "path" not in project.store


def test_a_bad_store_path_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(GraphConfigError, match='"store.path" must be'):
        project_at(write_config(tmp_path, store={"path": 3}))


def test_the_project_is_found_as_the_graphs_are(tmp_path: Path) -> None:
    assert find_config(None, cwd=tmp_path) is None
    assert load_project(None, cwd=tmp_path).path is None
    path = write_config(tmp_path)
    assert find_config(None, cwd=tmp_path) == path
    assert find_config(str(tmp_path)) == path  # a folder holding one
    with pytest.raises(GraphConfigError, match="does not exist"):
        find_config(str(tmp_path / "other.json"))
