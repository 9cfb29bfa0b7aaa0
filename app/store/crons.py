"""Cron records: put, read, patch, delete, search, count, and the due firings.

One hash per cron (``cron:{id}``) holds its fields: ids and texts as they are, times as
integer µs ("" for none), ``payload`` and ``metadata`` as the JSON the API returns,
``enabled`` "1" or "0". Indexes, written in the same MULTI as the hash:

- ``crons``: every cron, by created_at: the default search order, and count;
- ``crons:assistant:{id}`` and ``crons:thread:{id}``: the crons of an assistant, of a thread,
  so that a search or count by either reads those ids only, never a SCAN;
- ``crons:due``: the enabled crons by their next firing, which the scheduler reads; a
  firing is claimed, and the next one set, by lua/claim_cron.lua alone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis import Redis

from threadwatch.store.codec import RawJSON, decode_hash, dumps, text, us_to_iso
from threadwatch.store.counters import count, field
from threadwatch.store.keys import Keys
from threadwatch.store.scripts import CronClaim, Scripts

# The order of a cron's fields in the API (LangGraph's Cron).
CRON_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "user_id",
    "end_time",
    "schedule",
    "timezone",
    "payload",
    "next_run_date",
    "metadata",
    "on_run_completed",
    "enabled",
    "created_at",
    "updated_at",
)
TIME_FIELDS = ("end_time", "next_run_date", "created_at", "updated_at")
TEXT_FIELDS = ("assistant_id", "thread_id", "user_id", "timezone", "on_run_completed")


@dataclass
class Cron:
    """One cron as stored: times in µs, None where unset."""

    cron_id: str
    assistant_id: str
    thread_id: str | None
    schedule: str
    timezone: str | None
    payload: dict[str, Any]
    metadata: dict[str, Any]
    on_run_completed: str | None
    enabled: bool
    end_time: int | None
    # None once the schedule has no further firing (cron_schedule.NeverFires).
    next_run_date: int | None
    created_at: int
    updated_at: int
    user_id: str | None = None

    def to_hash(self) -> dict[str, Any]:
        """The hash fields (None as "")."""
        fields: dict[str, Any] = {
            "cron_id": self.cron_id,
            "schedule": self.schedule,
            "payload": dumps(self.payload),
            "metadata": dumps(self.metadata),
            "enabled": "1" if self.enabled else "0",
        }
        for name in (*TEXT_FIELDS, *TIME_FIELDS):
            value = getattr(self, name)
            fields[name] = "" if value is None else value
        return fields

    @classmethod
    def from_hash(cls, raw: Mapping[str, bytes]) -> Cron:
        def optional(name: str) -> str | None:
            value = raw.get(name)
            return text(value) if value else None

        def time_of(name: str) -> int | None:
            value = optional(name)
            return int(value) if value is not None else None

        return cls(
            cron_id=text(raw["cron_id"]),
            assistant_id=text(raw["assistant_id"]),
            thread_id=optional("thread_id"),
            schedule=text(raw["schedule"]),
            timezone=optional("timezone"),
            payload=orjson.loads(raw["payload"]),
            metadata=orjson.loads(raw["metadata"]),
            on_run_completed=optional("on_run_completed"),
            enabled=raw.get("enabled") == b"1",
            end_time=time_of("end_time"),
            next_run_date=time_of("next_run_date"),
            created_at=int(raw["created_at"]),
            updated_at=int(raw["updated_at"]),
            user_id=optional("user_id"),
        )


def api_cron(raw: Mapping[str, bytes]) -> dict[str, Any]:
    """A cron hash in LangGraph's Cron shape; JSON fields spliced in as stored."""
    cron: dict[str, Any] = {}
    for name in CRON_FIELDS:
        value = raw.get(name) or b""
        if name in ("payload", "metadata"):
            cron[name] = RawJSON(value or b"{}")
        elif name == "enabled":
            cron[name] = value == b"1"
        elif name in TIME_FIELDS:
            cron[name] = us_to_iso(int(value)) if value else None
        else:
            cron[name] = text(value) if value else None
    return cron


