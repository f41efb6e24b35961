"""The window's geometry, dock and splitter sizes and current tab survive a restart; a broken, foreign or
off-screen state is ignored (one log line), and a ``--screenshot`` run neither reads nor writes it."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QRect

from rsdesk.gui.models.settings import config_dir
from rsdesk.gui.models.window_state import (
    WINDOW_FILE,
    WindowState,
    fit_to_screens,
    load_window_state,
    parse_window_state,
    save_window_state,
)
from rsdesk.gui.views import window_layout

BIG_SCREEN = [(0, 0, 1920, 1080)]


def test_state_round_trips_through_the_file(tmp_path):
    state = WindowState((10, 20, 1200, 800), True, (500, 140), "Log", b"\x00\xffdocks")
    path = save_window_state(state, tmp_path / WINDOW_FILE)
    assert load_window_state(path) == (state, "")
    assert load_window_state(tmp_path / "missing.json") == (None, "")


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2, 3]",
        json.dumps({"schema": "someone-else", "version": 1}),
        json.dumps({"schema": "rsdesk-window", "version": 99}),
        json.dumps({"schema": "rsdesk-window", "version": 1, "geometry": [1, 2, "wide", 4]}),
        json.dumps({"schema": "rsdesk-window", "version": 1, "geometry": [1, 2, 0, 4]}),
        json.dumps({"schema": "rsdesk-window", "version": 1, "splitter": [-5, 3]}),
        json.dumps({"schema": "rsdesk-window", "version": 1, "docks": "%%%"}),
        json.dumps({"schema": "rsdesk-window", "version": 1, "maximized": "yes"}),
    ],
)
def test_a_broken_or_foreign_file_is_ignored_with_a_reason(tmp_path, content):
    path = tmp_path / WINDOW_FILE
    path.write_text(content, encoding="utf-8")
    state, problem = load_window_state(path)
    assert state is None and WINDOW_FILE in problem and "ignored" in problem


def test_geometry_off_every_screen_is_dropped_and_a_large_one_shrinks_onto_its_screen():
    screens = [(0, 0, 1366, 768), (1366, 0, 1920, 1080)]
    assert fit_to_screens((5000, 5000, 800, 600), screens) is None
    assert fit_to_screens((-900, 100, 800, 600), screens) is None  # a monitor left of the first is gone
    assert fit_to_screens((100, 50, 800, 600), screens) == (100, 50, 800, 600)
    assert fit_to_screens((1300, 0, 2500, 1400), screens) == (1366, 0, 1920, 1080)  # mostly on the 2nd
    assert fit_to_screens((1200, 600, 800, 600), [(0, 0, 1366, 768)]) == (566, 168, 800, 600)
    with pytest.raises(ValueError):
        parse_window_state({"schema": "rsdesk-window", "version": 1, "tab": 3})


def test_the_layout_persists_between_runs(make_window, qtbot, monkeypatch):
    monkeypatch.setattr(window_layout, "screen_rects", lambda: BIG_SCREEN)
    monkeypatch.setattr(window_layout, "available_rect", lambda _screen: BIG_SCREEN[0])
    first = make_window()
    first.window_layout.restore()  # as app.run does: nothing saved yet, saving is on from now
    assert "WARNING" not in first.log.toPlainText()
    first.setGeometry(QRect(40, 30, 1300, 860))
    qtbot.waitUntil(lambda: first._split.height() < 860 - 100, timeout=5000)
    qtbot.wait(50)
    first.tabs.setCurrentWidget(first.activations)  # raised first: raising it makes room (TabRoom)
    first._split.setSizes([500, 250])
    sizes = first._split.sizes()
    first.acts.presentation.setChecked(True)  # closing in presentation mode keeps the normal layout
    first.close()
    saved = json.loads((config_dir() / WINDOW_FILE).read_text(encoding="utf-8"))
    assert saved["geometry"] == [40, 30, 1300, 860] and saved["tab"] == "Activations"
    assert saved["splitter"] == sizes

    second = make_window()
    second.hide()
    second.window_layout.restore()
    second.show()
    qtbot.waitUntil(lambda: second._split.sizes() == sizes, timeout=5000)
    assert second.geometry() == QRect(40, 30, 1300, 860)
    assert second.tabs.currentWidget() is second.activations


def test_a_corrupt_file_costs_one_log_line_and_off_screen_geometry_is_not_restored(make_window, monkeypatch):
    monkeypatch.setattr(window_layout, "screen_rects", lambda: BIG_SCREEN)
    monkeypatch.setattr(window_layout, "available_rect", lambda _screen: BIG_SCREEN[0])
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / WINDOW_FILE).write_text("\x00garbage{", encoding="utf-8")
    w = make_window()
    w.window_layout.restore()
    lines = [line for line in w.log.toPlainText().splitlines() if WINDOW_FILE in line]
    assert len(lines) == 1 and "WARNING" in lines[0]
    before = w.geometry()
    w.window_layout.apply(WindowState(geometry=(5000, 4000, 1200, 800)))
    assert w.geometry() == before


def test_screenshot_runs_neither_read_nor_write_the_layout(qtbot, tmp_path, gui_torch_threads, monkeypatch):
    from rsdesk.gui.app import run

    calls = []
    monkeypatch.setattr(window_layout.WindowLayout, "restore", lambda self: calls.append(self))
    path = save_window_state(WindowState((3000, 3000, 400, 300), False, (1, 1), "Activations"))
    before = path.read_bytes()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    assert run([str(broken)], screenshot=str(tmp_path / "shot.png")) == 1
    assert calls == [] and path.read_bytes() == before
