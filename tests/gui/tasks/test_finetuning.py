"""Background fine-tuning: progress with time left, epoch reports on the GUI thread, the model file, cancel
and resume, a refused second start, failures in one line."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest
from finetune_helpers import TINY_NAME, FakeFinetune, photo_folder, register_tiny, report
from PySide6.QtCore import QThread

from rsdesk.core.training.finetune import FinetuneConfig, FinetuneResult
from rsdesk.gui.models.settings import data_dir
from rsdesk.gui.tasks import finetuning
from rsdesk.gui.tasks.finetuning import ALREADY_RUNNING, FineTuner, default_output, result_summary

TINY = FinetuneConfig(classifier=TINY_NAME, epochs=2, batch=4, train="bn")


@pytest.fixture
def tuner():
    t = FineTuner()
    yield t
    t.cancel()
    assert t.wait(30000), "a fine-tune thread was left running"


def _settle(qtbot, t: FineTuner) -> None:
    assert t.wait(30000)
    qtbot.waitUntil(lambda: not t._alive, timeout=5000)


def _record(t: FineTuner) -> dict[str, list]:
    got: dict[str, list] = {"progress": [], "epoch": [], "threads": [], "cancelled": [], "failed": []}
    t.progress.connect(lambda f, m: got["progress"].append((f, m)))
    t.epoch.connect(lambda r: (got["epoch"].append(r), got["threads"].append(QThread.currentThread())))
    t.cancelled.connect(got["cancelled"].append)
    t.failed.connect(lambda m, _d: got["failed"].append(m))
    return got


def test_real_run_reports_and_saves(qtbot, tuner, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    folder = photo_folder(tmp_path / "photos")
    got = _record(tuner)
    with qtbot.waitSignal(tuner.finished, timeout=60000) as blocker:
        assert tuner.start([folder], TINY)
        assert tuner.is_running()
    result: FinetuneResult = blocker.args[0]
    assert not tuner.is_running() and not result.already_done and result.resumed_from == 0
    assert result.out == default_output(TINY, [folder]) and result.out.parent == data_dir() / "models"
    assert result.out.is_file() and json.loads(result.metadata_path.read_text())["epochs"] == 2
    assert [r.epoch for r in got["epoch"]] == [1, 2]
    assert all(t is QThread.currentThread() for t in got["threads"]), "an epoch report off the GUI thread"
    fractions = [f for f, _ in got["progress"]]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any("epoch 2/2" in m for _, m in got["progress"]) and all("left" in m for _, m in got["progress"])
    _settle(qtbot, tuner)

    with qtbot.waitSignal(tuner.finished, timeout=60000) as again:  # the same run again: nothing to do
        tuner.start([folder], TINY)
    assert again.args[0].already_done and again.args[0].out == result.out
    assert "Already done" in result_summary(again.args[0])
    _settle(qtbot, tuner)


def test_cancel_keeps_the_epoch_and_a_second_run_resumes(qtbot, tuner, tmp_path, monkeypatch):
    register_tiny(monkeypatch)
    folder = photo_folder(tmp_path / "photos")
    config = FinetuneConfig(classifier=TINY_NAME, epochs=3, batch=4, train="bn")
    real = finetuning.finetune

    def cancel_after_epoch_one(files, config, out, *, cancel, on_epoch, **kw):
        def on(r):  # on the worker: the cancel lands before the next batch, whatever the GUI is doing
            on_epoch(r)
            cancel.cancel()

        return real(files, config, out, cancel=cancel, on_epoch=on, **kw)

    monkeypatch.setattr(finetuning, "finetune", cancel_after_epoch_one)
    got = _record(tuner)
    finished: list[object] = []
    tuner.finished.connect(finished.append)
    with qtbot.waitSignal(tuner.cancelled, timeout=60000) as blocker:
        tuner.start([folder], config)
    assert blocker.args[0] == "stopped after epoch 1: run again to resume from epoch 2"
    assert not finished and [r.epoch for r in got["epoch"]] == [1]
    assert not default_output(config, [folder]).exists()
    _settle(qtbot, tuner)

    monkeypatch.setattr(finetuning, "finetune", real)
    with qtbot.waitSignal(tuner.finished, timeout=60000) as done:
        tuner.start([folder], config)
    result = done.args[0]
    assert result.resumed_from >= 1 and [r.epoch for r in result.reports] == [1, 2, 3]
    assert [r.epoch for r in got["epoch"]] == [1, 2, 3]  # only the new epochs were reported live
    _settle(qtbot, tuner)


def test_signals_in_order_with_a_fake_core(qtbot, tuner, tmp_path, monkeypatch):
    fake = FakeFinetune()
    monkeypatch.setattr(finetuning, "finetune", fake)
    folder = photo_folder(tmp_path / "photos", 2)
    got = _record(tuner)
    skipped: list[str] = []
    tuner.skipped.connect(skipped.append)
    (folder / "broken.jpg").write_bytes(b"")  # found by the walk; the core reads it (the fake does not)
    config = FinetuneConfig(epochs=3)
    with qtbot.waitSignal(tuner.finished, timeout=30000):
        tuner.start([folder], config, tmp_path / "out" / "m.pth")
    assert fake.threads[0] is not threading.main_thread()
    assert sorted(p.name for p in fake.calls[0]["files"]) == ["astronaut.jpg", "broken.jpg", "camera.jpg"]
    assert [r.epoch for r in got["epoch"]] == [1, 2, 3] and not got["failed"] and not skipped
    assert any("left" in m and "estimating" not in m for _, m in got["progress"]), got["progress"]
    _settle(qtbot, tuner)


def test_second_start_is_refused_not_superseded(qtbot, tuner, tmp_path, monkeypatch):
    gate = threading.Event()
    monkeypatch.setattr(finetuning, "finetune", FakeFinetune(gate=gate))
    folder = photo_folder(tmp_path / "photos", 2)
    got = _record(tuner)
    config = FinetuneConfig(epochs=1)
    assert tuner.start([folder], config, tmp_path / "a.pth")
    with qtbot.waitSignal(tuner.failed, timeout=5000):
        assert not tuner.start([folder], config, tmp_path / "b.pth")
    assert got["failed"] == [ALREADY_RUNNING] and tuner.is_running()
    with qtbot.waitSignal(tuner.finished, timeout=30000) as blocker:
        gate.set()
    assert blocker.args[0].out == tmp_path / "a.pth" and not (tmp_path / "b.pth").exists()
    _settle(qtbot, tuner)


def test_cancel_before_any_epoch_says_it_starts_over(qtbot, tuner, tmp_path, monkeypatch):
    monkeypatch.setattr(finetuning, "finetune", FakeFinetune(gate=threading.Event()))
    folder = photo_folder(tmp_path / "photos", 2)
    with qtbot.waitSignal(tuner.cancelled, timeout=30000) as blocker:
        tuner.start([folder], FinetuneConfig(epochs=2), tmp_path / "m.pth")
        qtbot.wait(50)
        tuner.cancel()
    assert "starts from epoch 1" in blocker.args[0]
    _settle(qtbot, tuner)


def test_a_cancel_after_the_save_still_delivers_the_model(qtbot, tuner, tmp_path, monkeypatch):
    fake = FakeFinetune()

    def late_cancel(files, config, out, *, cancel, **kw):
        result = fake(files, config, out, cancel=cancel, **kw)
        cancel.cancel()  # as if Cancel was pressed while the core saved
        return result

    monkeypatch.setattr(finetuning, "finetune", late_cancel)
    with qtbot.waitSignal(tuner.finished, timeout=30000) as blocker:
        tuner.start([photo_folder(tmp_path / "photos", 2)], FinetuneConfig(epochs=1), tmp_path / "m.pth")
    assert blocker.args[0].out.is_file()
    _settle(qtbot, tuner)


@pytest.mark.parametrize("kind", ["missing", "empty", "not-a-folder", "bad-config", "json-out", "no-folders"])
def test_failures_are_one_clear_line(qtbot, tuner, tmp_path, kind):
    folder = tmp_path / "imgs"
    folder.mkdir()
    config, out, folders = FinetuneConfig(epochs=1), None, [folder]
    if kind == "missing":
        folders = [tmp_path / "nowhere"]
    elif kind == "not-a-folder":
        (tmp_path / "f.txt").write_text("x")
        folders = [tmp_path / "f.txt"]
    elif kind == "bad-config":
        config = FinetuneConfig(epochs=0)
    elif kind == "json-out":
        out = tmp_path / "m.json"
    elif kind == "no-folders":
        folders = []
    with qtbot.waitSignal(tuner.failed, timeout=30000) as blocker:
        started = tuner.start(folders, config, out)
    assert started == (kind == "empty")
    message = blocker.args[0]
    expected = {
        "missing": "folder not found",
        "empty": "no usable images in",
        "not-a-folder": "is not a folder",
        "bad-config": "epochs must be",
        "json-out": "cannot be a .json",
        "no-folders": "at least one folder",
    }[kind]
    assert expected in message and "\n" not in message
    assert not tuner.is_running()
    _settle(qtbot, tuner)


def test_default_output_is_stable_and_apart():
    folders = [data_dir() / "x"]
    a = default_output(FinetuneConfig(transform="jpeg"), folders)
    assert a == default_output(FinetuneConfig(transform="jpeg", device="cuda"), folders)
    assert a.parent == data_dir() / "models" and a.name.startswith("efficientnet-lite0-jpeg-bn-3ep-")
    assert a != default_output(FinetuneConfig(transform="jpeg", epochs=4), folders)
    assert a != default_output(FinetuneConfig(transform="jpeg"), [data_dir() / "y"])
    fgsm = default_output(FinetuneConfig(adversarial="fgsm", eps=4), folders)
    assert "-clean+fgsm4-bn-" in fgsm.name
    assert "/" not in default_output(FinetuneConfig(classifier="torchvision/resnet50"), folders).name


def test_result_summary(tmp_path):
    reps = [replace(report(1, 2, True), best=False), report(2, 2, True)]
    result = FinetuneResult(tmp_path / "m.pth", tmp_path / "m.json", {}, reps, 0, False)
    text = result_summary(result, "JPEG")
    assert text.startswith("Fine-tuned model saved: m.pth.")
    assert "clean 100% → 96%" in text and "through JPEG 50% → 60%" in text and "epoch 2 kept" in text


@pytest.mark.slow
def test_real_efficientnet_one_epoch(qtbot, tuner, tmp_path):
    folder = photo_folder(tmp_path / "photos")
    got = _record(tuner)
    with qtbot.waitSignal(tuner.finished, timeout=120000) as blocker:
        tuner.start([folder], FinetuneConfig(epochs=1, batch=4, train="bn"))
    result = blocker.args[0]
    assert result.out.is_file() and len(result.reports) == 1 and len(got["epoch"]) == 1
    assert result.reports[0].val_images == 1
    _settle(qtbot, tuner)
