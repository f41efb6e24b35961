"""Exports: grid PNG, PNG/NPY round trips, and the self-contained, escaped HTML report."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from rsdesk import __version__
from rsdesk.core.io.images import load_image, quantize
from rsdesk.core.models.classifier import ClassScore
from rsdesk.gui.tasks.report import (
    Report,
    ReportPanel,
    export_grid_png,
    export_image_npy,
    export_image_png,
    write_html_report,
)


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.random((20, 30, 3), dtype=np.float32)


def test_grid_png_has_the_widget_size_and_pixels(qtbot, tmp_path):
    grid = QWidget()
    qtbot.addWidget(grid)
    lay = QGridLayout(grid)
    for i in range(4):
        lay.addWidget(QLabel(f"panel {i}"), i // 2, i % 2)
    grid.setAutoFillBackground(True)
    pal = grid.palette()
    pal.setColor(QPalette.ColorRole.Window, QColor(10, 200, 30))
    grid.setPalette(pal)
    grid.resize(321, 123)
    grid.show()
    path = export_grid_png(grid, tmp_path / "grid.png")
    img = QImage(str(path))
    dpr = grid.devicePixelRatioF()
    assert (img.width(), img.height()) == (round(321 * dpr), round(123 * dpr))
    assert img.pixelColor(1, 1) == QColor(10, 200, 30)
    assert not list(tmp_path.glob("*.tmp"))


def test_png_round_trip_is_8bit_exact(tmp_path, image):
    path = export_image_png(tmp_path / "x.png", image)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
    np.testing.assert_array_equal(load_image(path), quantize(image))


def test_npy_round_trip_is_exact(tmp_path, image):
    path = export_image_npy(tmp_path / "x.npy", image)
    back = np.load(path, allow_pickle=False)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, image)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 4)), np.zeros((0, 3, 3)), np.full((4, 4, 3), np.nan)])
def test_bad_arrays_are_refused_clearly(tmp_path, bad):
    with pytest.raises(ValueError, match="cannot export"):
        export_image_png(tmp_path / "x.png", bad)
    assert not (tmp_path / "x.png").exists()


def _report(image: np.ndarray) -> Report:
    top = [ClassScore(281, "tabby", 0.8), ClassScore(282, "tiger cat", 0.1)]
    fooled = [ClassScore(1, "<script>alert(1)</script>", 0.7), ClassScore(281, "tabby", 0.2)]
    return Report(
        image_name='cat & "friends".png',
        true_label="tabby",
        panels=[
            ReportPanel("Original", image, top, "correct"),
            ReportPanel("Adversarial", image * 0.5, fooled, "FOOLED", "L2 1.23, L∞ 8/255"),
            ReportPanel("Object mask", image, note="coverage 54%"),
            ReportPanel("Purified", image, top, "RECOVERED", "PSNR 31.2 dB"),
            ReportPanel("CAM — purified", None),
        ],
        parameters={
            "attack": "BIM (eps=8, steps=10)",
            "defense": "RegionSparse",
            "K": "4",
            "θ": "1.0",
            "note": "<b>bold</b>",
        },
    )


def test_html_report_is_self_contained_and_escaped(tmp_path, image):
    path = write_html_report(tmp_path / "report.html", _report(image))
    text = path.read_text(encoding="utf-8")
    for title in ("Original", "Adversarial", "Object mask", "Purified", "CAM — purified"):
        assert f"<figcaption>{title}</figcaption>" in text
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(uris) == 4  # the panel without an image says so instead
    assert "not computed" in text
    with Image.open(io.BytesIO(base64.b64decode(uris[0]))) as im:
        assert im.size == (30, 20)
        np.testing.assert_array_equal(np.asarray(im), np.rint(image * 255).astype(np.uint8))
    # nothing refers outside the file
    assert "http://" not in text and "https://" not in text and not re.search(r'src="(?!data:)', text)
    # user text is escaped, never live markup
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    assert "cat &amp; &quot;friends&quot;.png" in text
    # verdicts as icon + word; the true class highlighted in every table it appears in
    for verdict in ("✓ correct", "✗ FOOLED", "✓ RECOVERED"):
        assert verdict in text
    assert text.count('<tr class="hl"><td>tabby</td>') == 3
    assert "L∞ 8/255" in text and "coverage 54%" in text and "PSNR 31.2 dB" in text
    for key, value in (("attack", "BIM (eps=8, steps=10)"), ("θ", "1.0")):
        assert f"<tr><th>{key}</th><td>{value}</td></tr>" in text
    assert f"RSDesk {__version__}" in text
    assert re.search(r"Generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", text)


def test_without_true_label_the_original_prediction_is_highlighted(tmp_path, image):
    report = _report(image)
    report.true_label = None
    text = write_html_report(tmp_path / "r.html", report).read_text(encoding="utf-8")
    assert "true class: <b>unknown</b>" in text
    assert '<tr class="hl"><td>tabby</td>' in text
    assert "STILL FOOLED" not in text
    report.panels[3].verdict = "STILL FOOLED"
    text = write_html_report(tmp_path / "r.html", report).read_text(encoding="utf-8")
    assert "✗ STILL FOOLED" in text


def test_the_true_class_out_of_the_top5_is_shown_with_its_rank(tmp_path, image):
    report = _report(image)
    report.panels[1].true_rank, report.panels[1].true_score = 846, ClassScore(281, "tabby", 0.0001)
    report.panels[0].true_rank, report.panels[0].true_score = 1, ClassScore(281, "tabby", 0.8)
    text = write_html_report(tmp_path / "r.html", report).read_text(encoding="utf-8")
    assert '<tr class="hl"><td>#846 tabby</td><td class="p">0.000</td></tr>' in text
    assert "true class ranked <b>#846</b>" in text and "true class ranked <b>#1</b>" in text
    assert "<td>#1 tabby</td>" not in text  # in the top five already: no extra row