class CronStore:
    """The crons of one Redis client."""

    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts) -> None:
        self.redis, self.keys, self.scripts = redis, keys, scripts

    # -- write ---------------------------------------------------------------------------

    def put(self, cron: Cron) -> None:
        """Store a new cron with its index entries, at once (MULTI)."""
        keys = self.keys
        with self.redis.pipeline() as pipe:
            pipe.hset(keys.cron(cron.cron_id), mapping=cron.to_hash())
            pipe.zadd(keys.crons(), {cron.cron_id: cron.created_at})
            pipe.sadd(keys.crons_of_assistant(cron.assistant_id), cron.cron_id)
            if cron.thread_id:
                pipe.sadd(keys.crons_of_thread(cron.thread_id), cron.cron_id)
            if cron.enabled and cron.next_run_date is not None:
                pipe.zadd(keys.crons_due(), {cron.cron_id: cron.next_run_date})
            pipe.execute()

    def save(self, cron: Cron, fields: Collection[str]) -> None:
        """Write the ``fields`` a PATCH changed, and the due entry they move, at once
        (MULTI). Only a new schedule or zone writes next_run_date: any other PATCH leaves
        the firing a concurrent claim may have moved on where the claim put it. Enabled
        again (or given a new end time), the cron's due entry is written from the caller's
        reading, which a claim may have outdated: lua/claim_cron.lua then puts the entry
        back in line with the hash, so a firing is never fired twice."""
        mapping = {k: v for k, v in cron.to_hash().items() if k in fields}
        with self.redis.pipeline() as pipe:
            pipe.hset(self.keys.cron(cron.cron_id), mapping=mapping)
            if {"next_run_date", "enabled", "end_time"} & set(fields):
                if cron.enabled and cron.next_run_date is not None:
                    pipe.zadd(self.keys.crons_due(), {cron.cron_id: cron.next_run_date})
                else:
                    pipe.zrem(self.keys.crons_due(), cron.cron_id)
            pipe.execute()

    def delete(self, cron_id: str) -> bool:
        """Remove the cron and its index entries; False if there was none."""
        raw = self.redis.hmget(self.keys.cron(cron_id), "assistant_id", "thread_id")
        if raw[0] is None:
            return False
        with self.redis.pipeline() as pipe:
            self._unindex(pipe, cron_id, text(raw[0]), text(raw[1] or b""))
            pipe.delete(self.keys.cron(cron_id))
            deleted = pipe.execute()[-1]
        return bool(deleted)

    def delete_for_threads(self, thread_ids: Sequence[str]) -> int:
        """Remove every cron of these threads (they are gone, and their crons go with them,
        as on LangGraph); how many there were."""
        with self.redis.pipeline(transaction=False) as pipe:
            for thread_id in thread_ids:
                pipe.smembers(self.keys.crons_of_thread(thread_id))
            found = pipe.execute()
        return sum(self.delete(text(cron_id)) for members in found for cron_id in members)

    def delete_for_assistant(self, assistant_id: str) -> int:
        """Remove every cron of the assistant (deleted: its crons go with it, as on
        LangGraph); how many there were."""
        members = self.redis.smembers(self.keys.crons_of_assistant(assistant_id))
        return sum(self.delete(text(cron_id)) for cron_id in members)

    def _unindex(self, pipe: Any, cron_id: str, assistant_id: str, thread_id: str) -> None:
        keys = self.keys
        pipe.zrem(keys.crons(), cron_id)
        pipe.zrem(keys.crons_due(), cron_id)
        pipe.srem(keys.crons_of_assistant(assistant_id), cron_id)
        if thread_id:
            pipe.srem(keys.crons_of_thread(thread_id), cron_id)

    # -- read ----------------------------------------------------------------------------

    def read(self, cron_id: str) -> Cron | None:
        raw = self.redis.hgetall(self.keys.cron(cron_id))
        return Cron.from_hash(decode_hash(raw)) if raw else None

    def get(self, cron_id: str) -> dict[str, Any] | None:
        """The cron in the API's shape, or None."""
        raw = self.redis.hgetall(self.keys.cron(cron_id))
        return api_cron(decode_hash(raw)) if raw else None

    def candidates(self, assistant_id: str | None, thread_id: str | None) -> list[str]:
        """Ids of the crons of the assistant and/or thread (every cron without either),
        from the indexes."""
        keys = self.keys
        sets = [
            *([keys.crons_of_assistant(assistant_id)] if assistant_id else []),
            *([keys.crons_of_thread(thread_id)] if thread_id else []),
        ]
        if not sets:
            return [text(m) for m in self.redis.zrange(keys.crons(), 0, -1)]
        return [text(m) for m in self.redis.sinter(sets)]

    def count_of(self, assistant_id: str | None, thread_id: str | None) -> int:
        """How many crons of the assistant and/or thread, from the indexes alone."""
        keys = self.keys
        if assistant_id and thread_id:
            sets = [keys.crons_of_assistant(assistant_id), keys.crons_of_thread(thread_id)]
            return int(self.redis.sintercard(2, sets))
        if assistant_id:
            return int(self.redis.scard(keys.crons_of_assistant(assistant_id)))
        if thread_id:
            return int(self.redis.scard(keys.crons_of_thread(thread_id)))
        return int(self.redis.zcard(keys.crons()))

    def read_many(self, cron_ids: Sequence[str]) -> list[dict[str, bytes]]:
        """The hashes of these crons (those still stored), in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for cron_id in cron_ids:
                pipe.hgetall(self.keys.cron(cron_id))
            return [decode_hash(raw) for raw in pipe.execute() if raw]

    # -- firing --------------------------------------------------------------------------

    def due(self, now_us: int, limit: int) -> list[tuple[str, int]]:
        """(cron_id, firing µs) of up to ``limit`` enabled crons due at ``now_us``, the
        earliest first."""
        entries: list[Any] = self.redis.zrangebyscore(
            self.keys.crons_due(), "-inf", now_us, start=0, num=limit, withscores=True
        )
        return [(text(entry[0]), int(entry[1])) for entry in entries]

    def claim(
        self, cron_id: str, firing_us: int, following_us: int | None, now_us: int
    ) -> CronClaim:
        """Claim the cron's firing at ``firing_us`` and set the next one (None: there is
        none); exactly one caller gets CLAIMED for a firing (lua/claim_cron.lua)."""
        following = "" if following_us is None else following_us
        return self.scripts.claim_cron(
            keys=[self.keys.crons_due(), self.keys.cron(cron_id)],
            args=[cron_id, firing_us, following, now_us],
        )

    def record_check(self, finished_at_us: int, fired: int, failed: int) -> None:
        """What the scheduler's last check did, and its firings added to the Prometheus
        counters (threadwatch_cron_firings_total), in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(
                self.keys.cron_checks(),
                mapping={"last_finished_at": finished_at_us, "fired": fired, "failed": failed},
            )
            for outcome, n in (("fired", fired), ("failed", failed)):
                if n:
                    count(pipe, self.keys, field("crons", outcome), n)
            pipe.execute()
