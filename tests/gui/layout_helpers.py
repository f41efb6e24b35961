"""Geometry checks for layout tests: a visible label whose text does not fit it, and visible labels drawn
over each other. Checked by geometry (what Qt laid out), not by eye, at the sizes people present on."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

#: The screens the layout must hold on: a projector's and a desktop's.
SIZES = ((1366, 768), (1920, 1080))


def _rect_in(window: QWidget, w: QWidget) -> QRect:
    """``w``'s visible part in ``window``'s coordinates (scrolled or covered parts left out)."""
    visible = w.visibleRegion().boundingRect()
    return QRect(w.mapTo(window, visible.topLeft()), visible.size())


def _text(w: QWidget) -> str:
    return w.text() if isinstance(w, (QLabel, QAbstractButton)) else ""


def _shown(w: QWidget, window: QWidget) -> bool:
    return w.isVisibleTo(window) and w.isVisible() and not w.visibleRegion().isEmpty()


def clipped(w: QLabel) -> bool:
    """Whether a plain-text label's text is cut off: wider than the label without word wrap, or taller than
    it with. Rich text and pixmap labels are not judged (their size is not their text's)."""
    text = w.text()
    if not text or (w.pixmap() is not None and not w.pixmap().isNull()):
        return False
    if w.textFormat() == Qt.TextFormat.RichText or (
        w.textFormat() == Qt.TextFormat.AutoText and GuiQt.mightBeRichText(text)
    ):
        return False
    room = w.contentsRect().adjusted(w.margin(), w.margin(), -w.margin(), -w.margin())
    fm = w.fontMetrics()
    if w.wordWrap():
        need = w.heightForWidth(w.width())
        return need > w.height() + 1
    widest = max(fm.horizontalAdvance(line) for line in text.split("\n"))
    tall = fm.lineSpacing() * len(text.split("\n"))
    return widest > room.width() + 1 or tall > room.height() + fm.leading() + 2


def layout_problems(window: QWidget, root: QWidget | None = None) -> list[str]:
    """Every visible label under ``root`` (default: the window) whose text is clipped, and every pair of
    visible labels or buttons that overlap (neither inside the other), in words a failing test prints."""
    root = root or window
    shown = [w for w in root.findChildren(QWidget) if not w.isWindow() and _shown(w, window)]
    # what is drawn: labels, buttons and every widget that paints itself (no visible child of its own)
    items = [
        w
        for w in shown
        if isinstance(w, (QLabel, QAbstractButton))
        or not any(
            c.isVisible() for c in w.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
        )
    ]
    problems = []
    for w in items:
        if isinstance(w, QLabel) and clipped(w):
            problems.append(
                f"clipped: {type(w).__name__} {w.objectName()!r} {w.text()[:60]!r} in {w.size().toTuple()}"
            )
    rects = [(w, _rect_in(window, w)) for w in items]
    for i, (a, ra) in enumerate(rects):
        for b, rb in rects[i + 1 :]:
            if a.isAncestorOf(b) or b.isAncestorOf(a):
                continue
            overlap = ra.intersected(rb)
            if overlap.width() > 1 and overlap.height() > 1:
                problems.append(f"overlap: {_describe(a)} {ra.getRect()} and {_describe(b)} {rb.getRect()}")
    outside = [w for w, r in rects if not window.rect().contains(r.topLeft() + QPoint(1, 1))]
    problems += [f"off screen: {_describe(w)}" for w in outside]
    return problems


def _describe(w: QWidget) -> str:
    return f"{type(w).__name__} {w.objectName()!r} {_text(w)[:40]!r}"
