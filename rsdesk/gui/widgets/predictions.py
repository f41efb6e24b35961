"""Top-5 prediction bars and the verdict badge (icon + word, so it reads in grayscale and from afar)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.models.classifier import ClassScore, Prediction
from rsdesk.core.verdicts import Verdict

VERDICT_COLORS = {
    Verdict.CORRECT: QColor(46, 125, 50),
    Verdict.REFERENCE: QColor(97, 97, 97),
    Verdict.MISCLASSIFIED: QColor(121, 85, 72),
    Verdict.FOOLED: QColor(198, 40, 40),
    Verdict.RECOVERED: QColor(21, 101, 192),
    Verdict.STILL_FOOLED: QColor(230, 81, 0),
    Verdict.BROKEN: QColor(106, 27, 154),
    Verdict.DEFEATED: QColor(173, 20, 87),  # bad news, told apart from FOOLED's red
}


@dataclass(frozen=True)
class BarRow:
    score: ClassScore
    mark: str = ""  # "true", "target" or "" (the highlighted classes)
    rank: int = 0  # 1-based; > 5 for the true class shown below the top five


def prediction_rows(pred: Prediction, true_class: int | None, target: int | None = None) -> list[BarRow]:
    """The top five, marked, plus the true (reference) class with its rank when it fell out of them."""
    top = pred.top(5)
    marks = {}
    if true_class is not None:
        marks[true_class] = "true"
    if target is not None:
        marks.setdefault(target, "target")
    rows = [BarRow(s, marks.get(s.index, ""), i + 1) for i, s in enumerate(top)]
    shown = {s.index for s in top}
    for idx, mark in marks.items():
        if idx not in shown:
            rank = int((pred.probs > pred.probs[idx]).sum()) + 1
            score = ClassScore(idx, imagenet_classes().name(idx), float(pred.probs[idx]))
            rows.append(BarRow(score, mark, rank))
    return rows


#: The gap above a sixth row (the true class outside the top five), where the dotted line goes.
SEPARATOR = 4


class PredictionBars(QWidget):
    """Horizontal probability bars; the true class is bold with ★, a target class marked ◎."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[BarRow] = []
        self._dim = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit_height()

    def _row_height(self) -> int:
        return self.fontMetrics().height() + 6

    def _rows_height(self) -> int:
        """Five rows, the true class's sixth below its dotted separator, and 2 px above and below."""
        return self._row_height() * 6 + SEPARATOR + 4

    def _fit_height(self) -> None:
        # An explicit minimum, not only a hint: the panel grid holds word-wrapped labels (height for width),
        # and such a grid squeezed a hint-only minimum when the window was short, cutting the sixth row.
        self.setMinimumHeight(self._rows_height())

    def sizeHint(self) -> QSize:
        return QSize(220, self._rows_height())

    def minimumSizeHint(self) -> QSize:
        return QSize(60, self._rows_height())

    def changeEvent(self, event: object) -> None:
        self._fit_height()  # a font change (presentation mode) changes the row height
        self.updateGeometry()
        super().changeEvent(event)

    def set_rows(self, rows: list[BarRow], dim: bool = False) -> None:
        self._rows, self._dim = rows, dim
        self.update()

    def rows(self) -> list[BarRow]:
        return list(self._rows)

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self._dim:
            p.setOpacity(0.35)
        rh = self._row_height()
        fm = self.fontMetrics()
        prob_w = fm.horizontalAdvance("100.0%") + 6
        text_color = self.palette().color(self.foregroundRole())
        for i, row in enumerate(self._rows):
            y = 2 + i * rh + (SEPARATOR if row.rank > 5 else 0)
            bar = QRectF(0, y + 2, (self.width() - prob_w) * max(0.0, min(1.0, row.score.prob)), rh - 4)
            color = QColor(21, 101, 192) if row.mark == "true" else QColor(120, 144, 156)
            if row.mark == "target":
                color = QColor(198, 40, 40)
            color.setAlpha(110)
            p.fillRect(bar, color)
            f = QFont(self.font())
            f.setBold(bool(row.mark))
            p.setFont(f)
            p.setPen(text_color)
            prefix = {"true": "★ ", "target": "◎ "}.get(row.mark, "")
            if row.rank > 5:
                prefix = f"#{row.rank} {prefix}"
            label = fm.elidedText(
                prefix + row.score.label, Qt.TextElideMode.ElideRight, self.width() - prob_w - 6
            )
            p.drawText(QRectF(4, y, self.width() - prob_w - 4, rh), Qt.AlignmentFlag.AlignVCenter, label)
            p.drawText(
                QRectF(self.width() - prob_w, y, prob_w, rh),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                f"{100 * row.score.prob:.1f}%",
            )
            if row.rank > 5:
                p.setPen(QPen(QColor(128, 128, 128), 1, Qt.PenStyle.DotLine))
                p.drawLine(0, y - 2, self.width(), y - 2)
        p.end()


