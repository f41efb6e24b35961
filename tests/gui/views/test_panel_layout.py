"""The panel grid's share of the height: text keeps its height, images get the rest, and the least
important parts fold away in order (CAM row, bars, numbers, subtitle) — never one drawn over another."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtCore import Qt

from rsdesk.gui.models.results import ResultsModel
from rsdesk.gui.views.panel_layout import ElidedLabel, Fit, Parts, fit_panels
from rsdesk.gui.views.panels import PanelGrid

PARTS = Parts(head=26, subtitle=17, verdict=33, bars=146, info=45)
SP = 4


def shown(fit: Fit) -> tuple[bool, ...]:
    return fit.cam > 0, fit.bars, fit.info, fit.subtitle


@pytest.mark.parametrize(
    ("height", "expected"),
    [
        (900, (True, True, True, True)),
        (520, (True, True, True, True)),
        (420, (False, True, True, True)),
        (300, (False, False, True, True)),
        (200, (False, False, False, True)),
        (150, (False, False, False, False)),
    ],
)
def test_parts_fold_in_order_and_the_fit_never_exceeds_the_height(height, expected):
    fit = fit_panels(height, 260, PARTS, 100, SP)
    assert shown(fit) == expected
    if expected[-1]:  # with anything optional shown, the images are readable
        assert fit.image >= 100 and (fit.cam == 0 or fit.cam >= 100)
    assert fit.height(PARTS, SP) <= height
    assert fit.image <= 260 and fit.cam <= 260  # square images: never taller than the column is wide


def test_plenty_of_height_gives_square_images_and_leaves_the_rest():
    fit = fit_panels(2000, 300, PARTS, 100, SP)
    assert (fit.image, fit.cam) == (300, 300)
    assert fit.height(PARTS, SP) < 2000


def test_the_last_resort_takes_what_there_is():
    fit = fit_panels(90, 260, PARTS, 100, SP)
    assert shown(fit) == (False, False, False, False) and 0 <= fit.image < 100


def test_the_grid_places_its_parts_without_overlap_at_every_height(qtbot):
    grid = PanelGrid(ResultsModel())
    qtbot.addWidget(grid)
    grid.show()
    for col in grid.columns:
        col.info.setText("L∞ <b>8.0/255</b> · L2 <b>3.99</b> · d 0.018<br>PSNR 30.1 dB · 0.2 s")
    for height in range(grid.minimumSizeHint().height(), 900, 37):
        grid.resize(1100, height)
        qtbot.wait(1)
        for col in grid.columns:
            parts = (col.head, col.subtitle, col.verdict, col.image, col.cam, col.bars, col.info)
            rects = [w.geometry() for w in parts if w.isVisibleTo(grid)]
            for a, b in itertools.pairwise(rects):
                assert a.bottom() < b.top(), (height, a, b)
            assert rects[-1].bottom() <= grid.height(), height
            assert col.image.height() >= grid.min_image()


def test_presentation_fonts_raise_the_minimum(qtbot):
    grid = PanelGrid(ResultsModel())
    qtbot.addWidget(grid)
    grid.show()
    small = grid.minimumSizeHint().height()
    font = grid.font()
    font.setPointSizeF(font.pointSizeF() * 1.6)
    grid.setFont(font)
    qtbot.waitUntil(lambda: grid.minimumSizeHint().height() > small, timeout=2000)
    assert grid.min_image() > 96


def test_an_elided_label_keeps_the_end_of_a_file_name_and_tells_the_rest(qtbot):
    label = ElidedLabel(Qt.TextElideMode.ElideMiddle)
    qtbot.addWidget(label)
    label.show()
    name = "n01440764_ILSVRC2012_val_00000293_and_more.JPEG"
    label.resize(120, 20)
    label.set_full_text(name)
    assert label.full_text() == name and label.text() != name
    assert label.text().endswith("JPEG") and "…" in label.text() and label.toolTip() == name
    assert label.fontMetrics().horizontalAdvance(label.text()) <= 120
    label.resize(900, 20)
    assert label.text() == name and label.toolTip() == ""
