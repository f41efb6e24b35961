"""Fault injection on every save the window makes (settings, window layout, dictionary, trained dictionary,
image export, evaluation export): a full disk or a read-only destination gives one clear message naming the
path, leaves no partial or temp file, and the window keeps running."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from evaluation_helpers import synthetic_run
from gui_helpers import training_images, wait_settled

from rsdesk.gui.models.results import Row
from rsdesk.gui.models.settings import Settings, config_dir, data_dir

FULL = "the disk is full"


class _FullDisk:
    """A file whose writes stop half-way with ENOSPC, as on a disk that fills up during the save."""

    def __init__(self, fh) -> None:
        self._fh = fh

    def write(self, data) -> int:
        data = bytes(data)
        self._fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        self._fh.close()


@pytest.fixture
def full_disk(monkeypatch):
    """Call it to fill the disk: from then on every binary file opened for writing fails half-way."""
    real = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        fh = real(fd, mode, *args, **kwargs)
        return _FullDisk(fh) if "w" in mode and "b" in mode else fh

    return lambda: monkeypatch.setattr(os, "fdopen", fdopen)


def _left(folder: Path) -> list[str]:
    """Every file under ``folder`` (temp files included)."""
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _errors(w) -> list[str]:
    return [line for line in w.log.toPlainText().splitlines() if " ERROR " in line or "WARNING" in line]


def test_a_full_disk_on_every_save(window, qtbot, tmp_path, full_disk):
    w = window
    wait_settled(qtbot, w)  # an attacked image: something to export
    run = synthetic_run(tmp_path / "run", {("fgsm", 4.0, "jpeg"): {"img1.png"}})
    train = training_images(tmp_path / "train", 4, size=48)
    full_disk()
    shown: list[tuple[str, str]] = []
    w.messages.shown.connect(lambda kind, text, _d: shown.append((kind, text)))

    w.session.save_settings()
    settings = config_dir() / "settings.json"
    assert shown[-1] == ("error", f"Settings could not be saved: cannot save {settings}: {FULL}")

    w.window_layout.enabled = True  # as after a restore: the layout is saved when the window closes
    w.window_layout.save()
    layout = config_dir() / "window.json"
    assert f"the window layout could not be saved (cannot save {layout}: {FULL})" in w.log.toPlainText()
    assert _left(config_dir()) == []

    out = tmp_path / "dicts" / "mine.npz"
    assert w.session.save_dictionary(out) is None
    assert shown[-1] == ("error", f"Dictionary not saved: cannot save {out}: {FULL}")
    assert _left(out.parent) == []

    exports = tmp_path / "exports"
    assert w.export_to(exports) == []
    kind, text = shown[-1]
    assert kind == "error" and text.startswith(f"Export failed: cannot save {exports}{os.sep}")
    assert text.endswith(f"_panels.png: {FULL}") and _left(exports) == []

    ev = w.session.evaluation
    assert ev.open(run)
    qtbot.waitUntil(lambda: ev.results.summary is not None and not ev.is_loading(), timeout=30000)
    figures = tmp_path / "figures_out"
    n = len(shown)
    ev.export(figures)
    qtbot.waitUntil(lambda: len(shown) > n, timeout=30000)
    kind, text = shown[-1]
    assert kind == "error" and text.startswith(f"Export failed: cannot save {figures}{os.sep}figures{os.sep}")
    assert text.endswith(f".png: {FULL}") and _left(figures) == []

    w.session.apply_new_settings(Settings(attack="fgsm", n_atoms=16, patches_per_image=100))
    w.session.train_from(train)
    qtbot.waitUntil(lambda: not w.trainer.is_running(), timeout=60000)
    qtbot.waitUntil(lambda: shown[-1][1].startswith("Dictionary training failed"), timeout=5000)
    kind, text = shown[-1]
    saved = data_dir() / "dictionaries"
    assert kind == "error" and text.startswith(f"Dictionary training failed: cannot save {saved}{os.sep}")
    assert text.endswith(f".npz: {FULL}") and _left(saved) == []

    # the window keeps running: the next attack still runs and lands
    w.state.set_attack_param("eps", 6.0, "fgsm")
    w.pipeline.attack_now()
    wait_settled(qtbot, w)
    adv = w.results.result(Row.ADVERSARIAL)
    assert w.isVisible() and adv is not None and adv.config.params["eps"] == 6.0


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_destination_on_every_save(window, qtbot, tmp_path, monkeypatch):
    w = window
    wait_settled(qtbot, w)
    shown: list[tuple[str, str]] = []
    w.messages.shown.connect(lambda kind, text, _d: shown.append((kind, text)))
    locked = tmp_path / "locked"
    locked.mkdir()
    for sub in ("config", "data/dictionaries", "dicts", "exports", "figures"):
        (locked / sub).mkdir(parents=True)
    monkeypatch.setenv("RSDESK_CONFIG_DIR", str(locked / "config"))
    monkeypatch.setenv("RSDESK_DATA_DIR", str(locked / "data"))
    folders = [p for p in locked.rglob("*") if p.is_dir()]
    for p in folders:
        p.chmod(0o500)
    try:
        w.session.save_settings()
        assert shown[-1][0] == "error" and str(locked / "config" / "settings.json") in shown[-1][1]
        w.window_layout.enabled = True
        w.window_layout.save()
        assert str(locked / "config" / "window.json") in w.log.toPlainText()
        assert w.session.save_dictionary(locked / "dicts" / "mine.npz") is None
        assert shown[-1][0] == "error" and str(locked / "dicts" / "mine.npz") in shown[-1][1]
        assert w.export_to(locked / "exports") == []
        assert shown[-1][0] == "error" and str(locked / "exports") in shown[-1][1]
        w.session.train_from(training_images(tmp_path / "train", 4, size=48))
        qtbot.waitUntil(lambda: shown[-1][1].startswith("Dictionary training failed"), timeout=5000)
        assert str(locked / "data" / "dictionaries") in shown[-1][1]
    finally:
        for p in folders:
            p.chmod(0o700)
    assert _left(locked) == []
