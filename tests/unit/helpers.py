"""Builders and checks shared by the unit tests (the fixtures live in conftest.py).

`index_violations` is the one description of what a consistent keyspace looks like (see
app/store/keys.py for the layout): the store tests, the transition properties and the
search dataset all assert that it finds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi.testclient import TestClient
from redis import Redis

from threadwatch.api.app import create_app, serve_from
from threadwatch.domain import ThreadStatus
from threadwatch.graphs import EMPTY_REGISTRY, GraphRegistry
from threadwatch.models import RunEvent
from threadwatch.settings import Settings
from threadwatch.store.assistants import AssistantStore
from threadwatch.store.codec import thread_id_of, thread_member
from threadwatch.store.crons import CronStore
from threadwatch.store.keys import SORT_FIELDS, Keys
from threadwatch.store.metadata_index import metadata_leaves
from threadwatch.store.runs import RunStore
from threadwatch.store.scripts import Scripts
from threadwatch.store.search import ThreadSearch
from threadwatch.store.stores import Stores
from threadwatch.store.threads import ThreadStore

# Event times are refused before 2000 and beyond the server clock, so tests count from here.
BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
KEYS = Keys()


def make_stores(redis: Redis, walk_budget: int = 20_000) -> Stores:
    """The stores of one client, wired as the API's lifespan wires them."""
    scripts = Scripts(redis)
    threads = ThreadStore(redis, KEYS, scripts)
    search = ThreadSearch(redis, KEYS, threads, walk_budget)
    runs = RunStore(redis, KEYS, scripts)
    assistants = AssistantStore(redis, KEYS, scripts)
    return Stores(redis, threads, search, runs, assistants, CronStore(redis, KEYS, scripts))


def make_client(
    redis: Redis, max_body_bytes: int = 1024 * 1024, graphs: GraphRegistry | None = None
) -> TestClient:
    """A client of the API on `redis`, without the lifespan (which would connect to Redis):
    the stores, and `graphs` if given, go where the lifespan would put them. 5xx come back
    as responses."""
    settings = Settings(
        redis_url="redis://unused", max_body_bytes=max_body_bytes, run_timeout_seconds=60
    )
    app = create_app(settings)
    registry = graphs if graphs is not None else EMPTY_REGISTRY
    serve_from(app, make_stores(redis), registry, settings)
    return TestClient(app, raise_server_exceptions=False)


def at(seconds: float) -> datetime:
    """An event time `seconds` after BASE_TIME."""
    return BASE_TIME + timedelta(seconds=seconds)


