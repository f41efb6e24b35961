"""Exports a speaker can paste: the panel grid and the story steps rendered at 2× (or a chosen size) without
the window's controls, and a report that names the true class's rank, the adversarial's PSNR and
perturbation, and the dictionary's file and SHA-256."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gui_helpers import GapMeter, wait_settled
from PIL import Image
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QLabel, QToolButton, QVBoxLayout, QWidget

from rsdesk.core.io.assets import default_dictionary_path, file_sha256
from rsdesk.core.models.classifier import Prediction
from rsdesk.gui.dialogs.files import ExportDialog
from rsdesk.gui.models.export_size import ExportSize, parse_export_size
from rsdesk.gui.models.results import Row
from rsdesk.gui.models.settings import Settings, load_settings
from rsdesk.gui.tasks.exporter import true_rank
from rsdesk.gui.tasks.snapshot import UI_ONLY, render_widget
from rsdesk.gui.widgets.image_panel import ImagePanel, ViewLink

BACKGROUND = QColor(10, 200, 30)


def _colored(widget: QWidget, color: QColor) -> None:
    widget.setAutoFillBackground(True)
    pal = widget.palette()
    pal.setColor(QPalette.ColorRole.Window, color)
    pal.setColor(QPalette.ColorRole.Button, color)
    widget.setPalette(pal)


@pytest.fixture
def panel_like(qtbot) -> tuple[QWidget, QToolButton, QLabel]:
    root = QWidget()
    qtbot.addWidget(root)
    _colored(root, BACKGROUND)
    lay = QVBoxLayout(root)
    content = QLabel("content")
    _colored(content, QColor(200, 20, 20))
    button = QToolButton()
    button.setText("δ ×")
    _colored(button, QColor(20, 20, 220))
    hint = QLabel("Space: next step")
    hint.setProperty(UI_ONLY, True)
    _colored(hint, QColor(220, 220, 20))
    for w in (content, button, hint):
        lay.addWidget(w)
    root.resize(300, 200)
    root.show()
    qtbot.waitExposed(root)
    return root, button, hint


def _region_colors(image: QImage, widget: QWidget, root: QWidget, ratio: float) -> set[tuple[int, int, int]]:
    top_left = widget.mapTo(root, widget.rect().topLeft())
    x0, y0 = round(top_left.x() * ratio), round(top_left.y() * ratio)
    w, h = round(widget.width() * ratio), round(widget.height() * ratio)
    return {image.pixelColor(x, y).getRgb()[:3] for x in range(x0, x0 + w, 3) for y in range(y0, y0 + h, 3)}


def test_render_is_twice_the_size_without_buttons_or_ui_only_widgets(panel_like):
    root, button, hint = panel_like
    picture = render_widget(root, ExportSize())
    assert (picture.width(), picture.height()) == (600, 400)
    assert picture.devicePixelRatio() == 2.0
    background = BACKGROUND.getRgb()[:3]
    assert _region_colors(picture, button, root, 2) == {background}  # not drawn: the background shows
    assert _region_colors(picture, hint, root, 2) == {background}
    content = root.findChildren(QLabel)[0]
    assert (200, 20, 20) in _region_colors(picture, content, root, 2)
    # the controls are still there in the window, untouched
    assert button.isVisible() and hint.isVisible()
    grab = root.grab().toImage()
    assert background not in _region_colors(grab, button, root, grab.devicePixelRatio())


def test_render_to_a_width_keeps_the_proportions(panel_like):
    root, _button, _hint = panel_like
    picture = render_widget(root, parse_export_size("1920px"))
    assert (picture.width(), picture.height()) == (1920, 1280)
    one = render_widget(root, parse_export_size("1x"))
    assert (one.width(), one.height()) == (300, 200)


def test_render_leaves_out_the_hover_crosshair_and_puts_it_back(qtbot):
    link = ViewLink()
    panel = ImagePanel(link)
    qtbot.addWidget(panel)
    panel.resize(120, 120)
    gray = QImage(12, 12, QImage.Format.Format_RGB32)
    gray.fill(QColor(128, 128, 128))
    panel.set_image(gray, lambda x, y: f"({x}, {y}) readout")
    panel.show()
    link.set_hover(QPointF(0.5, 0.5))
    picture = render_widget(panel, ExportSize(scale=1))
    link.set_hover(None)
    clean = render_widget(panel, ExportSize(scale=1))
    assert picture == clean  # no crosshair, no readout
    link.set_hover(QPointF(0.5, 0.5))
    render_widget(panel, ExportSize())
    assert link.hover == QPointF(0.5, 0.5)


@pytest.mark.parametrize(
    ("text", "size"),
    [("2x", ExportSize(2.0)), ("1.5×", ExportSize(1.5)), ("1920px", ExportSize(width=1920))],
)
def test_export_sizes_parse(text, size):
    assert parse_export_size(text) == size


@pytest.mark.parametrize("text", ["", "0x", "9x", "10px", "1920.5px", "big"])
def test_bad_export_sizes_are_refused(text):
    with pytest.raises(ValueError):
        parse_export_size(text)


def test_a_bad_export_size_in_the_settings_file_falls_back_to_2x(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"schema_version": 1, "export_size": "huge"}', encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings.export_size == "2x"
    assert len(warnings) == 1 and "Export size" in warnings[0]
    assert Settings(export_size="1920px").validate() == []


def test_the_export_dialog_offers_the_sizes_with_the_last_choice_selected(qtbot, tmp_path):
    dialog = ExportDialog(None, "1920px")
    qtbot.addWidget(dialog)
    assert dialog.size_box.currentData() == "1920px"
    assert [dialog.size_box.itemData(i) for i in range(dialog.size_box.count())][:2] == ["2x", "1x"]
    assert ExportDialog(None).size_box.currentData() == "2x"
    dialog.setDirectory(str(tmp_path))
    dialog.selectFile(str(tmp_path))
    dialog.size_box.setCurrentIndex(dialog.size_box.findData("1x"))
    dialog.accept()
    path, size = dialog.chosen()
    assert path == tmp_path and size == "1x"


def test_true_rank_follows_the_panels_rule():
    probs = np.array([0.1, 0.5, 0.3, 0.1], dtype=np.float32)
    rank, score = true_rank(Prediction(probs), 2)
    assert rank == 2 and score.index == 2 and score.prob == pytest.approx(0.3)
    assert true_rank(Prediction(probs), 3)[0] == 3  # a tie ranks the same as its twin
    assert true_rank(Prediction(probs), None) == (None, None)


def test_window_export_is_slide_ready(window, qtbot, tmp_path):
    wait_settled(qtbot, window)
    adv = window.results.result(Row.ADVERSARIAL)
    window.session.settings.export_size = "2x"
    panels = window.panels
    (button,) = [b for b in panels.findChildren(QToolButton) if b.isVisible()]
    grid_size, story_size = panels.size().toTuple(), window._split.size().toTuple()
    on_screen = panels.grab().toImage()
    written = {p.name: p for p in window.export_to(tmp_path)}  # its message then moves the panels down
    # the panels picture: 2× the grid on screen, no "δ ×" button in it
    grid = QImage(str(written["camera_fgsm_panels.png"]))
    assert (grid.width(), grid.height()) == (2 * grid_size[0], 2 * grid_size[1])
    assert len(_region_colors(grid, button, panels, 2)) == 1  # the background alone where the button is
    assert len(_region_colors(on_screen, button, panels, on_screen.devicePixelRatio())) > 1
    # every story step, at 2× of where the story goes
    steps = sorted(n for n in written if n.startswith("camera_fgsm_story"))
    assert steps
    for name in steps:
        with Image.open(written[name]) as im:
            assert im.size == (2 * story_size[0], 2 * story_size[1])
    # the report: the true class's rank, the adversarial's PSNR and perturbation, the dictionary and its hash
    html = written["camera_fgsm_report.html"].read_text(encoding="utf-8")
    rank = int((adv.prediction.probs > adv.prediction.probs[872]).sum()) + 1  # tripod
    assert f"<th>true class rank, adversarial</th><td>#{rank}</td>" in html
    assert f"true class ranked <b>#{rank}</b>" in html
    assert f"<th>PSNR adversarial (dB)</th><td>{adv.psnr:.2f}</td>" in html
    assert f"<td>{adv.stats.d:.4f}</td>" in html and f"<td>{adv.stats.l2:.4f}</td>" in html
    assert f"<td>{file_sha256(default_dictionary_path())}</td>" in html
    assert re.search(r"<th>dictionary file</th><td>[^<]*default_dictionary\.npz \(bundled\)</td>", html)


def test_the_window_writes_its_export_on_a_worker(window, qtbot, tmp_path):
    wait_settled(qtbot, window)
    meter = GapMeter(20)
    assert window.export_to(tmp_path, background=True) == []  # rendered now, written by a worker
    meter.start()
    with qtbot.waitSignal(window.session.exported, timeout=30000) as blocker:
        pass
    meter.stop()
    written = blocker.args[0]
    assert {p.name for p in written} >= {"camera_fgsm_panels.png", "camera_fgsm_report.html"}
    assert all(p.is_file() for p in written)
    assert window.messages.kind == "info" and f"Exported {len(written)} files" in window.messages.text.text()
    assert meter.worst < 0.5, meter.gaps  # the event loop kept running while the PNGs were encoded
