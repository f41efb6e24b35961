"""Background dictionary training: progress, result file, skipped images, cancel, failures."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from gui_helpers import settle_trainer, training_images

from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.core.sparse.training import TrainingConfig
from rsdesk.gui.models.settings import data_dir
from rsdesk.gui.tasks.training import TimeLeft, format_time_left

TINY = TrainingConfig(h=0.0, patch_size=4, n_atoms=16, patches_per_image=200)
# Long enough (tens of seconds uncancelled) that a cancel on the first progress report always lands.
LONG = TrainingConfig(h=0.0, patch_size=4, n_atoms=64, patches_per_image=2000)


def test_trains_saves_and_reports(qtbot, trainer, tmp_path):
    folder = training_images(tmp_path / "imgs", 3)
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
    settle_trainer(qtbot, trainer)


def test_broken_image_is_skipped_and_training_finishes(qtbot, trainer, tmp_path):
    folder = training_images(tmp_path / "imgs", 2)
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    skipped: list[str] = []
    trainer.skipped.connect(skipped.append)
    with qtbot.waitSignal(trainer.finished, timeout=60000) as blocker:
        trainer.start(folder, TINY)
    assert len(skipped) == 1 and "broken.jpg" in skipped[0]
    assert load_dictionary(blocker.args[0]).n_images == 2
    settle_trainer(qtbot, trainer)


def test_cancel_on_first_progress(qtbot, trainer, tmp_path):
    folder = training_images(tmp_path / "imgs", 8, size=64)
    trainer.progress.connect(lambda *_: trainer.cancel())
    finished: list[object] = []
    trainer.finished.connect(finished.append)
    with qtbot.waitSignal(trainer.cancelled, timeout=60000):
        trainer.start(folder, LONG)
    assert not trainer.is_running() and not finished
    settle_trainer(qtbot, trainer)
    assert not list((data_dir() / "dictionaries").glob("*.npz"))


def test_cancel_right_after_start(qtbot, trainer, tmp_path):
    folder = training_images(tmp_path / "imgs", 2)
    with qtbot.waitSignal(trainer.cancelled, timeout=30000):
        trainer.start(folder, TINY)
        trainer.cancel()
    settle_trainer(qtbot, trainer)


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
        training_images(folder, 1)
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
    settle_trainer(qtbot, trainer)


def test_second_start_is_refused(qtbot, trainer, tmp_path):
    folder = training_images(tmp_path / "imgs", 2)
    failures: list[str] = []
    trainer.failed.connect(lambda message, _details: failures.append(message))
    with qtbot.waitSignal(trainer.finished, timeout=60000):
        trainer.start(folder, TINY)
        trainer.start(folder, TINY)
    assert failures == ["training already running"]
    assert len(list((data_dir() / "dictionaries").glob("*.npz"))) == 1
    settle_trainer(qtbot, trainer)


def test_format_time_left():
    assert format_time_left(None) == "estimating time left"
    assert format_time_left(41.2) == "0:41 left"
    assert format_time_left(3723) == "1:02:03 left"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _run(clock: FakeClock, estimate: TimeLeft, reports: list[tuple[float, float, float | None]]):
    """Feed (seconds since the last report, fraction, the core's "~N s left") and collect what is shown."""
    shown = []
    for dt, fraction, core_left in reports:
        clock.now += dt
        shown.append((clock.now, fraction, estimate.update(fraction, core_left)))
    return shown


def test_time_left_is_estimating_then_counts_down_like_a_clock():
    clock = FakeClock()
    estimate = TimeLeft(clock)
    # patch extraction (0…0.2 of the progress) at a steady 1 %/s, then learning that turns out much faster:
    # the core's own estimate at 23 % says 3 s (the 2:21 → 1:20 → 0:03)
    reports = [(1.0, f / 100, None) for f in range(1, 21)]
    reports += [(0.1, 0.2 + 0.01 * i, 3.0 - 0.1 * i) for i in range(1, 30)]
    shown = _run(clock, estimate, reports)
    early = [left for _t, f, left in shown if f < 0.05]
    assert early and all(left is None for left in early)  # "estimating time left" until 5 % done
    values = [(t, left) for t, _f, left in shown if left is not None]
    assert values[0][1] == pytest.approx(95.0)  # 5 s for 5 %: 95 s for the rest
    for (t0, a), (t1, b) in pairwise(values):
        assert b >= a - 3.0 * (t1 - t0) - 1e-9, (a, b)  # never faster than 3× the clock
        assert b <= a + 0.5 * (t1 - t0) + 1e-9, (a, b)  # and a steady rate counts down, not up
    # a steady rate counts down in step with the clock
    steady = [left for t, f, left in shown if 0.06 <= f <= 0.2]
    assert all(abs(x - y - 1.0) < 0.05 for x, y in pairwise(steady))


def test_time_left_follows_a_slower_truth_smoothly():
    clock = FakeClock()
    estimate = TimeLeft(clock)
    shown = _run(clock, estimate, [(1.0, f / 100, None) for f in range(1, 11)])  # 10 s for 10 %: 90 s
    assert shown[-1][2] == pytest.approx(90.0)
    later = _run(clock, estimate, [(1.0, 0.1 + 0.001 * i, 300.0) for i in range(1, 31)])
    lefts = [left for _t, _f, left in later]
    assert all(b > a for a, b in pairwise(lefts))  # rises toward the new estimate, step by step
    assert lefts[0] < 140 and 250 < lefts[-1] < 300  # a quarter of the way in the first second
    assert TimeLeft(clock).update(0.5) is None  # a fresh start needs time before its first estimate
