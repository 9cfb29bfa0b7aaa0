"""A settable clock for fakeredis's TIME (the clock every store script stamps with), so that
TTL tests move time instead of waiting for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from fakeredis._commands import command
from fakeredis.commands_mixins.server_mixin import ServerCommandsMixin


@dataclass
class Clock:
    now_us: int = 1_800_000_000_000_000

    def advance_minutes(self, minutes: float) -> None:
        self.now_us += round(minutes * 60_000_000)


@contextmanager
def settable_clock() -> Iterator[Clock]:
    """fakeredis's TIME reads the clock yielded here, until the block ends."""
    clock = Clock()

    @command(())
    def time(self: ServerCommandsMixin) -> list[bytes]:
        seconds, micros = divmod(clock.now_us, 1_000_000)
        return [str(seconds).encode(), str(micros).encode()]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ServerCommandsMixin, "time", time)
        yield clock
