"""Closing the window during a sweep, an evaluation export or a dictionary training leaves no partial file:
each file is complete or absent, and no temp file stays."""

from __future__ import annotations

import textwrap
import threading

import numpy as np
import pytest
from evaluation_helpers import synthetic_run
from gui_helpers import assert_no_threads, training_images
from PIL import Image

from rsdesk.core.evaluation import RunDirectory
from rsdesk.core.io.files import is_temp_name
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.gui.models.evaluation import EvaluationResults
from rsdesk.gui.models.settings import Settings, data_dir
from rsdesk.gui.tasks import evaluation, evaluation_export
from rsdesk.gui.tasks.evaluation import EvaluationRunner
from rsdesk.gui.tasks.runner import JobRunner

# A sweep in the middle of saving an adversarial (atomically, as the engine does) when it is stopped;
# with "deaf" it ignores Ctrl-C, so only a kill stops it (its temp file is left for the window to remove).
SAVING = textwrap.dedent(
    """
    import shutil, signal, sys, time
    from pathlib import Path
    from rsdesk.core.io.files import atomic_write
    src, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    (out / "adversarials").mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "plan.json", out / "plan.json")
    shutil.copy(src / "results.csv", out / "results.csv")
    if mode == "deaf":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def slow(fh):
        fh.write(b"\\x93NUMPY" + b"x" * 4096)
        fh.flush()
        time.sleep(120)

    atomic_write(out / "adversarials" / "fgsm_4_img0.npy", slow)
    """
)


def _temps(folder):
    return sorted(p for p in folder.rglob("*") if is_temp_name(p.name))


@pytest.mark.parametrize("mode", ["polite", "deaf"])
def test_closing_during_a_sweep_leaves_no_partial_file(qtbot, monkeypatch, tmp_path, mode):
    src = synthetic_run(tmp_path / "src", {}, n_images=2)
    monkeypatch.setattr(
        evaluation, "evaluate_command", lambda _i, _p, out, *_a: ["-c", SAVING, str(src), str(out), mode]
    )
    jobs = JobRunner()
    runner = EvaluationRunner(EvaluationResults(), jobs)
    out = tmp_path / "out"
    assert runner.start([tmp_path], {}, out)
    qtbot.waitUntil(lambda: len(_temps(out)) == 1, timeout=60000)  # the child is mid-save
    runner.shutdown()  # what closing the window does
    assert jobs.shutdown(10000)
    assert_no_threads()
    qtbot.wait(100)  # the stopped child's last events (a dropped runner must not outlive them)
    assert _temps(out) == []
    assert not (out / "adversarials" / "fgsm_4_img0.npy").exists()
    assert RunDirectory(out).read_rows() == RunDirectory(src).read_rows()  # the finished rows stay whole


def test_closing_during_an_evaluation_export_leaves_complete_files_or_none(qtbot, monkeypatch, tmp_path):
    src = synthetic_run(tmp_path / "src", {("fgsm", 4.0, "jpeg"): {"img1.png"}})
    jobs = JobRunner()
    runner = EvaluationRunner(EvaluationResults(), jobs)
    runner.open(src)
    qtbot.waitUntil(lambda: runner.results.summary is not None and not runner.is_loading(), timeout=30000)
    drawing, go_on = threading.Event(), threading.Event()
    real = evaluation_export.draw_figures

    def slow_figures(summary, folder):
        drawing.set()
        go_on.wait(10)
        return real(summary, folder)

    monkeypatch.setattr(evaluation_export, "draw_figures", slow_figures)
    dest = tmp_path / "export"
    runner.export(dest)
    assert drawing.wait(10)
    threading.Timer(0.3, go_on.set).start()  # the figures finish while the window closes
    runner.shutdown()
    assert jobs.shutdown(10000)
    assert_no_threads()
    qtbot.wait(100)
    assert _temps(dest) == []
    for png in dest.rglob("*.png"):  # the figure being drawn when the window closed is whole
        with Image.open(png) as im:
            im.load()
    assert not (dest / "summary.md").exists() and not (dest / "cells.csv").exists()  # nothing after it


def test_closing_during_a_training_leaves_no_dictionary_file(make_window, qtbot, tmp_path, monkeypatch):
    from rsdesk.gui.tasks import training

    folder = training_images(tmp_path / "train", 6, size=64)
    saving, go_on = threading.Event(), threading.Event()
    real = training.save_dictionary

    def slow_save(path, d):
        saving.set()
        go_on.wait(10)
        return real(path, d)

    monkeypatch.setattr(training, "save_dictionary", slow_save)
    w = make_window(Settings(n_atoms=32, patches_per_image=200))
    w.session.train_from(folder)
    qtbot.waitUntil(lambda: saving.is_set() or not w.trainer.is_running(), timeout=60000)
    assert saving.is_set(), "the training ended before its save"
    threading.Timer(0.3, go_on.set).start()
    w.close()  # the training is cancelled during its save
    assert w.trainer.wait(30000)
    saved = list((data_dir() / "dictionaries").glob("*"))
    assert [p for p in saved if is_temp_name(p.name)] == []
    for p in saved:  # complete, or not there at all
        assert np.isfinite(load_dictionary(p).atoms).all()
