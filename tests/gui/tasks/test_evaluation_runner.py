"""The evaluation runner: following a run directory as a child process writes it (torn lines included),
superseding, cancelling, and the child's ``error:`` lines as messages. The child here is a small stand-in
script that writes a prepared run directory slowly; the real ``rsdesk evaluate`` runs in the tab's tests."""

from __future__ import annotations

import textwrap

import pytest
from evaluation_helpers import synthetic_run, wait_idle
from gui_helpers import assert_no_threads

from rsdesk.core.evaluation import RunDirectory
from rsdesk.gui.models.evaluation import EvaluationResults
from rsdesk.gui.tasks import evaluation
from rsdesk.gui.tasks.evaluation import EvaluationRunner
from rsdesk.gui.tasks.runner import JobRunner

# Copies plan.json, then results.csv in small pieces that cut lines in half; then what the test asks.
STAND_IN = textwrap.dedent(
    """
    import shutil, sys, time
    src, out, then = sys.argv[1], sys.argv[2], sys.argv[3]
    import os; os.makedirs(out, exist_ok=True)
    shutil.copy(src + "/plan.json", out + "/plan.json")
    data = open(src + "/results.csv", "rb").read()
    stop = len(data) if then != "hang" else len(data) // 2
    with open(out + "/results.csv", "ab") as fh:
        for i in range(0, stop, 700):
            fh.write(data[i : min(i + 700, stop)]); fh.flush(); time.sleep(0.12)
    print("error: bad.png: not an image", file=sys.stderr, flush=True)
    if then == "hang":
        time.sleep(60)
    sys.exit({"ok": 0, "problems": 1, "fail": 2}.get(then, 0))
    """
)


@pytest.fixture
def runner(qtbot, monkeypatch, tmp_path):
    src = synthetic_run(tmp_path / "src", {("fgsm", 4.0, "jpeg"): {"img1.png"}}, n_images=30)

    def stand_in(_inputs, _plan_file, out, *_args):
        return ["-c", STAND_IN, str(src), str(out), stand_in.then]

    stand_in.then = "ok"
    monkeypatch.setattr(evaluation, "evaluate_command", stand_in)
    jobs = JobRunner()
    r = EvaluationRunner(EvaluationResults(), jobs)
    r.stand_in, r.src, r.messages = stand_in, src, []
    r.message.connect(lambda *m: r.messages.append(m))
    yield r
    r.shutdown()
    assert jobs.shutdown(10000)
    assert_no_threads()


def test_a_growing_run_is_followed_to_the_same_rows(qtbot, runner, tmp_path):
    progress = []
    runner.progress.connect(lambda f, t: progress.append((f, t)))
    runner.stand_in.then = "problems"  # finished, but the child met a bad file: exit code 1
    assert runner.start([tmp_path], {"plan": 1}, tmp_path / "out")
    assert runner.is_running()
    wait_idle(qtbot, runner, 60000)
    want = RunDirectory(runner.src).read_rows()
    assert sorted(map(str, runner.results.rows())) == sorted(map(str, want))
    assert runner.results.have == runner.results.need == len(want)
    assert len(progress) > 1 and progress[-1] == (1.0, f"{len(want)} of {len(want)} results")
    kinds = [(k, t) for k, t, _d in runner.messages]
    assert ("warning", "Evaluation: bad.png: not an image") in kinds
    assert kinds[-1][0] == "info" and kinds[-1][1].startswith("Evaluation finished")


def test_cancel_stops_the_child_and_keeps_its_rows(qtbot, runner, tmp_path):
    runner.stand_in.then = "hang"
    runner.start([tmp_path], {}, tmp_path / "out")
    qtbot.waitUntil(lambda: runner.results.row_count() > 0, timeout=30000)
    runner.cancel()
    qtbot.waitUntil(lambda: not runner.is_running(), timeout=10000)
    assert 0 < len(RunDirectory(tmp_path / "out").read_rows()) < len(RunDirectory(runner.src).read_rows())
    assert "cancelled" in runner.messages[-1][1] and "Run resumes" in runner.messages[-1][1]


def test_a_failed_child_says_why(qtbot, runner, tmp_path):
    runner.stand_in.then = "fail"
    runner.start([tmp_path], {}, tmp_path / "out")
    wait_idle(qtbot, runner, 60000)
    kind, text, details = runner.messages[-1]
    assert kind == "error" and "bad.png: not an image" in text and "error: bad.png" in details


def test_a_newer_run_supersedes_the_older_ones_results(qtbot, runner, tmp_path):
    other = synthetic_run(tmp_path / "other", {}, n_images=2)
    runner.stand_in.then = "hang"
    runner.start([tmp_path], {}, tmp_path / "out")
    qtbot.waitUntil(lambda: runner.results.row_count() > 0, timeout=30000)
    seen = []
    runner.results.summary_changed.connect(lambda: seen.append(runner.results.run_dir))
    assert runner.open(other)  # stops the running child; its polling and summaries end here
    assert not runner.is_running()
    wait_idle(qtbot, runner, 30000)
    assert seen and set(seen) == {other}
    assert runner.results.row_count() == len(RunDirectory(other).read_rows())
    assert any("stopped" in t for _k, t, _d in runner.messages)
    qtbot.wait(600)  # whatever the stopped child still writes never shows
    assert set(seen) == {other}
    assert not runner.open(tmp_path / "nothing-here")


def test_export_writes_the_figures_and_the_tables(qtbot, runner, tmp_path):
    assert runner.open(runner.src)
    wait_idle(qtbot, runner, 30000)
    runner.export(tmp_path / "export")
    qtbot.waitUntil(lambda: any("Exported" in t for _k, t, _d in runner.messages), timeout=60000)
    out = tmp_path / "export"
    assert (out / "figures" / "evaluate.png").stat().st_size > 1000
    assert "| defense |" in (out / "summary.md").read_text(encoding="utf-8")
    lines = (out / "cells.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "attack,strength,defense,n,correct,accuracy,ci_low,ci_high"
    # the 9 cells of the run, then the headline's worst case per image at each budget (one attack here)
    cells = [line for line in lines[1:] if not line.startswith("worst-case")]
    assert len(cells) == 9
    # with FGSM the only attack, its worst case at each budget is FGSM's own cell
    worst = sorted(line.removeprefix("worst-case,") for line in lines[1:] if line.startswith("worst-case"))
    assert worst == sorted(c.removeprefix("fgsm,") for c in cells if not c.startswith("fgsm,0.0,"))
