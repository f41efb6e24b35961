"""A dictionary other than the default never replaces it silently: the status bar says "trained" (or
"loaded") and which file, and the first start that loads it from a previous session says so once."""

from __future__ import annotations

from dataclasses import replace

from rsdesk.core.sparse.dictionary_file import random_dictionary, save_dictionary
from rsdesk.gui.models.settings import Settings, data_dir, load_settings, save_settings

NOTE = "(from a previous session); Dictionary ▸ Use the Bundled Dictionary goes back to the default."


def test_a_trained_dictionary_from_a_previous_session_is_announced_once(make_window, qtbot, tmp_path):
    trained = data_dir() / "dictionaries" / "dictionary-test-h10-16.npz"
    save_dictionary(trained, random_dictionary(16))
    save_settings(replace(Settings(attack="fgsm"), dictionary_path=str(trained)))
    w = make_window()  # the app's start: the settings file names the trained dictionary
    assert w.state.dictionary.path == trained
    log = w.log.toPlainText()
    assert f"Using your trained dictionary {trained.name} {NOTE}" in log
    assert w.dictionary_label.text().startswith(f"Dictionary: trained {trained.stem}")
    tip = w.dictionary_label.toolTip()
    assert str(trained) in tip and "Use the Bundled Dictionary" in tip
    w.close()  # the settings are saved: the note has been said
    assert load_settings()[0].dictionary_announced == str(trained)
    again = make_window()
    assert again.state.dictionary.path == trained
    assert "previous session" not in again.log.toPlainText()
    assert again.dictionary_label.text().startswith("Dictionary: trained")
    again.session.use_dictionary(None)  # back to the default: the status bar says so
    assert again.dictionary_label.text().startswith("Dictionary: default")


def test_a_loaded_file_is_called_loaded(make_window, tmp_path):
    mine = save_dictionary(tmp_path / "mine.npz", random_dictionary(16))
    save_settings(replace(Settings(attack="fgsm"), dictionary_path=str(mine)))
    w = make_window()
    assert f"Using your loaded dictionary mine.npz {NOTE}" in w.log.toPlainText()
    assert w.dictionary_label.text().startswith("Dictionary: loaded mine")
