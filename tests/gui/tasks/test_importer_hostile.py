"""Imports that meet hostile files: a named pipe is reported and skipped without being opened, every problem
is in one summary message, and Cancel stays usable and ends an import at once even if its worker is stuck."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from PIL import Image

from rsdesk.gui.tasks import stages

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")

FIFO_PROBLEM = "pipe.jpg: is not a regular file (a named pipe); skipped"


def _good(path):
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(path)
    return path


def test_a_named_pipe_dropped_with_good_files_is_skipped_in_one_message(make_window, qtbot, tmp_path):
    w = make_window()
    shown: list[tuple[str, str]] = []
    w.messages.shown.connect(lambda kind, text, _d: shown.append((kind, text)))
    goods = []
    for name in ("direct", "in_folder"):  # the pipe named directly, then inside a dropped folder
        folder = tmp_path / name
        folder.mkdir()
        os.mkfifo(folder / "pipe.jpg")
        good = _good(folder / "good.png")
        goods.append(good)
        dropped = [folder / "pipe.jpg", good] if name == "direct" else [folder]
        with qtbot.waitSignal(w.importer.finished, timeout=10000) as blocker:
            w.paths_dropped(dropped)
        assert blocker.args == [[good], [FIFO_PROBLEM]]
    assert w.gallery.paths() == goods
    assert shown == 2 * [("warning", f"Added 1 image(s); 1 could not be used: {FIFO_PROBLEM}")]


def test_cancel_is_usable_during_an_import_and_ends_it_even_with_a_stuck_worker(
    make_window, qtbot, tmp_path, monkeypatch
):
    folder = tmp_path / "many"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        _good(folder / name)
    w = make_window()
    stuck, release = threading.Event(), threading.Event()
    real = stages.import_image

    def import_image(path, size, label_of, prepare=True):
        if path.name == "b.png":  # a read that does not return (a dead network share, say)
            stuck.set()
            release.wait(30)
        return real(path, size, label_of, prepare)

    monkeypatch.setattr(stages, "import_image", import_image)
    shown: list[tuple[str, str]] = []
    w.messages.shown.connect(lambda kind, text, _d: shown.append((kind, text)))
    try:
        w.import_paths([folder])
        assert w.acts.cancel.isEnabled()  # usable from the moment the import starts
        assert stuck.wait(10)
        qtbot.waitUntil(lambda: w.gallery.rowCount() == 1, timeout=5000)
        with qtbot.waitSignal(w.importer.finished, timeout=2000) as blocker:
            w.acts.cancel.trigger()  # Esc
        assert blocker.args == [[folder / "a.png"], []]
        assert not w.importer.is_running() and not w.acts.cancel.isEnabled()
        assert shown[-1] == ("info", "Import cancelled: added 1 image(s).")
    finally:
        release.set()
    qtbot.wait(300)
    assert w.gallery.paths() == [folder / "a.png"]  # the stuck worker's late results never land
