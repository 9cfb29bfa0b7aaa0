"""The metadata index: leaf encoding, filter compilation and Postgres `@>` containment."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadwatch.store.metadata_index import (
    MAX_DEPTH,
    MAX_PATH_BYTES,
    MAX_VALUE_BYTES,
    compile_filter,
    contains,
    metadata_leaves,
)


def nested(depth: int, leaf: Any) -> dict[str, Any]:
    """{"k1": {"k2": ... {"k<depth>": leaf}}}: `leaf` sits at a path of `depth` keys."""
    value: Any = leaf
    for level in range(depth, 0, -1):
        value = {f"k{level}": value}
    return value


# -- leaf encoding -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [(1.0, 1), (-3.0, -3), (0.0, 0), (-0.0, 0), (2.5, 2.5), ("x", "x"), (None, None)],
)
def test_equal_json_values_share_a_leaf(a: Any, b: Any) -> None:
    assert metadata_leaves({"v": a}) == metadata_leaves({"v": b})


@pytest.mark.parametrize(
    ("a", "b"),
    [(1, "1"), (True, 1), (False, 0), (None, 0), (None, ""), (None, False), (1, 1.5), ("a", "A")],
)
def test_different_json_values_have_different_leaves(a: Any, b: Any) -> None:
    assert metadata_leaves({"v": a}) != metadata_leaves({"v": b})


def test_scalar_leaf_is_a_json_array_of_path_and_value() -> None:
    assert metadata_leaves({"user": "u1", "n": 1.0, "ok": True, "gone": None}) == {
        '["user","u1"]',
        '["n",1]',
        '["ok",true]',
        '["gone",null]',
    }


def test_empty_metadata_has_no_leaves() -> None:
    assert metadata_leaves({}) == set()


def test_nested_objects_add_a_marker_at_every_level() -> None:
    assert metadata_leaves({"a": {"b": {"c": 1}}, "e": {}}) == {
        '["a",{}]',
        '["a","b",{}]',
        '["a","b","c",1]',
        '["e",{}]',
    }


def test_array_elements_step_into_the_path_as_0() -> None:
    assert metadata_leaves({"tags": ["x", "y"], "none": [], "objs": [{"k": 1}]}) == {
        '["tags",[]]',
        '["tags",0,"x"]',
        '["tags",0,"y"]',
        '["none",[]]',
        '["objs",[]]',
        '["objs",0,{}]',
        '["objs",0,"k",1]',
    }


def test_keys_that_look_like_paths_do_not_collide() -> None:
    dotted = metadata_leaves({'a","b': 1})
    assert dotted.isdisjoint(metadata_leaves({"a": {"b": 1}}))
    assert metadata_leaves({"0": ["x"]}).isdisjoint(metadata_leaves({"0": {"0": "x"}}))


def test_values_up_to_the_limit_are_stored_verbatim() -> None:
    text = "x" * (MAX_VALUE_BYTES - 2)  # its JSON, quotes included, is exactly the limit
    assert metadata_leaves({"v": text}) == {f'["v","{text}"]'}
    assert compile_filter({"v": text}).exact


def test_long_values_are_indexed_by_digest() -> None:
    long_a, long_b = "a" * MAX_VALUE_BYTES, "b" * MAX_VALUE_BYTES
    (leaf,) = metadata_leaves({"v": long_a})
    assert leaf.startswith('["v"]#') and long_a not in leaf
    assert metadata_leaves({"v": long_a}) == {leaf}  # deterministic
    assert metadata_leaves({"v": long_b}) != {leaf}
    assert compile_filter({"v": long_a}) == compile_filter({"v": long_a})
    assert compile_filter({"v": long_a}).leaves == {leaf}


def test_long_keys_are_indexed_by_digest_and_verified() -> None:
    long_key = "k" * (MAX_PATH_BYTES + 1)
    (leaf,) = metadata_leaves({long_key: 1})
    assert leaf.startswith("#") and len(leaf) == 33  # no key name grows with user input
    assert metadata_leaves({long_key: 2}) != {leaf}
    assert metadata_leaves({long_key[:-1] + "x": 1}) != {leaf}
    compiled = compile_filter({long_key: 1})
    assert compiled.leaves == {leaf} and not compiled.exact  # candidates are checked


def test_paths_deeper_than_max_depth_are_a_marker_only() -> None:
    deep = nested(MAX_DEPTH + 2, "bottom")
    leaves = metadata_leaves(deep)
    path_lengths = {leaf.count(",") for leaf in leaves}  # the value adds the last comma
    assert max(path_lengths) == MAX_DEPTH
    assert not any("bottom" in leaf for leaf in leaves)
    # A scalar at exactly MAX_DEPTH is still indexed.
    assert any('"bottom"' in leaf for leaf in metadata_leaves(nested(MAX_DEPTH, "bottom")))


# -- compile_filter --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"user": "u1"},
        {"user": "u1", "n": 2, "ok": False, "gone": None},
        {"a": {"b": {"c": 1}}},
        {"tags": ["x", "y"]},
        {"tags": []},
        {"o": {}},
        {"a": [{}]},
        {"a": [[]]},
        nested(MAX_DEPTH, 1),
    ],
    ids=repr,
)
def test_index_alone_decides_scalars_and_arrays_of_scalars(query: dict[str, Any]) -> None:
    assert compile_filter(query).exact


@pytest.mark.parametrize(
    "query",
    [
        {"objs": [{"k": 1}]},
        {"objs": [{"k": 1, "v": 2}]},
        {"grid": [[1, 2]]},
        {"v": "x" * (MAX_VALUE_BYTES + 1)},
        {"a": {"b": "x" * 500}, "user": "u1"},
        nested(MAX_DEPTH + 1, 1),
    ],
    ids=lambda q: repr(q)[:60],
)
def test_filters_the_index_only_narrows_are_not_exact(query: dict[str, Any]) -> None:
    assert not compile_filter(query).exact


def test_compiled_leaves() -> None:
    assert compile_filter({}).leaves == frozenset()
    assert compile_filter({"user": "u1", "n": 1.0}).leaves == {'["user","u1"]', '["n",1]'}
    # Objects need only their scalar leaves; empty containers need their marker.
    assert compile_filter({"a": {"b": 1}, "e": {}, "l": []}).leaves == {
        '["a","b",1]',
        '["e",{}]',
        '["l",[]]',
    }
    assert compile_filter({"tags": ["x", "x", "y"]}).leaves == {
        '["tags",0,"x"]',
        '["tags",0,"y"]',
    }


def test_filter_leaves_are_a_subset_of_the_leaves_of_a_matching_document() -> None:
    doc = {"a": {"b": 1, "c": [1, 2, {"d": None}]}, "t": ["x", "y"], "n": 3}
    query = {"a": {"c": [2, {"d": None}]}, "t": ["y"], "n": 3.0}
    assert contains(doc, query)
    assert compile_filter(query).leaves <= metadata_leaves(doc)


# -- contains (Postgres @>) ------------------------------------------------------------------

DOC = {
    "user": "u1",
    "n": 1,
    "f": 1.5,
    "ok": True,
    "gone": None,
    "nested": {"x": 1, "y": {"z": "deep"}},
    "tags": ["a", "b", "c"],
    "objs": [{"k": 1, "v": "one"}, {"k": 2, "v": "two"}],
    "grid": [[1, 2], [3]],
    "empty_obj": {},
    "empty_list": [],
}


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"user": "u1"},
        {"n": 1.0},
        {"f": 1.5},
        {"ok": True},
        {"gone": None},
        {"nested": {}},
        {"nested": {"x": 1}},
        {"nested": {"y": {"z": "deep"}}},
        {"tags": []},
        {"tags": ["a"]},
        {"tags": ["c", "a"]},
        {"tags": ["b", "b"]},
        {"objs": [{"k": 2}]},
        {"objs": [{"v": "one"}, {"k": 2}]},
        {"grid": [[2]]},
        {"grid": [[3], [1, 2]]},
        {"empty_obj": {}},
        {"empty_list": []},
        {"user": "u1", "nested": {"x": 1}, "tags": ["b"]},
    ],
    ids=repr,
)
def test_contains(query: dict[str, Any]) -> None:
    assert contains(DOC, query)


@pytest.mark.parametrize(
    "query",
    [
        {"missing": None},  # null only matches a present null
        {"user": "u2"},
        {"n": "1"},  # a string is not a number
        {"n": True},  # a bool is not a number
        {"ok": 1},
        {"gone": 0},
        {"gone": False},
        {"gone": ""},
        {"nested": {"x": 1, "w": 2}},
        {"nested": {"y": {"z": "other"}}},
        {"nested": []},  # an object is not an array
        {"empty_obj": []},
        {"empty_list": {}},
        {"tags": ["a", "z"]},
        {"tags": "a"},  # below the top level a scalar does not match inside an array
        {"user": ["u1"]},
        {"objs": [{"k": 1, "v": "two"}]},  # both keys must hold in the same element
        {"grid": [[1, 3]]},
        {"grid": [1]},
        {"user": "u1", "n": 2},  # every key must match
    ],
    ids=repr,
)
def test_does_not_contain(query: dict[str, Any]) -> None:
    assert not contains(DOC, query)


def test_arrays_of_objects_are_not_exact_because_leaves_mix_elements() -> None:
    query = {"objs": [{"k": 1, "v": "two"}]}
    compiled = compile_filter(query)
    assert compiled.leaves <= metadata_leaves(DOC)  # every leaf is there ...
    assert not contains(DOC, query)  # ... in different elements
    assert not compiled.exact


@pytest.mark.parametrize(
    ("a", "b"), [(1e20, 10**20), (-1e20, -(10**20)), (2.0**64, 2**64), (1e300, int(1e300))]
)
def test_numbers_beyond_64_bits_have_a_leaf(a: float, b: int) -> None:
    assert metadata_leaves({"v": a}) == metadata_leaves({"v": b}) == compile_filter({"v": a}).leaves
    assert contains({"v": a}, {"v": b})


# -- property: the index never loses a match, and decides exactly when it says so ------------

KEYS = ["a", "b", "c"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([0.0, 1.0, 2.0, 0.5, -1.5, 1e20, 10**20, 2**64, -(2**70)]),
    st.sampled_from(["", "x", "y", "1", "x" * (MAX_VALUE_BYTES + 10)]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)
documents = st.dictionaries(st.sampled_from(KEYS), json_values, min_size=1, max_size=3)


@st.composite
def sub_value(draw: st.DrawFn, value: Any, min_keys: int = 0) -> Any:
    """A value that `value` contains (usually), sometimes with a scalar changed."""
    if isinstance(value, dict):
        keys = sorted(value)
        keys = draw(st.lists(st.sampled_from(keys), min_size=min_keys, unique=True)) if keys else []
        return {k: draw(sub_value(value[k])) for k in keys}
    if isinstance(value, list):
        picks = draw(st.lists(st.sampled_from(value), max_size=3)) if value else []
        return [draw(sub_value(item)) for item in picks]
    if draw(st.integers(0, 5)) == 0:
        return draw(scalars)  # a near miss
    if isinstance(value, int) and not isinstance(value, bool) and draw(st.booleans()):
        return float(value)  # an equal number written differently
    return value


@st.composite
def doc_and_filter(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = draw(documents)
    query = draw(sub_value(doc, min_keys=1)) if draw(st.booleans()) else draw(documents)
    return doc, query


@settings(max_examples=400, deadline=None)
@given(doc_and_filter())
def test_index_has_no_false_negatives_and_exact_filters_decide(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, query = case
    compiled = compile_filter(query)
    in_every_leaf_set = compiled.leaves <= metadata_leaves(doc)
    if contains(doc, query):
        assert in_every_leaf_set
    if compiled.exact:
        assert in_every_leaf_set == contains(doc, query)
