"""``rsdesk --screenshot``: the window rendered offscreen after the pipeline ran, then exit."""

from __future__ import annotations

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
