"""Child processes that die with their parent and are stopped by it, in order.

Shared by `threadwatch dev` (embedded Redis, API, later the RQ worker), and the tests.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def child_popen_kwargs() -> dict[str, Any]:
    """Popen options for a supervised child.

    The child gets its own process group, so a Ctrl-C in the terminal reaches only the parent,
    which then stops the children in order (workers drain while Redis is still up). On Linux
    the child is also sent SIGTERM if the parent dies, even by SIGKILL; note that the kernel
    fires this when the *thread* that started the child exits, so start children from a
    long-lived thread (the main one).
    """
    kwargs: dict[str, Any] = {"process_group": 0}
    if sys.platform.startswith("linux"):
        kwargs["preexec_fn"] = _die_with_parent_hook()
    return kwargs


def _die_with_parent_hook():
    """A preexec_fn that asks the kernel for SIGTERM when the parent dies.

    libc is looked up here, in the parent, so the child only makes one C call before exec.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL; return the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
