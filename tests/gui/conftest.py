"""Fixtures for the main-window tests: a real window on the shared classifier, small image folders, and a
check that no worker thread outlives a test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gui_helpers import assert_no_threads
from PIL import Image

from rsdesk.core.io.assets import resource_path

SAMPLES = ("camera.jpg", "coffee.jpg", "chelsea.jpg")


@pytest.fixture
def gui_torch_threads():
    """The app's torch thread setting (one core left to the GUI thread), restored afterwards."""
    from rsdesk.gui.app import configure_torch

    before = torch.get_num_threads()
    configure_torch()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def make_window(qtbot, classifier, gui_torch_threads):
    """Build main windows on the session's classifier; every one is closed and its threads checked."""
    from rsdesk.gui.main_window import MainWindow
    from rsdesk.gui.models.settings import load_settings

    windows = []

    def make(settings=None, images: list[Path] | None = None, open_samples: bool = False):
        warnings: list[str] = []
        if settings is None:
            settings, warnings = load_settings()  # as the app starts: file problems are shown
        w = MainWindow(settings, warnings, classifier=classifier)
        qtbot.addWidget(w)
        w.resize(1400, 900)
        w.show()
        windows.append(w)
        if images is not None or open_samples:
            w.open_startup([str(p) for p in images or []])
            qtbot.waitUntil(lambda: w.state.image is not None, timeout=30000)
        return w

    yield make
    for w in windows:
        w.close()
        assert w.trainer.wait(30000)
    assert_no_threads()


@pytest.fixture
def window(make_window):
    """A window showing three bundled samples, the first labelled one attacked and purified (FGSM: fast)."""
    from rsdesk.gui.models.settings import Settings

    w = make_window(Settings(attack="fgsm"), images=[resource_path("samples", n) for n in SAMPLES])
    return w


@pytest.fixture
def bad_files(tmp_path) -> list[Path]:
    """A truncated JPEG, a text file, and an image too small to use."""
    folder = tmp_path / "bad"
    folder.mkdir()
    data = resource_path("samples", "coffee.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[:300])
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "tiny.png")
    return [folder / "truncated.jpg", folder / "notes.txt", folder / "tiny.png"]


@pytest.fixture
def trainer():
    """A dictionary trainer on its own job runner, cancelled and waited for after the test."""
    from rsdesk.gui.tasks.training import DictionaryTrainer

    t = DictionaryTrainer()
    yield t
    t.cancel()
    assert t.wait(30000), "a training thread was left running"


@pytest.fixture(scope="session", autouse=True)
def _collect_garbage_on_the_main_thread_only():
    """Python's automatic collection is off for the GUI tests, as the app keeps it off while a window is
    open (gui/tasks/gc_guard): otherwise a worker thread of one test may be the one that trips the collector
    and finalize QObjects of an earlier test's window off the GUI thread — a crash Qt cannot survive."""
    import gc

    was = gc.isenabled()
    gc.disable()
    yield
    gc.collect()
    if was:
        gc.enable()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After every fixture of a GUI test is torn down (windows closed, qtbot's widgets deleted), collect the
    garbage here, on the main thread (automatic collection is off, see above)."""
    yield
    import gc

    gc.collect()
