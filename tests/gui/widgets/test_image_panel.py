"""Image panels: aspect, shared zoom and hover, busy and stale states."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSize, Qt
from PySide6.QtGui import QImage

from rsdesk.gui.widgets.image_panel import ImagePanel, ViewLink
from rsdesk.gui.widgets.qimage import from_qimage, to_qimage


def panels(qtbot, n: int = 2, size: QSize | None = None):
    size = size or QSize(300, 300)
    link = ViewLink()
    out = []
    for _ in range(n):
        p = ImagePanel(link)
        qtbot.addWidget(p)
        p.resize(size)
        p.show()
        out.append(p)
    return link, out


def test_panel_keeps_aspect_ratio(qtbot):
    _, (p,) = panels(qtbot, 1, QSize(300, 300))
    img = QImage(200, 100, QImage.Format.Format_RGB888)
    img.fill(Qt.GlobalColor.red)
    p.set_image(img)
    r = p._image_rect()
    assert r.width() == pytest.approx(300) and r.height() == pytest.approx(150)
    assert r.top() == pytest.approx(75)
    shot = p.grab().toImage()
    assert shot.pixelColor(150, 150).green() < 50  # the red image in the middle
    assert shot.pixelColor(150, 20).green() > 100  # grey letterbox above it


def test_zoom_and_pan_are_shared(qtbot):
    link, (a, b) = panels(qtbot)
    for p in (a, b):
        p.set_image(to_qimage(np.random.default_rng(0).random((224, 224, 3)).astype(np.float32)))
    qtbot.wait(10)
    from PySide6.QtGui import QWheelEvent

    ev = QWheelEvent(
        QPointF(150, 150),
        QPointF(150, 150),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    a.wheelEvent(ev)
    assert link.zoom == pytest.approx(1.25**2)
    assert a._image_rect() == b._image_rect()
    assert a._image_rect().width() == pytest.approx(300 * 1.25**2)
    link.pan_by(0.1, 0.0)
    assert a._image_rect() == b._image_rect()
    qtbot.mouseDClick(b, Qt.MouseButton.LeftButton)
    assert link.zoom == 1.0


def test_hover_marks_the_same_pixel_in_every_panel(qtbot):
    link, (a, b) = panels(qtbot)
    img_a = np.zeros((224, 224, 3), np.float32)
    img_b = np.ones((224, 224, 3), np.float32)
    img_a[112, 56] = (1.0, 0.5, 0.0)
    readouts = []
    a.set_image(to_qimage(img_a), lambda x, y: readouts.append(("a", x, y)) or f"a {x} {y}")
    b.set_image(to_qimage(img_b), lambda x, y: readouts.append(("b", x, y)) or f"b {x} {y}")
    qtbot.mouseMove(a, QPoint(75, 150))  # x = 75/300·224 = 56, y = 112
    qtbot.waitUntil(lambda: link.hover is not None)
    assert link.hover.x() == pytest.approx(0.25) and link.hover.y() == pytest.approx(0.5)
    a.grab()  # renders, with the readout of the hovered pixel
    b.grab()
    assert ("a", 56, 112) in readouts and ("b", 56, 112) in readouts
    a.leaveEvent(None)
    assert link.hover is None


def test_busy_and_stale_are_visible(qtbot):
    _, (p,) = panels(qtbot, 1)
    color = np.zeros((64, 64, 3), np.float32)
    color[..., 0] = 1.0
    p.set_image(to_qimage(color))
    fresh = from_qimage(p.grab().toImage())
    p.set_activity(busy=False, stale=True, message="out of date")
    stale = from_qimage(p.grab().toImage())
    # greyed: the red image loses its colour
    c = stale[40:60, 140:160].astype(int)
    assert np.abs(c[..., 0] - c[..., 1]).mean() < 20 < np.abs(fresh[40:60, 140:160, 0].astype(int) - 0).mean()
    p.set_activity(busy=True, stale=False, progress=0.5, message="attacking")
    assert p.busy and p._spin.isActive()
    p.set_activity(busy=False, stale=False)
    assert not p._spin.isActive()


def test_a_caption_wider_than_the_image_is_elided_inside_it(qtbot):
    _, (p,) = panels(qtbot, 1, QSize(120, 120))
    img = QImage(224, 224, QImage.Format.Format_RGB888)
    img.fill(Qt.GlobalColor.white)
    caption = "removed by the defense ×12"
    p.set_image(img, caption=caption)
    box, shown = p.tag_rect(caption)
    assert shown != caption and shown.endswith("…") and p.toolTip() == caption
    assert p._fit_rect().contains(box)
    shot = p.grab().toImage()  # the tag is painted dark on the white image, and stops inside it
    assert shot.pixelColor(int(box.left()) + 2, int(box.center().y())).lightness() < 100
    p.resize(600, 600)
    qtbot.waitUntil(lambda: p.toolTip() == "", timeout=2000)
    assert p.tag_rect(caption)[1] == caption
