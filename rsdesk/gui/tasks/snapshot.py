"""Pictures of widgets for slides: a widget rendered with QPainter at a chosen device pixel ratio (2× by
default), not grabbed from the screen, so the text is drawn sharp at the larger size and the controls that
only make sense in the window (the "δ ×" button, any button, whatever is marked ``ui_only``) and the hover
crosshair are left out. GUI thread only: it paints widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QFont, QImage, QPainter, QRegion
from PySide6.QtWidgets import QAbstractButton, QWidget

from rsdesk.gui.models.export_size import ExportSize
from rsdesk.gui.widgets.image_panel import ImagePanel

#: The dynamic property that marks a widget as a control of the window, never part of an exported picture.
UI_ONLY = "ui_only"


def ui_only_widgets(root: QWidget) -> list[QWidget]:
    """The visible descendants of ``root`` that are controls, not content: buttons and ``ui_only`` widgets."""
    return [
        w
        for w in root.findChildren(QWidget)
        if w.isVisibleTo(root) and (isinstance(w, QAbstractButton) or bool(w.property(UI_ONLY)))
    ]


def content_region(root: QWidget) -> QRegion:
    """``root``'s rectangle without the rectangles of its UI-only controls (in ``root``'s coordinates)."""
    region = QRegion(root.rect())
    for w in ui_only_widgets(root):
        region -= QRegion(QRect(w.mapTo(root, QPoint(0, 0)), w.size()))
    return region


def render_widget(widget: QWidget, size: ExportSize) -> QImage:
    """``widget`` painted at ``size`` (its ratio of the widget's width), without its UI-only controls and
    without the hover marks of its image panels; the image's device pixel ratio says what it was drawn at."""
    ratio = size.ratio(widget.width())
    w, h = max(1, round(widget.width() * ratio)), max(1, round(widget.height() * ratio))
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.setDevicePixelRatio(ratio)
    dots = round(ratio * 96 / 0.0254)  # a slide program places it at its on-screen size, just sharper
    image.setDotsPerMeterX(dots)
    image.setDotsPerMeterY(dots)
    image.fill(widget.palette().color(widget.backgroundRole()))
    panels = [w for w in (widget, *widget.findChildren(ImagePanel)) if isinstance(w, ImagePanel)]
    links = {panel.link for panel in panels}
    hovers = {link: link.hover for link in links}
    for link in links:
        link.set_hover(None)  # the crosshair and the pixel readout follow the mouse: not for a slide
    painter = QPainter(image)
    try:
        flags = QWidget.RenderFlag.DrawWindowBackground | QWidget.RenderFlag.DrawChildren
        widget.render(painter, QPoint(0, 0), content_region(widget), flags)
    finally:
        painter.end()
        for link, hover in hovers.items():
            link.set_hover(hover)
    return image


@dataclass
class StorySource:
    """How to picture the story's steps: ``make`` builds a fresh story view (a widget with ``set_step(n)``,
    n = 1…``steps``), laid out at ``size`` in ``font`` — the window's own story is left as it is."""

    make: Callable[[], QWidget]
    steps: int
    size: QSize
    font: QFont | None = None


def _settle_layout() -> None:
    """Apply pending layout changes now (shown and hidden children), without running the event loop."""
    QCoreApplication.sendPostedEvents(None, int(QEvent.Type.LayoutRequest))


def render_story_steps(source: StorySource, size: ExportSize) -> list[QImage]:
    """One picture per story step (1…``steps``), each rendered like :func:`render_widget`."""
    view = source.make()
    view.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    if source.font is not None:
        view.setFont(source.font)
    view.resize(source.size)
    view.show()
    try:
        out = []
        for step in range(1, source.steps + 1):
            view.set_step(step)
            _settle_layout()
            out.append(render_widget(view, size))
        return out
    finally:
        view.close()
        view.deleteLater()
