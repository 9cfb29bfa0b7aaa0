"""The long-term memory store's items in Redis (app/store/items.py and its scripts)."""

from __future__ import annotations

import pytest
from fakeredis import FakeRedis

from tests.unit.helpers import KEYS
from tests.unit.store.store_clock import Clock
from threadwatch.store.item_filter import UnsupportedOperator, item_matcher
from threadwatch.store.items import PAGE, ItemStore, matches


@pytest.fixture
def items(fake_redis: FakeRedis) -> ItemStore:
    return ItemStore(fake_redis, KEYS)


def keys_of(found: list) -> list[tuple[tuple[str, ...], str]]:
    return [(item.namespace, item.key) for item in found]


def test_put_then_get_keeps_the_value_and_the_times(items: ItemStore, clock: Clock) -> None:
    created, updated = items.put(("users", "1"), "prefs", {"theme": "dark", "n": 2**70})
    assert created == updated == clock.now_us
    [item] = items.get([(("users", "1"), "prefs")])
    assert item is not None
    assert item.value == {"theme": "dark", "n": 2**70}
    assert (item.namespace, item.key) == (("users", "1"), "prefs")
    assert (item.created_us, item.updated_us) == (created, updated)


def test_a_put_again_keeps_created_at_and_moves_updated_at(items: ItemStore, clock: Clock) -> None:
    created, _ = items.put(("a",), "k", {"v": 1})
    clock.advance_minutes(1)
    _, updated = items.put(("a",), "k", {"v": 2})
    [item] = items.get([(("a",), "k")])
    assert item is not None and item.value == {"v": 2}
    assert (item.created_us, item.updated_us) == (created, updated)
    assert updated > created


def test_get_of_missing_items_is_none(items: ItemStore) -> None:
    items.put(("a",), "k", {})
    assert items.get([(("a",), "other"), (("b",), "k"), (("a",), "k")])[:2] == [None, None]


def test_delete_removes_the_item_and_an_empty_namespace(
    items: ItemStore, fake_redis: FakeRedis
) -> None:
    items.put(("a", "b"), "k", {"x": 1}, ttl_minutes=5, vectors=b"\0\0\0\0")
    assert items.delete(("a", "b"), ["k", "missing"]) == 1
    assert items.get([(("a", "b"), "k")]) == [None]
    assert fake_redis.keys("*") == []  # no index entry, no empty structure left


def test_namespaces_are_listed_sorted_and_filtered(items: ItemStore) -> None:
    for ns in [("a",), ("a", "b"), ("a", "c", "d"), ("a-",), ("b", "c")]:
        items.put(ns, "k", {})
    assert items.list_namespaces() == [("a",), ("a", "b"), ("a", "c", "d"), ("a-",), ("b", "c")]
    prefix_a = [("prefix", ("a",))]
    assert items.list_namespaces(prefix_a) == [("a",), ("a", "b"), ("a", "c", "d")]
    assert items.list_namespaces([("suffix", ("c",))]) == [("b", "c")]
    assert items.list_namespaces([("prefix", ("*", "c"))]) == [("a", "c", "d"), ("b", "c")]
    assert items.list_namespaces(prefix_a, max_depth=2) == [("a",), ("a", "b"), ("a", "c")]
    assert items.list_namespaces(limit=2, offset=1) == [("a", "b"), ("a", "c", "d")]


def test_search_walks_the_prefix_newest_first(items: ItemStore, clock: Clock) -> None:
    for i, ns in enumerate([("a",), ("a", "b"), ("ab",), ("a", "b"), ("c",)]):
        clock.advance_minutes(1)
        items.put(ns, f"k{i}", {"i": i})
    found = items.search(("a",))
    assert keys_of(found) == [(("a", "b"), "k3"), (("a", "b"), "k1"), (("a",), "k0")]
    assert keys_of(items.search(("a",), offset=1, limit=1)) == [(("a", "b"), "k1")]
    assert len(items.search(())) == 5


def test_search_filters_across_pages(items: ItemStore, clock: Clock) -> None:
    total = PAGE * 2 + 10
    for i in range(total):
        clock.advance_minutes(1)
        items.put(("many", str(i % 3)), f"k{i}", {"even": i % 2 == 0, "i": i})
    match = item_matcher({"even": True})
    found = items.search(("many",), match, offset=5, limit=300)
    expected = [i for i in reversed(range(total)) if i % 2 == 0][5:305]
    assert [item.value["i"] for item in found] == expected


def test_an_expired_item_is_never_returned(items: ItemStore, clock: Clock) -> None:
    items.put(("a",), "short", {}, ttl_minutes=1)
    items.put(("a",), "long", {}, ttl_minutes=10)
    items.put(("b",), "short", {}, ttl_minutes=1)
    clock.advance_minutes(1)  # exactly at expiry: gone
    assert items.get([(("a",), "short")]) == [None]
    assert keys_of(items.search(())) == [(("a",), "long")]
    assert items.list_namespaces() == [("a",)]  # ("b",) holds only an expired item