def paint_verdict_icon(p: QPainter, rect: QRectF, verdict: Verdict, color: QColor) -> None:
    """Shapes that differ without colour: filled disc = first-hand result, ring = after the defense;
    ✓ = right, ✗ = wrong, i = reference."""
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    s = min(rect.width(), rect.height())
    r = QRectF(rect.center().x() - s / 2, rect.center().y() - s / 2, s, s).adjusted(2, 2, -2, -2)
    ring = verdict in (Verdict.RECOVERED, Verdict.STILL_FOOLED, Verdict.BROKEN, Verdict.DEFEATED)
    if ring:
        p.setPen(QPen(color, s * 0.12))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(r)
        glyph = color
    else:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        p.drawEllipse(r)
        glyph = QColor(255, 255, 255)
    pen = QPen(glyph, s * 0.13)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    c, k = r.center(), r.width() * 0.22
    path = QPainterPath()
    if verdict in (Verdict.CORRECT, Verdict.RECOVERED):
        path.moveTo(c + QPointF(-k, 0))
        path.lineTo(c + QPointF(-k * 0.2, k * 0.8))
        path.lineTo(c + QPointF(k * 1.1, -k * 0.8))
    elif verdict is Verdict.REFERENCE:
        path.moveTo(c + QPointF(0, -k * 0.2))
        path.lineTo(c + QPointF(0, k))
        p.drawPoint(c + QPointF(0, -k * 0.9))
    else:
        path.moveTo(c + QPointF(-k, -k))
        path.lineTo(c + QPointF(k, k))
        path.moveTo(c + QPointF(k, -k))
        path.lineTo(c + QPointF(-k, k))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPath(path)
    p.restore()


class VerdictBadge(QWidget):
    """Icon and word of a :class:`Verdict`, drawn large; greyed (with "?") while out of date."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._verdict: Verdict | None = None
        self._dim = False
        self._text = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def _font(self) -> QFont:
        f = QFont(self.font())
        f.setPointSizeF(self.font().pointSizeF() * 1.5)
        f.setBold(True)
        return f

    def sizeHint(self) -> QSize:
        return QSize(160, QFontMetrics(self._font()).height() + 8)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, QFontMetrics(self._font()).height() + 8)

    def changeEvent(self, event: object) -> None:
        self.updateGeometry()
        super().changeEvent(event)

    def set_verdict(self, verdict: Verdict | None, dim: bool = False, text: str = "") -> None:
        """``text`` replaces the word when there is no verdict (e.g. "defense off")."""
        self._verdict, self._dim, self._text = verdict, dim, text
        self.setToolTip("" if verdict is None else verdict.value)
        self.update()

    def verdict(self) -> Verdict | None:
        return self._verdict

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        f = self._font()
        p.setFont(f)
        h = self.height()
        if self._verdict is None:
            p.setPen(QColor(140, 140, 140))
            text = p.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideRight, self.width())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
            p.end()
            return
        color = QColor(150, 150, 150) if self._dim else VERDICT_COLORS[self._verdict]
        paint_verdict_icon(p, QRectF(0, 0, h, h), self._verdict, color)
        p.setPen(color if not self._dim else QColor(150, 150, 150))
        word = self._verdict.value + (" ?" if self._dim else "")
        word = p.fontMetrics().elidedText(word, Qt.TextElideMode.ElideRight, max(0, self.width() - h - 6))
        p.drawText(QRectF(h + 6, 0, self.width() - h - 6, h), Qt.AlignmentFlag.AlignVCenter, word)
        p.end()
