"""Where a running `threadwatch dev` listens, recorded in its data dir (``.threadwatch/dev.json``)
so that the operator commands run in the same folder find its embedded Redis without REDIS_URL.

The embedded Redis gets a free port at each start, so its URL cannot be guessed. dev writes
the record once the server answers and removes it when it stops. A dev that was killed
(SIGKILL, a crash, a reboot) leaves its record behind; a record is believed only while the
Redis at its URL answers with the run id recorded (Valkey's random ``run_id``, new at each
start), so a stale one, or one whose port another server took since, is never used.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

RECORD_NAME = "dev.json"
CHECK_TIMEOUT = 2.0


@dataclass(frozen=True)
class DevRecord:
    pid: int  # the `threadwatch dev` process
    redis_url: str
    redis_run_id: str  # INFO server run_id of the embedded server
    api_url: str


def record_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / RECORD_NAME


def write_record(data_dir: str | Path, record: DevRecord) -> Path:
    """Write the record atomically (a reader never sees half of it); return its path."""
    path = record_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{RECORD_NAME}.{os.getpid()}")
    partial.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def remove_record(data_dir: str | Path, pid: int) -> None:
    """Remove the record if it is the one `pid` wrote (never another dev's)."""
    path = record_path(data_dir)
    record = read_record(data_dir)
    if record is not None and record.pid == pid:
        path.unlink(missing_ok=True)


def read_record(data_dir: str | Path) -> DevRecord | None:
    """The record as written, or None when there is none or it is unreadable."""
    try:
        data = json.loads(record_path(data_dir).read_text(encoding="utf-8"))
        return DevRecord(
            pid=int(data["pid"]),
            redis_url=str(data["redis_url"]),
            redis_run_id=str(data["redis_run_id"]),
            api_url=str(data["api_url"]),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def is_live(record: DevRecord) -> bool:
    """Whether the Redis at the record's URL is the very server the record names."""
    try:
        with redis.Redis.from_url(
            record.redis_url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
        ) as client:
            return client.info("server").get("run_id") == record.redis_run_id
    except (redis.RedisError, OSError, ValueError):
        return False


def find_dev(data_dir: str | Path) -> tuple[DevRecord | None, DevRecord | None]:
    """(live, stale): the record of the dev running on this data dir, or the stale record a
    dev that is gone left there; (None, None) when there is no readable record."""
    record = read_record(data_dir)
    if record is None:
        return None, None
    return (record, None) if is_live(record) else (None, record)
