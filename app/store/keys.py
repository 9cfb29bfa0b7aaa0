"""Every Redis key name threadwatch uses is built here and nowhere else.

Layout (prefix ``tw:`` by default):

    {p}thread:{id}              hash   one thread (see codec.py for its fields)
    {p}thread:{id}:runs         zset   run ids of the thread, scored by created_at (µs)
    {p}run:{run_id}             hash   one run
    {p}status:{status}          zset   thread ids in that status, scored by status_since (µs)
    {p}order:{field}            zset   every thread id, scored by created_at / updated_at /
                                       state_updated_at (µs); ``order:thread_id`` scores 0
                                       so that rank order is thread_id order
    {p}mi:{json}                set    thread ids whose metadata holds one leaf (see
                                       metadata_index.py); user text only appears JSON-encoded
    {p}scratch                  zset   temporary result of a search script, deleted before
                                       the script returns
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from app.domain import ThreadStatus

SORT_FIELDS = ("created_at", "updated_at", "state_updated_at", "thread_id")


@dataclass(frozen=True)
class Keys:
    """Key builder bound to one prefix."""

    prefix: str = "tw:"

    def thread(self, thread_id: str) -> str:
        return f"{self.prefix}thread:{thread_id}"

    def thread_runs(self, thread_id: str) -> str:
        return f"{self.prefix}thread:{thread_id}:runs"

    def run(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}"

    def status(self, status: ThreadStatus | str) -> str:
        return f"{self.prefix}status:{ThreadStatus(status).value}"

    @cached_property
    def statuses(self) -> tuple[str, ...]:
        """The four status sets, in ThreadStatus order."""
        return tuple(self.status(s) for s in ThreadStatus)

    def order(self, field: str) -> str:
        if field not in SORT_FIELDS:
            raise ValueError(f"no sort index for {field!r}")
        return f"{self.prefix}order:{field}"

    @cached_property
    def orders(self) -> tuple[str, ...]:
        """The sort indexes, in SORT_FIELDS order."""
        return tuple(self.order(f) for f in SORT_FIELDS)

    def metadata_leaf(self, encoded_leaf: str) -> str:
        """Index set for one metadata leaf, already encoded by metadata_index."""
        return f"{self.prefix}mi:{encoded_leaf}"

    def scratch(self) -> str:
        return f"{self.prefix}scratch"
