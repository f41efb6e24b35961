"""The one job runner: results on the GUI thread, one failure shape, cancel, and superseding by slot."""

from __future__ import annotations

import threading
import time

import pytest
from gui_helpers import assert_no_threads

from rsdesk.core.errors import ImageError
from rsdesk.core.progress import check_cancel
from rsdesk.gui.tasks.runner import JobRunner


@pytest.fixture
def runner(qtbot):
    """A job runner kept alive until its pool threads are idle and its last events are delivered: dropped
    at the end of a test while a worker still finishes, it would be deleted under that worker."""
    r = JobRunner()
    yield r
    r.shutdown()
    qtbot.wait(10)


def _record(job, log: list) -> None:
    for name in ("progress", "partial", "succeeded", "failed", "cancelled", "finished"):
        getattr(job, name).connect(lambda *args, n=name: log.append((n, *args)))


def _wait_finished(qtbot, log: list) -> None:
    # Not qtbot.waitSignal(job.finished): a job deletes itself once ``finished`` is delivered.
    qtbot.waitUntil(lambda: ("finished",) in log, timeout=5000)


def test_result_and_progress_arrive_on_the_gui_thread(qtbot, runner):
    gui = threading.get_ident()
    threads: list[int] = []

    def work(ctx):
        threads.append(threading.get_ident())
        ctx.partial("half")
        ctx.progress(1.0, "done")
        return 42

    job = runner.submit("answer", work)
    log: list = []
    _record(job, log)
    job.succeeded.connect(lambda _r: threads.append(threading.get_ident()))
    _wait_finished(qtbot, log)
    assert threads[0] != gui and threads[1] == gui
    assert log == [("partial", "half"), ("progress", 1.0, "done"), ("succeeded", 42), ("finished",)]
    assert_no_threads()


def test_one_failure_shape_user_message_and_details(qtbot, runner):

    def bad_image(_ctx):
        raise ImageError("x.png: the image file is damaged or truncated")

    def bug(_ctx):
        raise KeyError("k")

    outcomes = []
    for fn in (bad_image, bug):
        job = runner.submit(fn.__name__, fn)
        job.failed.connect(lambda m, d: outcomes.append((m, d)))
    qtbot.waitUntil(lambda: len(outcomes) == 2, timeout=5000)
    outcomes.sort(key=lambda o: "KeyError" in o[0])
    (m1, d1), (m2, d2) = outcomes
    assert m1 == "x.png: the image file is damaged or truncated" and "ImageError" in d1
    assert m2 == "KeyError: 'k'" and "Traceback" in d2  # a bug names its type; details keep the evidence
    assert_no_threads()


def test_cancel_is_cooperative_and_reported(qtbot, runner):
    started = threading.Event()

    def loop(ctx):
        started.set()
        while True:
            check_cancel(ctx.cancel)
            time.sleep(0.005)

    job = runner.submit("loop", loop)
    log: list = []
    _record(job, log)
    assert started.wait(5)
    job.cancel()
    _wait_finished(qtbot, log)
    assert log == [("cancelled",), ("finished",)]
    assert_no_threads()


def test_a_new_job_in_a_slot_supersedes_the_running_one(qtbot, runner):
    """A superseded job that ignores its cancel and ends late delivers nothing but ``finished``."""
    release = threading.Event()

    def deaf(ctx):
        ctx.progress(0.5, "old")
        release.wait(5)
        ctx.partial("old partial")
        return "old"

    old = runner.submit("old", deaf, slot="stage")
    old_log: list = []
    _record(old, old_log)
    new = runner.submit("new", lambda _ctx: "new", slot="stage")
    assert old.superseded and old.token.cancelled and runner.running("stage") is new
    new_log: list = []
    _record(new, new_log)
    _wait_finished(qtbot, new_log)
    release.set()
    _wait_finished(qtbot, old_log)
    assert new_log == [("succeeded", "new"), ("finished",)]
    assert old_log == [("finished",)]
    assert runner.running("stage") is None  # the slot empties when its job ends
    assert_no_threads()


def test_jobs_without_a_slot_run_side_by_side(qtbot, runner):
    both = threading.Barrier(2, timeout=5)

    def meet(_ctx):
        both.wait()  # only returns if the other job runs at the same time
        return True

    jobs = [runner.submit(f"import {i}", meet) for i in range(2)]
    results: list = []
    for job in jobs:
        job.succeeded.connect(results.append)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
    assert results == [True, True] and not any(j.superseded for j in jobs)
    assert_no_threads()


def test_shutdown_supersedes_everything_and_waits(qtbot, runner):
    started, ended = threading.Event(), threading.Event()

    def slow(ctx):
        started.set()
        while not ctx.cancel():
            time.sleep(0.005)
        ended.set()
        return "late"

    job = runner.submit("slow", slow, slot="stage")
    log: list = []
    _record(job, log)
    assert started.wait(5)
    assert runner.shutdown(5000)
    assert ended.is_set() and job.done.is_set()
    _wait_finished(qtbot, log)
    assert log == [("finished",)]