def test_a_read_with_refresh_moves_the_expiry(items: ItemStore, clock: Clock) -> None:
    items.put(("a",), "k", {}, ttl_minutes=2)
    clock.advance_minutes(1.5)
    assert items.get([(("a",), "k")], refresh=True)[0] is not None
    clock.advance_minutes(1.5)  # 3 minutes after the put, 1.5 after the read
    assert items.get([(("a",), "k")])[0] is not None
    clock.advance_minutes(0.5)
    assert items.get([(("a",), "k")]) == [None]


def test_a_put_after_expiry_is_a_new_item(items: ItemStore, clock: Clock) -> None:
    items.put(("a",), "k", {}, ttl_minutes=1)
    clock.advance_minutes(2)
    created, _ = items.put(("a",), "k", {})
    assert created == clock.now_us


def test_a_put_without_ttl_clears_the_ttl(items: ItemStore, clock: Clock) -> None:
    items.put(("a",), "k", {}, ttl_minutes=1)
    items.put(("a",), "k", {"v": 2})
    clock.advance_minutes(5)
    [item] = items.get([(("a",), "k")])
    assert item is not None and item.value == {"v": 2}


def test_the_sweep_deletes_due_items_and_rescores_the_namespace(
    items: ItemStore, clock: Clock, fake_redis: FakeRedis
) -> None:
    items.put(("a",), "soon", {}, ttl_minutes=1)
    items.put(("a",), "later", {}, ttl_minutes=5)
    items.put(("b",), "soon", {}, ttl_minutes=1)
    items.put(("c",), "kept", {})
    assert items.expire_due() == 0
    clock.advance_minutes(1)
    assert items.expire_due() == 2
    later = clock.now_us + 4 * 60_000_000
    assert fake_redis.zrange(KEYS.store_expiring(), 0, -1, withscores=True) == [
        (b"a", float(later))
    ]
    assert fake_redis.zrange(KEYS.store_namespaces(), 0, -1) == [b"a", b"c"]
    assert items.expire_due() == 0  # idempotent
    clock.advance_minutes(4)
    assert items.expire_due() == 1
    assert fake_redis.zrange(KEYS.store_namespaces(), 0, -1) == [b"c"]
    assert fake_redis.exists(KEYS.store_expiring()) == 0


def test_the_sweep_leaves_a_refreshed_item(items: ItemStore, clock: Clock) -> None:
    items.put(("a",), "k", {}, ttl_minutes=1)
    clock.advance_minutes(0.5)
    items.get([(("a",), "k")], refresh=True)
    clock.advance_minutes(0.75)
    assert items.expire_due() == 0  # due by its first score, refreshed since
    assert items.get([(("a",), "k")])[0] is not None


@pytest.mark.parametrize(
    ("namespace", "path", "side", "expected"),
    [
        (("a", "b", "c"), ("a", "*"), "prefix", True),
        (("a", "b", "c"), ("b",), "prefix", False),
        (("a", "b", "c"), ("*", "c"), "suffix", True),
        (("a",), ("a", "b"), "prefix", False),
    ],
)
def test_match_conditions(
    namespace: tuple[str, ...], path: tuple[str, ...], side: str, expected: bool
) -> None:
    assert matches(namespace, path, side) is expected


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ({"n": 1}, {"n": 1}, True),
        ({"n": 1}, {"n": True}, False),
        ({"n": {"$gt": 1}}, {"n": 2}, True),
        ({"n": {"$gt": 1}}, {}, False),  # LangGraph's in-memory store answers a 500 here
        ({"n": {"$lte": "b"}}, {"n": "a"}, True),
        ({"n": {"$ne": 1}}, {"n": 2}, True),
        ({"n": {"$eq": [1, 2]}}, {"n": [1, 2]}, True),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, True),
        ({"a": {"b": 1}}, {"a": 1}, False),
    ],
)
def test_filters(spec: dict, value: dict, expected: bool) -> None:
    match = item_matcher(spec)
    assert match is not None and match(value) is expected


def test_an_unknown_operator_is_refused() -> None:
    with pytest.raises(UnsupportedOperator, match=r"Unsupported operator: \$foo"):
        item_matcher({"n": {"$foo": 1}})


def test_a_small_page_reads_on_past_its_first_pages(items: ItemStore, clock: Clock) -> None:
    for i in range(12):
        clock.advance_minutes(1)
        items.put(("p", str(i % 3)), f"k{i}", {"i": i})
    for offset in range(11):
        found = items.search(("p",), offset=offset, limit=2)
        assert [item.value["i"] for item in found] == [11 - offset, 10 - offset][: 12 - offset]
