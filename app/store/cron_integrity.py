"""The doctor's pass over the crons (app/store/crons.py has their layout): each cron hash is
indexed as CronStore.put indexes it, and no index member names a cron that is gone (or, in
an assistant's or thread's set, a cron of another). Repairs write the entries from the hash;
a due entry a claim moves meanwhile is put back in line by lua/claim_cron.lua itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from redis import Redis

from threadwatch.store.codec import text
from threadwatch.store.keys import Keys

CRON_PROBLEMS: dict[str, str] = {
    "cron_index": "cron missing from an index its hash puts it in (crons, its assistant's or "
    "thread's set, crons:due while enabled), or scored otherwise",
    "cron_dangling": "crons, crons:due, assistant or thread set member without a cron hash "
    "of that assistant or thread (repair drops it)",
}
# What the indexes of a cron follow (CronIntegrity._expected reads them in this order).
CRON_FIELDS = ("assistant_id", "thread_id", "enabled", "next_run_date", "created_at")
Report = Callable[[str, str, bool], None]
ScanKeys = Callable[[str, str], Iterator[list[str]]]


class CronIntegrity:
    """Checks and repairs the cron indexes of the store at ``redis``."""

    def __init__(self, redis: Redis, keys: Keys, scan_keys: ScanKeys) -> None:
        self.redis, self.keys, self.scan_keys = redis, keys, scan_keys

    def run(self, report: Report, repair: bool) -> int:
        """Both checks; the number of cron hashes seen."""
        seen = 0
        for cron_ids in self.scan_keys(self.keys.cron(""), "hash"):
            seen += len(cron_ids)
            suspects = {cron_id for cron_id, _ in self._misindexed(cron_ids)}
            # Read again at one instant (MULTI): a claim or an update may have been under way.
            for cron_id, wrong in self._misindexed(sorted(suspects), at_once=True):
                report("cron_index", f"{cron_id}: {wrong}", repair and self._reindex(cron_id))
        for key, member, owner_field in self._members():
            if not self._owned(member, owner_field, key) and self._unowned_at_once(
                key, member, owner_field
            ):
                report("cron_dangling", f"{key} holds {member}", repair and self._drop(key, member))
        return seen

    # -- hashes --------------------------------------------------------------------------

    def _expected(self, cron_id: str, fields: list[bytes | None]) -> dict[str, float | None]:
        """Each index key of the cron -> the score (sets: 1) its hash says it has there,
        None where it must be absent."""
        assistant_id, thread_id, enabled, next_run, created_at = fields
        keys = self.keys
        expected: dict[str, float | None] = {keys.crons(): float(created_at or 0)}
        expected[keys.crons_of_assistant(text(assistant_id or b""))] = 1
        if thread_id:
            expected[keys.crons_of_thread(text(thread_id))] = 1
        due = enabled == b"1" and bool(next_run)
        expected[keys.crons_due()] = float(next_run or 0) if due else None
        return expected

    def _misindexed(self, cron_ids: list[str], at_once: bool = False) -> Iterable[tuple[str, str]]:
        """Each cron's index entries that differ from what its hash says; ``at_once``: the
        hash and its entries read in one MULTI, whose entries are those the hash named a
        moment before (a cron's assistant and thread never change)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for cron_id in cron_ids:
                pipe.hmget(self.keys.cron(cron_id), *CRON_FIELDS)
            rows = pipe.execute()
        for cron_id, fields in zip(cron_ids, rows, strict=True):
            if fields[0] is None:
                continue  # deleted meanwhile
            keys = list(self._expected(cron_id, fields))
            if at_once:
                fields, actual = self._read(cron_id, keys, fields=True)
                if fields[0] is None:
                    continue
            else:
                _, actual = self._read(cron_id, keys)
            expected = self._expected(cron_id, fields)
            for key, score in expected.items():
                if key in actual and actual[key] != score:
                    yield cron_id, f"{key}: {actual[key]} instead of {score}"

    def _read(
        self, cron_id: str, keys: list[str], fields: bool = False
    ) -> tuple[list[bytes | None], dict[str, float | None]]:
        """The cron's entries in ``keys`` (and with ``fields`` its hash, in one MULTI)."""
        with self.redis.pipeline(transaction=fields) as pipe:
            if fields:
                pipe.hmget(self.keys.cron(cron_id), *CRON_FIELDS)
            for key in keys:
                if self._is_set(key):
                    pipe.sismember(key, cron_id)
                else:
                    pipe.zscore(key, cron_id)
            replies = pipe.execute()
        row = replies.pop(0) if fields else []
        found: dict[str, float | None] = {}
        for key, reply in zip(keys, replies, strict=True):
            if self._is_set(key):
                found[key] = 1 if reply else None
            else:
                found[key] = None if reply is None else float(reply)
        return row, found

    def _reindex(self, cron_id: str) -> bool:
        """Write the cron's index entries from its hash, at once (MULTI)."""
        fields = self.redis.hmget(self.keys.cron(cron_id), *CRON_FIELDS)
        if fields[0] is None:
            return False
        with self.redis.pipeline() as pipe:
            for key, score in self._expected(cron_id, fields).items():
                if self._is_set(key):
                    pipe.sadd(key, cron_id)
                elif score is None:
                    pipe.zrem(key, cron_id)
                else:
                    pipe.zadd(key, {cron_id: score})
            pipe.execute()
        return True

    # -- members -------------------------------------------------------------------------

    def _members(self) -> Iterator[tuple[str, str, str | None]]:
        """(index key, cron id, the hash field naming the index's owner, or None)."""
        for key in (self.keys.crons(), self.keys.crons_due()):
            for member in self.redis.zrange(key, 0, -1):
                yield key, text(member), None
        for prefix, owner_field in (
            (self.keys.crons_of_assistant(""), "assistant_id"),
            (self.keys.crons_of_thread(""), "thread_id"),
        ):
            for names in self.scan_keys(prefix, "set"):
                for name in names:
                    for member in self.redis.smembers(prefix + name):
                        yield prefix + name, text(member), owner_field

    def _owned(self, cron_id: str, owner_field: str | None, key: str) -> bool:
        """Whether the cron's hash exists and, for an owner's set, names that owner."""
        if owner_field is None:
            return bool(self.redis.exists(self.keys.cron(cron_id)))
        owner = self.redis.hget(self.keys.cron(cron_id), owner_field)
        return owner is not None and key.endswith(":" + text(owner))

    def _unowned_at_once(self, key: str, cron_id: str, owner_field: str | None) -> bool:
        """Whether ``key`` still holds the cron while it is gone or another's, read at one
        instant (MULTI)."""
        with self.redis.pipeline(transaction=True) as pipe:
            if self._is_set(key):
                pipe.sismember(key, cron_id)
            else:
                pipe.zscore(key, cron_id)
            pipe.hget(self.keys.cron(cron_id), owner_field or "assistant_id")
            held, owner = pipe.execute()
        if held in (None, 0, False):
            return False
        return owner is None or (owner_field is not None and not key.endswith(":" + text(owner)))

    def _drop(self, key: str, cron_id: str) -> bool:
        if self._is_set(key):
            return bool(self.redis.srem(key, cron_id))
        return bool(self.redis.zrem(key, cron_id))

    def _is_set(self, key: str) -> bool:
        return key.startswith((self.keys.crons_of_assistant(""), self.keys.crons_of_thread("")))
