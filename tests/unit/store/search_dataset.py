"""The search tests' dataset and their brute-force reference (shared with the integration
tier, which runs the same queries on a real server).

The reference filters with `contains` (Postgres `@>`) and sorts by (key, thread_id), reversed
for descending order; sort_by=status orders by the status text, then thread_id.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from tests.unit.helpers import KEYS, at, event, us
from threadwatch.store.codec import thread_id_of, thread_member
from threadwatch.store.metadata_index import MAX_VALUE_BYTES, contains
from threadwatch.store.search import ThreadQuery
from threadwatch.store.stores import Stores

N_THREADS = 300
LONG_A, LONG_B = "a" * (MAX_VALUE_BYTES + 1), "b" * (MAX_VALUE_BYTES + 1)
OUTCOMES = [None, "run.pending", "run.started", "run.succeeded", "run.interrupted",
            "run.failed", "run.timeout", "run.cancelled"]  # fmt: skip


def random_metadata(rng: random.Random) -> dict[str, Any]:
    meta: dict[str, Any] = {"user": f"u{rng.randrange(7)}"}
    optional = {
        "team": lambda: rng.choice(["red", "blue"]),
        "n": lambda: rng.choice([0, 1, 2, 1.0, 2.5, 10**20]),
        "flag": lambda: rng.choice([True, False, 1, 0]),
        "tags": lambda: rng.sample(["a", "b", "c", "d"], rng.randrange(4)),
        "nested": lambda: {"env": rng.choice(["prod", "dev"]), "region": rng.choice("EU")},
        "items": lambda: [
            {"k": rng.randrange(3), "v": rng.choice("xy")} for _ in range(rng.randrange(3))
        ],
        "long": lambda: rng.choice([LONG_A, LONG_B]),
        "maybe": lambda: rng.choice([None, "x"]),
    }
    for key, make in optional.items():
        if rng.random() < 0.6:
            meta[key] = make()
    return meta


def populate(stores: Stores, rng: random.Random) -> None:
    """Threads with random metadata, statuses from run events, and coarse timestamps."""
    events = []
    for i in range(N_THREADS):
        thread_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        stores.threads.create(thread_id, random_metadata(rng))
        outcome = OUTCOMES[i % len(OUTCOMES)]
        if outcome:
            fields: dict[str, Any] = {"at": at(i)}
            if rng.random() < 0.7:
                step = rng.randrange(4)
                fields["values"] = {"step": step, "messages": [{"role": rng.choice(["ai", "hu"])}]}
            if rng.random() < 0.3:
                fields["metadata"] = {"graph_id": rng.choice(["g1", "g2"])}
            if outcome == "run.cancelled" and rng.random() < 0.5:
                fields["next"] = []
            run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            events.append(event(thread_id, run_id, outcome, **fields))
    stores.runs.apply(events)
    for thread_id in all_ids(stores):
        # Seconds on a coarse grid, so that ties (broken by thread_id) are common.
        for field, spread in (("created_at", 100), ("updated_at", 30), ("state_updated_at", 5)):
            when = us(at(rng.randrange(spread)))
            stores.redis.hset(KEYS.thread(thread_id), field, when)
            stores.redis.zadd(KEYS.order(field), {thread_member(thread_id): when})


def all_ids(stores: Stores) -> list[str]:
    return [thread_id_of(m) for m in stores.redis.zrange(KEYS.order("thread_id"), 0, -1)]


def reference(threads: list[dict[str, Any]], q: ThreadQuery) -> list[dict[str, Any]]:
    """The whole ordered result of `q`, computed by brute force (no offset or limit)."""
    rows = [
        t
        for t in threads
        if (q.ids is None or t["thread_id"] in q.ids)
        and (q.status is None or t["status"] == q.status)
        and contains(t["metadata"], q.metadata)
        and (not q.values or contains(t["values"], q.values))
        and old_enough(t, q)
    ]
    field = q.sort_by if q.sort_by != "thread_id" else None
    rows.sort(key=lambda t: (t[field] if field else "", t["thread_id"]))
    return rows[::-1] if q.sort_order == "desc" else rows


def old_enough(thread: dict[str, Any], q: ThreadQuery) -> bool:
    """In its status since at least q.min_status_age_seconds before q.now_us (which the
    reference needs: it has no clock of its own)."""
    if q.min_age_us is None:
        return True
    assert q.now_us is not None, "the reference needs the query's now_us"
    return us(thread["status_since"]) <= q.now_us - q.min_age_us


def ids_of(threads: list[dict[str, Any]]) -> list[str]:
    return [t["thread_id"] for t in threads]


def some_ids(threads: list[dict[str, Any]], step: int) -> tuple[str, ...]:
    """Every `step`-th id, a duplicate, and an unknown id."""
    ids = ids_of(threads)[::step]
    return (*ids, ids[0], str(uuid.UUID(int=0, version=4)))


FILTERS: list[dict[str, Any]] = [
    {},
    {"status": "idle"},
    {"status": "busy"},
    {"status": "error"},
    {"metadata": {"user": "u1"}},
    {"metadata": {"user": "u1", "team": "red"}},
    {"metadata": {"n": 1}},
    {"metadata": {"n": 2.5}},
    {"metadata": {"n": 1e20}},
    {"metadata": {"flag": True}},
    {"metadata": {"flag": 1}},
    {"metadata": {"tags": ["a"]}},
    {"metadata": {"tags": ["c", "a"]}},
    {"metadata": {"tags": []}},
    {"metadata": {"nested": {"env": "prod"}}},
    {"metadata": {"nested": {"env": "dev", "region": "E"}}, "status": "interrupted"},
    {"metadata": {"maybe": None}},
    {"metadata": {"graph_id": "g1"}},
    {"metadata": {"user": "nobody"}},
    {"metadata": {"items": [{"k": 1}]}},
    {"metadata": {"items": [{"k": 2, "v": "x"}], "user": "u3"}},
    {"metadata": {"long": LONG_A}},
    {"metadata": {"long": LONG_B}, "status": "idle"},
    {"values": {"step": 2}},
    {"values": {"messages": [{"role": "ai"}]}, "status": "error"},
    {"values": {}, "metadata": {"team": "blue"}},
    {"ids": 3},
    {"ids": 2, "status": "busy"},
    {"ids": 4, "metadata": {"team": "red"}},
    {"ids": 2, "metadata": {"items": [{"v": "y"}]}},
    {"ids": 0},
]


def make_query(spec: dict[str, Any], everything: list[dict[str, Any]], **kw: Any) -> ThreadQuery:
    spec = dict(spec)
    if "ids" in spec:
        step = spec.pop("ids")
        spec["ids"] = some_ids(everything, step) if step else ()
    return ThreadQuery(**spec, **kw)
