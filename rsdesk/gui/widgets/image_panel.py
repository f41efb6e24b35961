"""An image panel that keeps aspect ratio, shares zoom/pan and the hover position with its siblings, and
shows busy and stale states on top of the image.

All panels show images of the same size (the classifier's input), so one :class:`ViewLink` in normalized
image coordinates is enough to keep them in step: zoom in on the cat's eye in one panel and every panel
zooms there; hover a pixel and every panel marks it and prints its own value there.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

Readout = Callable[[int, int], str]

MAX_ZOOM = 32.0


class ViewLink(QObject):
    """Zoom, pan and hover shared by a group of panels, in normalized image coordinates (0…1)."""

    view_changed = Signal()
    hover_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.zoom = 1.0  # 1: the whole image fits the panel
        self.center = QPointF(0.5, 0.5)
        self.hover: QPointF | None = None

    def zoom_at(self, factor: float, anchor: QPointF) -> None:
        """Zoom by ``factor`` keeping the image point ``anchor`` where it is."""
        new = min(MAX_ZOOM, max(1.0, self.zoom * factor))
        if new == self.zoom:
            return
        ratio = self.zoom / new
        self.center = QPointF(
            anchor.x() + (self.center.x() - anchor.x()) * ratio,
            anchor.y() + (self.center.y() - anchor.y()) * ratio,
        )
        self.zoom = new
        self._clamp()
        self.view_changed.emit()

    def pan_by(self, dx: float, dy: float) -> None:
        self.center = QPointF(self.center.x() - dx, self.center.y() - dy)
        self._clamp()
        self.view_changed.emit()

    def reset(self) -> None:
        self.zoom, self.center = 1.0, QPointF(0.5, 0.5)
        self.view_changed.emit()

    def set_hover(self, point: QPointF | None) -> None:
        if point != self.hover:
            self.hover = point
            self.hover_changed.emit()

    def _clamp(self) -> None:
        half = 0.5 / self.zoom
        self.center = QPointF(
            min(1 - half, max(half, self.center.x())), min(1 - half, max(half, self.center.y()))
        )


class ImagePanel(QWidget):
    """Paints one image (or a placeholder), letterboxed, through the shared view; hover shows a readout."""

    def __init__(self, link: ViewLink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self._image: QImage | None = None
        self._gray: QImage | None = None
        self._readout: Readout | None = None
        self._placeholder = ""
        self._caption = ""
        self._busy = False
        self._stale = False
        self._progress = 0.0
        self._message = ""
        self._angle = 0
        self._drag: QPointF | None = None
        self._spin = QTimer(self)
        self._spin.setInterval(60)
        self._spin.timeout.connect(self._tick)
        self.setMouseTracking(True)
        self.setMinimumSize(96, 96)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        link.view_changed.connect(self.update)
        link.hover_changed.connect(self.update)

    def sizeHint(self) -> QSize:
        return QSize(224, 224)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width

    # ----- content ----------------------------------------------------------------------------------
    def set_image(self, image: QImage | None, readout: Readout | None = None, caption: str = "") -> None:
        self._image = image
        self._gray = None
        self._readout = readout
        self._caption = caption
        self._sync_tip()
        self.update()

    def image(self) -> QImage | None:
        return self._image

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_activity(self, busy: bool, stale: bool, progress: float = 0.0, message: str = "") -> None:
        """Busy: a spinner and the step over the (old, greyed) image. Stale: greyed and labelled."""
        self._busy, self._stale, self._progress, self._message = busy, stale, progress, message
        if busy and not self._spin.isActive():
            self._spin.start()
        elif not busy:
            self._spin.stop()
        self.update()

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def stale(self) -> bool:
        return self._stale

    def _tick(self) -> None:
        self._angle = (self._angle + 30) % 360
        self.update()

    # ----- geometry ---------------------------------------------------------------------------------
    def _fit_rect(self) -> QRectF:
        """Where the whole image would sit at zoom 1 (aspect kept, centred)."""
        if self._image is None:
            return QRectF(self.rect())
        iw, ih = self._image.width(), self._image.height()
        s = min(self.width() / iw, self.height() / ih)
        w, h = iw * s, ih * s
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _image_rect(self) -> QRectF:
        """The whole image's rectangle in widget coordinates under the shared zoom and pan."""
        fit = self._fit_rect()
        z = self.link.zoom
        w, h = fit.width() * z, fit.height() * z
        cx, cy = self.link.center.x(), self.link.center.y()
        return QRectF(fit.center().x() - cx * w, fit.center().y() - cy * h, w, h)

    def to_image(self, pos: QPointF) -> QPointF | None:
        """Widget position → normalized image point (None outside the image)."""
        r = self._image_rect()
        if self._image is None or not r.contains(pos):
            return None
        return QPointF((pos.x() - r.left()) / r.width(), (pos.y() - r.top()) / r.height())

    def from_image(self, point: QPointF) -> QPointF:
        r = self._image_rect()
        return QPointF(r.left() + point.x() * r.width(), r.top() + point.y() * r.height())

    # ----- painting ---------------------------------------------------------------------------------
    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(self.backgroundRole()).darker(115))
        if self._image is None:
            self._paint_text(p, self._placeholder, QColor(130, 130, 130))
        else:
            self._paint_image(p)
        if self._busy:
            self._paint_busy(p)
        elif self._stale and self._image is not None:
            self._paint_banner(p, self._message or "out of date")
        p.end()

    def _paint_image(self, p: QPainter) -> None:
        r = self._image_rect()
        smooth = r.width() / max(1, self._image.width()) < 2.5
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        p.setClipRect(self._fit_rect())
        img = self._image
        if self._stale or self._busy:
            if self._gray is None:
                self._gray = self._image.convertToFormat(QImage.Format.Format_Grayscale8)
            img = self._gray
        p.drawImage(r, img)
        if self._stale or self._busy:
            p.fillRect(self._fit_rect(), QColor(40, 40, 40, 120))
        p.setClipping(False)
        if self._caption:
            self._paint_tag(p, self._caption, top=True)
        hover = self.link.hover
        if hover is not None:
            c = self.from_image(hover)
            p.setPen(QPen(QColor(255, 255, 255, 220), 1))
            p.drawEllipse(c, 6, 6)
            p.setPen(QPen(QColor(0, 0, 0, 220), 1))
            p.drawEllipse(c, 7, 7)
            if self._readout is not None:
                x = min(self._image.width() - 1, int(hover.x() * self._image.width()))
                y = min(self._image.height() - 1, int(hover.y() * self._image.height()))
                self._paint_tag(p, self._readout(x, y), top=False)

    def tag_font(self) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.9))
        return f

    def tag_rect(self, text: str, top: bool = True) -> tuple[QRectF, str]:
        """Where a caption or readout goes and what of it is shown: inside the image, elided ("…") to the
        image's width; the whole caption is the tooltip then (a narrow panel must not cut it off)."""
        fm = QFontMetrics(self.tag_font())
        fit = self._fit_rect()
        room = max(0, int(fit.width()) - 8 - 10)
        shown = fm.elidedText(text, Qt.TextElideMode.ElideRight, room)
        w, h = min(fm.horizontalAdvance(shown) + 10, fit.width() - 8), fm.height() + 4
        y = fit.top() + 4 if top else fit.bottom() - h - 4
        return QRectF(fit.left() + 4, y, max(0.0, w), h), shown

    def _sync_tip(self) -> None:
        """The caption as the tooltip while the panel is too narrow to show it whole."""
        whole = not self._caption or self.tag_rect(self._caption)[1] == self._caption
        tip = "" if whole else self._caption
        if tip != self.toolTip():
            self.setToolTip(tip)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._sync_tip()

    def _paint_tag(self, p: QPainter, text: str, top: bool) -> None:
        p.setFont(self.tag_font())
        box, shown = self.tag_rect(text, top)
        if not shown:
            return
        p.fillRect(box, QColor(0, 0, 0, 170))
        p.setPen(QColor(255, 255, 255))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, shown)

    def _paint_text(self, p: QPainter, text: str, color: QColor) -> None:
        p.setPen(color)
        p.drawText(
            self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text
        )

    def _paint_banner(self, p: QPainter, text: str) -> None:
        fit = self._fit_rect()
        fm = p.fontMetrics()
        h = fm.height() * 2 + 8
        box = QRectF(fit.left(), fit.center().y() - h / 2, fit.width(), h)
        p.fillRect(box, QColor(0, 0, 0, 160))
        p.setPen(QColor(235, 235, 235))
        p.drawText(box.adjusted(6, 2, -6, -2), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)

    def _paint_busy(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        c = QRectF(self.rect()).center()
        radius = min(self.width(), self.height()) * 0.12
        p.setPen(QPen(QColor(255, 255, 255, 70), 5))
        p.drawEllipse(c, radius, radius)
        pen = QPen(QColor(90, 170, 255), 5)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        arc = QRectF(c.x() - radius, c.y() - radius, 2 * radius, 2 * radius)
        p.drawArc(arc, -self._angle * 16, 100 * 16)
        text = self._message + (f" {100 * self._progress:.0f}%" if 0 < self._progress < 1 else "")
        box = QRectF(4, c.y() + radius + 6, self.width() - 8, p.fontMetrics().height() * 2 + 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(
            box, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap, text
        )
        if 0 < self._progress < 1:
            fit = self._fit_rect()
            p.fillRect(
                QRectF(fit.left(), fit.bottom() - 4, fit.width() * self._progress, 4), QColor(90, 170, 255)
            )

    # ----- interaction ------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        anchor = self.to_image(event.position())
        if anchor is None:
            anchor = self.link.center
        steps = event.angleDelta().y() / 120.0
        self.link.zoom_at(1.25**steps, anchor)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.link.zoom > 1:
            self._drag = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag is not None:
            r = self._image_rect()
            self.link.pan_by((pos.x() - self._drag.x()) / r.width(), (pos.y() - self._drag.y()) / r.height())
            self._drag = pos
        self.link.set_hover(self.to_image(pos))

    def mouseReleaseEvent(self, _event: QMouseEvent) -> None:
        self._drag = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, _event: QMouseEvent) -> None:
        self.link.reset()

    def leaveEvent(self, _event: object) -> None:
        self.link.set_hover(None)
