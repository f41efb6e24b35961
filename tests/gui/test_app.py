"""``rsdesk --screenshot``: the window rendered offscreen after the pipeline ran, then exit."""

from __future__ import annotations

import sys

import pytest
from PIL import Image

from rsdesk.core.io.assets import resource_path
from rsdesk.gui.app import SCREENSHOT_SIZE, run


def test_screenshot_of_a_given_image(qtbot, tmp_path, gui_torch_threads, capsys):
    out = tmp_path / "shot.png"
    assert run([str(resource_path("samples", "coffee.jpg"))], screenshot=str(out)) == 0
    assert Image.open(out).size == SCREENSHOT_SIZE
    assert "saved" in capsys.readouterr().out


def test_screenshot_fails_clearly_without_a_usable_image(qtbot, tmp_path, gui_torch_threads, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    out = tmp_path / "shot.png"
    assert run([str(broken)], screenshot=str(out)) == 1
    assert "no image could be opened" in capsys.readouterr().err
    assert not out.exists()


def test_without_a_display_the_app_says_so_instead_of_aborting(monkeypatch, capsys):
    from rsdesk.gui import app

    monkeypatch.setattr(app.sys, "platform", "linux")
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    assert app.run([]) == 1
    assert "no display found" in capsys.readouterr().err
    monkeypatch.setenv("DISPLAY", ":0")
    assert app.no_display_message() is None


def test_missing_x_libraries_are_named_with_the_command_that_installs_them():
    from rsdesk.gui.app import XCB_LIBRARIES, missing_xcb_message

    absent = {"libxcb-cursor.so.0", "libxcb-keysyms.so.1"}
    present = lambda name: name not in absent  # noqa: E731
    x11 = {"DISPLAY": ":0"}
    text = missing_xcb_message(x11, "linux", present)
    assert text is not None and "\n" not in text
    assert "libxcb-cursor.so.0, libxcb-keysyms.so.1" in text
    assert text.endswith("sudo apt-get install libxcb-cursor0 libxcb-keysyms1")
    assert missing_xcb_message({"QT_QPA_PLATFORM": "xcb"}, "linux", present) == text
    # all there, or Qt will not use xcb: nothing to say (and nothing is looked up)
    assert missing_xcb_message(x11, "linux", lambda _n: True) is None
    never = lambda name: pytest.fail(f"looked for {name}")  # noqa: E731
    for env, platform in (
        ({"DISPLAY": ":0"}, "darwin"),
        ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, "linux"),
        ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, "linux"),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux"),
        ({}, "linux"),
    ):
        assert missing_xcb_message(env, platform, never) is None
    assert set(XCB_LIBRARIES.values()) >= {"libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"}


def test_the_window_does_not_start_without_them_but_says_why(monkeypatch, capsys):
    from rsdesk.gui import app

    monkeypatch.setattr(app.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(app, "_loadable", lambda name: name != "libxcb-icccm.so.4")
    assert app.run([]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "libxcb-icccm.so.4" in err and "apt-get install libxcb-icccm4" in err


def test_the_real_loader_check_finds_a_library_every_linux_has():
    from rsdesk.gui.app import _loadable

    if sys.platform != "linux":
        pytest.skip("Linux only")
    assert _loadable("libc.so.6") and not _loadable("libno-such-library-rsdesk.so.0")
