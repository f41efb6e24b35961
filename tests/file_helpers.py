"""What the loader tests share (tests/core/io, tests/core): a call that must finish instead of blocking on a
named pipe, and the POSIX / root markers. Importable from any test folder (tests/ is on the path through
its conftest.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and symlinks need POSIX")
as_root = hasattr(os, "geteuid") and os.geteuid() == 0


def _finishes(fn, fifo: Path | None = None, seconds: float = 5.0):
    """Run ``fn`` on a thread; fail (after unblocking any reader of ``fifo``) if it does not return."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if fifo is not None:  # a reader blocked on the pipe: give it a writer so the thread can end
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        pytest.fail(f"{fn} blocked for {seconds} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("result")
