"""Background dictionary training: progress, result file, skipped images, cancel, failures, status strip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from rsdesk.core.dictionary import TrainingConfig, load_dictionary
from rsdesk.gui.settings import data_dir
from rsdesk.gui.training import DictionaryTrainer, TrainingStatusWidget, format_time_left

TINY = TrainingConfig(h=0.0, patch_size=4, n_atoms=16, patches_per_image=200)
# Long enough (tens of seconds uncancelled) that a cancel on the first progress report always lands.
LONG = TrainingConfig(h=0.0, patch_size=4, n_atoms=64, patches_per_image=2000)


def _write_images(folder: Path, n: int, size: int = 48) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        base = rng.random((size // 4, size // 4, 3))
        img = np.kron(base, np.ones((4, 4, 1)))  # blocky, so patches have structure
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def trainer():
    t = DictionaryTrainer()
    yield t
    t.cancel()
    assert t.wait(30000), "a training thread was left running"


def _settle(qtbot, t: DictionaryTrainer) -> None:
    assert t.wait(30000)
    qtbot.waitUntil(lambda: not t._alive, timeout=5000)


def test_trains_saves_and_reports(qtbot, trainer, tmp_path):
    folder = _write_images(tmp_path / "imgs", 3)
    progress: list[tuple[float, str]] = []
    trainer.progress.connect(lambda f, m: progress.append((f, m)))
    with qtbot.waitSignal(trainer.finished, timeout=60000) as blocker:
        trainer.start(folder, TINY)
        assert trainer.is_running()
    path, dictionary = blocker.args
    assert not trainer.is_running()
    assert progress, "no progress was reported"
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any("patches" in m for _, m in progress) and any("batch" in m for _, m in progress)
    assert all("left" in m for _, m in progress)
    assert path.parent == data_dir() / "dictionaries"
    assert path.name.startswith("dictionary-") and path.name.endswith("-h0-16.npz")
    loaded = load_dictionary(path)
    assert loaded.n_atoms == 16 and loaded.patch_size == 4 and loaded.n_images == 3
    np.testing.assert_allclose(loaded.atoms, dictionary.atoms, atol=1e-6)  # load re-normalizes rows
    _settle(qtbot, trainer)


def test_broken_image_is_skipped_and_training_finishes(qtbot, trainer, tmp_path):
    folder = _write_images(tmp_path / "imgs", 2)
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    skipped: list[str] = []
    trainer.skipped.connect(skipped.append)
    with qtbot.waitSignal(trainer.finished, timeout=60000) as blocker:
        trainer.start(folder, TINY)
    assert len(skipped) == 1 and "broken.jpg" in skipped[0]
    assert load_dictionary(blocker.args[0]).n_images == 2
    _settle(qtbot, trainer)


def test_cancel_on_first_progress(qtbot, trainer, tmp_path):
    folder = _write_images(tmp_path / "imgs", 8, size=64)
    trainer.progress.connect(lambda *_: trainer.cancel())
    finished: list[object] = []
    trainer.finished.connect(finished.append)
    with qtbot.waitSignal(trainer.cancelled, timeout=60000):
        trainer.start(folder, LONG)
    assert not trainer.is_running() and not finished
    _settle(qtbot, trainer)
    assert not list((data_dir() / "dictionaries").glob("*.npz"))


def test_cancel_right_after_start(qtbot, trainer, tmp_path):
    folder = _write_images(tmp_path / "imgs", 2)
    with qtbot.waitSignal(trainer.cancelled, timeout=30000):
        trainer.start(folder, TINY)
        trainer.cancel()
    _settle(qtbot, trainer)


@pytest.mark.parametrize("kind", ["empty", "missing", "only-broken", "bad-config"])
def test_failures_are_one_clear_line(qtbot, trainer, tmp_path, kind):
    folder = tmp_path / "imgs"
    folder.mkdir()
    config = TINY
    if kind == "missing":
        folder = tmp_path / "nowhere"
    elif kind == "only-broken":
        (folder / "a.png").write_bytes(b"garbage")
    elif kind == "bad-config":
        _write_images(folder, 1)
        config = TrainingConfig(patch_size=1)
    with qtbot.waitSignal(trainer.failed, timeout=30000) as blocker:
        trainer.start(folder, config)
    message = blocker.args[0]
    assert "\n" not in message
    expected = {
        "empty": f"no usable images in {folder}",
        "missing": "folder not found",
        "only-broken": f"no usable images in {folder}",
        "bad-config": "patch size",
    }[kind]
    assert expected in message
    assert not trainer.is_running()
    _settle(qtbot, trainer)


def test_second_start_is_refused(qtbot, trainer, tmp_path):
    folder = _write_images(tmp_path / "imgs", 2)
    failures: list[str] = []
    trainer.failed.connect(failures.append)
    with qtbot.waitSignal(trainer.finished, timeout=60000):
        trainer.start(folder, TINY)
        trainer.start(folder, TINY)
    assert failures == ["training already running"]
    assert len(list((data_dir() / "dictionaries").glob("*.npz"))) == 1
    _settle(qtbot, trainer)


def test_status_widget_shows_hides_and_cancels(qtbot, trainer, tmp_path):
    window = QMainWindow()
    qtbot.addWidget(window)
    widget = TrainingStatusWidget(trainer)
    window.statusBar().addPermanentWidget(widget)
    window.show()
    assert widget.isHidden()  # idle: the status bar shows nothing of it
    folder = _write_images(tmp_path / "imgs", 8, size=64)
    seen: list[tuple[bool, int, str]] = []

    def on_progress(*_):
        if not seen:
            seen.append((widget.isVisible(), widget.bar.value(), widget.time_left.text()))
            qtbot.mouseClick(widget.cancel_button, Qt.MouseButton.LeftButton)

    trainer.progress.connect(on_progress)
    with qtbot.waitSignal(trainer.started, timeout=5000):
        trainer.start(folder, LONG)
    assert widget.isVisible() and widget.cancel_button.isEnabled()
    with qtbot.waitSignal(trainer.cancelled, timeout=60000):
        pass
    visible, value, left = seen[0]
    assert visible and value > 0 and "left" in left
    assert widget.isHidden()
    _settle(qtbot, trainer)


def test_format_time_left():
    assert format_time_left(None) == "estimating time left"
    assert format_time_left(41.2) == "0:41 left"
    assert format_time_left(3723) == "1:02:03 left"
