"""The real window: first start, keyboard, export and re-load, settings, dictionaries, shutdown."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from gui_helpers import assert_no_threads, blocky_images, wait_settled
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from rsdesk.core.io.images import load_image
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.gui.dialogs import files
from rsdesk.gui.models.results import Row, Status
from rsdesk.gui.models.settings import Settings, config_dir, data_dir, load_settings
from rsdesk.gui.tasks.pipeline import Stage
from rsdesk.gui.views.story import STEPS


def press(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    qtbot.keyClick(window.focusWidget() or window, key, modifier)


def test_first_start_shows_a_labelled_sample_attacked_and_purified(make_window, qtbot):
    w = make_window(Settings(attack="fgsm"), open_samples=True)
    assert w.gallery.rowCount() == 5
    wait_settled(qtbot, w)
    assert w.state.image.name == "camera.jpg"  # the first sample with a true label
    assert all(w.results.stage(r).current for r in Row)
    assert "Dictionary: default" in w.dictionary_label.text()
    assert "EfficientNet-Lite0" in w.classifier_label.text()
    assert not w.messages.isVisible()  # nothing to complain about on a clean first start


def test_keyboard_shortcuts(window, qtbot, tmp_path, monkeypatch):
    wait_settled(qtbot, window)
    first = window.state.image
    press(qtbot, window, Qt.Key.Key_Right)
    assert window.state.image != first
    press(qtbot, window, Qt.Key.Key_Left)
    assert window.state.image == first
    press(qtbot, window, Qt.Key.Key_D)
    assert not window.state.defense_enabled
    assert window.results.stage(Row.PURIFIED).status is Status.OFF
    press(qtbot, window, Qt.Key.Key_D)
    assert window.state.defense_enabled
    wait_settled(qtbot, window)
    window.pipeline.set_auto_attack(False)
    window.state.set_attack_param("eps", 4.0, "fgsm")  # Ctrl+Enter attacks with the new settings
    with qtbot.waitSignal(
        window.pipeline.stage_finished, timeout=30000, check_params_cb=lambda s, _r: s == Stage.ATTACK
    ):
        press(qtbot, window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_settled(qtbot, window)
    monkeypatch.setattr(files, "ask_export", lambda _parent, size: (tmp_path, size))
    with qtbot.waitSignal(window.session.exported, timeout=30000):  # written on a worker
        press(qtbot, window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert list(tmp_path.glob("*_report.html"))
    size = window.font().pointSizeF()
    press(qtbot, window, Qt.Key.Key_F11)
    assert window.presentation.active and window.font().pointSizeF() > size
    assert not window.gallery_dock.isVisible()
    press(qtbot, window, Qt.Key.Key_Escape)
    assert not window.presentation.active and window.font().pointSizeF() == size
    assert window.gallery_dock.isVisible()
    assert window.acts.settings.shortcut().toString() == "Ctrl+,"


def test_export_files_and_reload_them(window, qtbot, tmp_path, classifier):
    wait_settled(qtbot, window)
    adv = window.results.result(Row.ADVERSARIAL)
    pur = window.results.result(Row.PURIFIED)
    grid_size = (window.panels.width(), window.panels.height())
    written = window.export_to(tmp_path)
    names = sorted(p.name for p in written)
    assert names == sorted(
        [
            "camera_fgsm_panels.png",
            "camera_fgsm_adversarial.png",
            "camera_fgsm_adversarial.npy",
            "camera_fgsm_purified_regionsparse.png",
            "camera_fgsm_report.html",
            *(f"camera_fgsm_story{n}.png" for n in range(1, STEPS + 1)),
        ]
    )
    exact = load_image(tmp_path / "camera_fgsm_adversarial.npy")
    assert np.array_equal(exact, adv.image)  # bit for bit
    assert classifier.classify(exact).index == adv.prediction.index
    png = load_image(tmp_path / "camera_fgsm_adversarial.png")
    assert png.shape == (224, 224, 3) and np.abs(png - adv.image).max() <= 0.5 / 255 + 1e-6
    purified = load_image(tmp_path / "camera_fgsm_purified_regionsparse.png")
    assert np.abs(purified - pur.image).max() <= 0.5 / 255 + 1e-6
    grid = Image.open(tmp_path / "camera_fgsm_panels.png")
    assert grid.size == (2 * grid_size[0], 2 * grid_size[1])  # rendered for slides: 2× by default
    html = (tmp_path / "camera_fgsm_report.html").read_text(encoding="utf-8")
    assert "camera.jpg" in html and adv.judgement.verdict.value in html and "tripod" in html
    # and the exported adversarial image can be brought back in and analysed
    with qtbot.waitSignal(window.importer.finished, timeout=30000):
        window.import_paths([tmp_path / "camera_fgsm_adversarial.npy"], select=True)
    wait_settled(qtbot, window)
    assert window.results.result(Row.ORIGINAL).prediction.index == adv.prediction.index


def test_export_before_an_attack_is_a_message(make_window, qtbot, tmp_path):
    w = make_window()
    assert w.export_to(tmp_path) == []
    assert w.messages.kind == "warning" and "nothing to export" in w.messages.text.text()


def test_settings_apply_persist_and_warn(make_window, qtbot):
    w = make_window(Settings(attack="fgsm"))
    new = replace(w.session.current_settings(), k=2, theta=0.5, eps=4.0, attack="bim", h=5.0)
    w.session.apply_new_settings(new)
    assert w.state.defense_values()["k"] == 2 and w.state.attack == "bim"
    assert w.state.attack_values()["eps"] == 4.0
    assert w.messages.kind == "warning" and "h = 5" in w.messages.text.text()
    w.statusBar().show()
    assert not w.h_warning.isHidden()  # settings' h differs from the dictionary's
    saved, warnings = load_settings()
    assert warnings == [] and (saved.k, saved.theta, saved.eps, saved.h) == (2, 0.5, 4.0, 5.0)


def test_bad_settings_file_is_reported_in_the_window(make_window):
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "settings.json").write_text(json.dumps({"k": "many", "eps": 900}), encoding="utf-8")
    w = make_window()
    assert w.messages.isVisible() and w.messages.kind == "warning"
    assert "2 problems" in w.messages.text.text()
    assert w.state.defense_values()["k"] == 4


def test_train_a_dictionary_then_it_is_used(make_window, qtbot, tmp_path):
    settings = Settings(attack="fgsm", h=0.0, n_atoms=16, patches_per_image=150)
    w = make_window(settings, open_samples=True)
    wait_settled(qtbot, w)
    folder = blocky_images(tmp_path / "train", 3)
    with qtbot.waitSignal(
        w.pipeline.stage_finished,
        timeout=60000,
        check_params_cb=lambda s, r: s == Stage.PURIFY and "dictionaries" in r.defense.dictionary_id,
    ):
        w.session.train_from(folder)
        assert w.training_status.isVisible()
    info = w.state.dictionary
    assert info.path.parent == data_dir() / "dictionaries" and info.dictionary.n_atoms == 16
    assert load_dictionary(info.path).n_atoms == 16
    assert info.path.stem in w.dictionary_label.text()
    assert load_settings()[0].dictionary_path == str(info.path)
    qtbot.waitUntil(lambda: not w.training_status.isVisible(), timeout=5000)


def test_a_bad_dictionary_file_is_refused(make_window, tmp_path):
    w = make_window()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    before = w.state.dictionary
    assert not w.session.use_dictionary(bad)
    assert w.state.dictionary is before
    assert w.messages.kind == "error" and "bad.npz" in w.messages.text.text()


def test_close_during_attack_and_training_leaves_no_thread(make_window, qtbot, tmp_path):
    w = make_window(Settings(h=0.0, n_atoms=256, patches_per_image=4000), open_samples=True)
    w.state.set_attack_param("steps", 5000)
    qtbot.waitUntil(lambda: w.results.stage(Row.ADVERSARIAL).progress > 0, timeout=30000)
    w.session.train_from(blocky_images(tmp_path / "train", 4, size=128))
    qtbot.waitUntil(w.trainer.is_running, timeout=5000)
    w.close()
    assert not w.trainer.is_running() or w.trainer.wait(10000)
    assert_no_threads(10000)


def test_garbage_is_collected_on_the_gui_thread_only_while_open(make_window, qtbot):
    import gc

    gc.enable()  # as in the app (the GUI tests themselves keep it off: see conftest.py)
    try:
        w = make_window()
        assert not gc.isenabled()  # a worker could otherwise destroy QObjects (deadlock)
        garbage = [QApplication.instance()]
        garbage.append(garbage)  # a cycle, freed by the timer on the GUI thread
        del garbage
        w._gc.collect()
        w.close()
        assert gc.isenabled()
    finally:
        gc.disable()
