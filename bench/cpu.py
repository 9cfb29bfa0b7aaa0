"""How much CPU other processes used while the benchmark ran (the machine may be shared).

Linux only (/proc); elsewhere the figures are None. "Ours" is this process and every
descendant (loader and client processes, the server it started, the API), and the
children they have reaped.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy() -> float | None:
    """Busy CPU-seconds of the whole machine since boot."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICKS


def tree_cpu(root: int) -> float:
    """CPU-seconds used by `root` and its living descendants, and by the descendants they
    have reaped (a server the benchmark stopped keeps counting as its own)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        pid = int(entry.name)
        parents[pid] = int(rest[1])
        # utime + stime, and cutime + cstime: the children it has reaped.
        cpu[pid] = sum(int(v) for v in rest[11:15]) / TICKS
    total, stack = 0.0, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        pid = stack.pop()
        total += cpu.get(pid, 0.0)
        stack.extend(children.get(pid, ()))
    return total


class CpuWatch:
    """Others' CPU use between start() and others_percent() (100 = one full core)."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self._busy = _machine_busy()
        self._ours = tree_cpu(os.getpid()) if self._busy is not None else 0.0
        self._wall = os.times().elapsed

    def others_percent(self) -> float | None:
        busy = _machine_busy()
        if busy is None or self._busy is None:
            return None
        wall = os.times().elapsed - self._wall
        others = (busy - self._busy) - (tree_cpu(os.getpid()) - self._ours)
        return max(0.0, others) / max(wall, 1e-9) * 100

    def others_line(self) -> str | None:
        """The closing line every benchmark prints: what else used the CPU meanwhile (None
        where /proc cannot tell)."""
        others = self.others_percent()
        if others is None:
            return None
        return (
            f"CPU used by other processes during the run: {others:.0f}% of one core "
            f"on average (of {(os.cpu_count() or 1) * 100}%)"
        )