def us(when: datetime | str) -> int:
    """Microseconds since the epoch of a datetime or of an API timestamp string."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return round(when.timestamp() * 1_000_000)


def event(thread_id: str, run_id: str, type: str, **fields: Any) -> RunEvent:
    return RunEvent.model_validate(
        {"thread_id": thread_id, "run_id": run_id, "type": type, **fields}
    )


def keyspace(redis: Redis) -> set[str]:
    return {key.decode() for key in redis.keys("*")}


def thread_hash(redis: Redis, thread_id: str) -> dict[str, str]:
    raw = redis.hgetall(KEYS.thread(thread_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


def thread_ids(redis: Redis) -> list[str]:
    """Ids of every stored thread hash."""
    prefix = KEYS.thread("")
    found = (key.decode() for key in redis.keys(f"{prefix}*"))
    # thread:{id} only, not thread:{id}:runs or thread:{id}:transitions
    return sorted(key[len(prefix) :] for key in found if ":" not in key[len(prefix) :])


def index_violations(redis: Redis) -> list[str]:
    """Every way the indexes disagree with the thread hashes (empty when consistent)."""
    problems: list[str] = []
    ids = thread_ids(redis)
    for thread_id in ids:
        problems += _thread_violations(redis, thread_id)
    problems += _dangling_members(redis, set(ids))
    problems += _leaf_set_violations(redis, ids)
    return problems


def _thread_violations(redis: Redis, thread_id: str) -> list[str]:
    h = thread_hash(redis, thread_id)
    problems = []
    member_of = [
        s.value
        for s in ThreadStatus
        if redis.zscore(KEYS.status(s), thread_member(thread_id)) is not None
    ]
    if member_of != [h["status"]]:
        problems.append(f"{thread_id}: status {h['status']!r} but in status sets {member_of}")
    elif redis.zscore(KEYS.status(h["status"]), thread_member(thread_id)) != int(h["status_since"]):
        problems.append(f"{thread_id}: status score != status_since {h['status_since']}")
    for field in SORT_FIELDS:
        score = redis.zscore(KEYS.order(field), thread_member(thread_id))
        want = 0 if field == "thread_id" else int(h[field])
        if score != want:
            problems.append(f"{thread_id}: order:{field} score {score} != {want}")
    for run_id in redis.zrange(KEYS.thread_runs(thread_id), 0, -1):
        owner = redis.hget(KEYS.run(run_id.decode()), "thread_id")
        if owner is None or owner.decode() != thread_id:
            problems.append(f"{thread_id}: run {run_id.decode()} owned by {owner!r}")
    return problems


def _dangling_members(redis: Redis, ids: set[str]) -> list[str]:
    problems = []
    for key in [*KEYS.statuses, *KEYS.orders]:
        for member in redis.zrange(key, 0, -1):
            if thread_id_of(member) not in ids:
                problems.append(f"{key} holds {member!r}, which has no thread hash")
    return problems


def leaf_holders(redis: Redis, leaf: str, status: ThreadStatus | str | None = None) -> set[str]:
    """Ids of the threads in the leaf sets of one encoded leaf: of one status, or of all."""
    leaf_id = redis.hget(KEYS.leaf_ids(), KEYS.metadata_leaf(leaf))
    if leaf_id is None:
        return set()
    statuses = [status] if status else list(ThreadStatus)
    return {
        thread_id_of(member)
        for s in statuses
        for member in redis.smembers(KEYS.leaf_set(s, leaf_id.decode()))
    }


def _leaf_set_violations(redis: Redis, ids: list[str]) -> list[str]:
    """Each per-status leaf set (lua/lib/leaf_sets.lua) holds exactly the threads in that
    status whose metadata has that leaf; a thread's ``leaves`` are its leaves' ids, every
    registered leaf has members, and the store is marked fully indexed (``#sets``)."""
    registry = {k.decode(): v.decode() for k, v in redis.hgetall(KEYS.leaf_ids()).items()}
    problems = []
    if ids and registry.get("#sets") != "1":
        problems.append("leaf ids: #sets is not set")
    expected: dict[str, set[str]] = {}
    for thread_id in ids:
        h = thread_hash(redis, thread_id)
        names = [KEYS.metadata_leaf(leaf) for leaf in metadata_leaves(orjson.loads(h["metadata"]))]
        want = " ".join(sorted(registry.get(name, "?") for name in names))
        if h.get("leaves") != want:
            problems.append(f"{thread_id}: leaves {h.get('leaves')!r} != {want!r}")
        for name in names:
            key = KEYS.leaf_set(h["status"], registry.get(name, "?"))
            expected.setdefault(key, set()).add(thread_id)
    actual = {
        key.decode(): {thread_id_of(m) for m in redis.smembers(key)}
        for key in redis.keys(f"{KEYS.leaf_set_prefix}*")
    }
    problems += [
        f"leaf set {key}: holds {sorted(actual.get(key, set()))}, "
        f"expected {sorted(expected.get(key, set()))}"
        for key in sorted(set(expected) | set(actual))
        if actual.get(key, set()) != expected.get(key, set())
    ]
    used = {key.rpartition(":")[2] for key in actual}
    unused = {name for name, i in registry.items() if not name.startswith("#") and i not in used}
    if unused:
        problems.append(f"leaf ids: registered without members {sorted(unused)}")
    legacy = redis.keys(f"{KEYS.metadata_leaf('')}*") + redis.keys(KEYS.legacy_leaf_counts())
    if legacy:
        problems.append(f"keys of the earlier layout: {sorted(legacy)}")
    return problems
