"""A JobRunner dropped without ``shutdown`` while its worker still runs must not crash the process: the pool
holds no QObject of the runner, and whatever the worker still delivers to a deleted handle is dropped."""

from __future__ import annotations

import gc
import threading

from gui_helpers import assert_no_threads

from rsdesk.gui.tasks.runner import JobRunner


def test_a_runner_dropped_mid_job_never_crashes(qtbot):
    released = threading.Event()
    started: list[int] = []
    delivered: list[object] = []

    def work(ctx):
        started.append(1)
        released.wait(5)
        ctx.progress(0.5, "half")
        ctx.partial("partial")
        return 42

    for i in range(20):
        runner = JobRunner()
        job = runner.submit("dropped", work, slot="s" if i % 2 else None)
        job.succeeded.connect(delivered.append)
        job.partial.connect(delivered.append)
        qtbot.waitUntil(lambda n=i + 1: len(started) == n, timeout=5000)
        del runner, job
        gc.collect()  # the runner and its job handle are gone while the worker still runs
        released.set()
        qtbot.wait(20)  # the worker's late signals are processed here
        released.clear()
    released.set()
    assert_no_threads()
    qtbot.wait(50)
    assert delivered == []  # nothing reached a receiver that was deleted with its runner
