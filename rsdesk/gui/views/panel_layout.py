"""How the panel grid shares its height: the text of a column (title, subtitle, verdict, top-5 bars, the
numbers) always gets the height it needs, the images get what is left, and when that is too little for a
readable image the least important parts go, one at a time: the CAM row, the bars, the numbers, the
subtitle. Title, verdict and image always stay: the grid folds to "images + verdict" (the Evaluate tab's
share of a 768 px screen), never paints one part over another, and never shrinks a font.

Plain arithmetic (:func:`fit_panels`) so the rule is tested without a window; :class:`ElidedLabel` is
the one-line label the subtitles use (a long file name ends in "…" with the whole name in the tooltip,
instead of being cut off at the column's edge).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

#: The optional parts of a column, the first to go first when the height runs short.
OPTIONAL = ("cam", "bars", "info", "subtitle")
#: The smallest image worth showing, in lines of the grid's font (so presentation mode's is larger:
#: at 1.6× fonts an image of normal mode's size would look like a thumbnail beside the text).
IMAGE_LINES = 6
#: …and never below this many pixels.
MIN_IMAGE = 96


@dataclass(frozen=True)
class Parts:
    """The heights the text parts of one column need (the tallest over the columns, so rows align)."""

    head: int
    subtitle: int
    verdict: int
    bars: int
    info: int


@dataclass(frozen=True)
class Fit:
    """What a column shows in a given height: the image's and the CAM's heights (cam 0: the CAM row is
    hidden) and which optional text parts stay."""

    image: int
    cam: int
    subtitle: bool
    bars: bool
    info: bool

    def height(self, parts: Parts, spacing: int) -> int:
        """The height this fit takes (the images included), margins left out."""
        rows = [parts.head, parts.verdict, self.image]
        rows += [h for h, on in ((parts.subtitle, self.subtitle), (parts.bars, self.bars)) if on]
        rows += [parts.info] if self.info else []
        rows += [self.cam] if self.cam else []
        return sum(rows) + spacing * (len(rows) - 1)


def fit_panels(height: int, width: int, parts: Parts, min_image: int, spacing: int) -> Fit:
    """The fullest layout of a column ``width`` px wide that fits ``height`` px with every image at least
    ``min_image`` tall; images are never taller than wide (they are square: more would only letterbox).
    Drops :data:`OPTIONAL` parts in order; the last resort (title, verdict, image) takes what there is."""
    for dropped in range(len(OPTIONAL) + 1):
        keep = OPTIONAL[dropped:]
        text = [parts.head, parts.verdict] + [getattr(parts, k) for k in keep if k != "cam"]
        rows = len(text) + 1 + ("cam" in keep)
        room = height - sum(text) - spacing * (rows - 1)
        shown = {k: k in keep for k in ("subtitle", "bars", "info")}
        if "cam" in keep:
            cam = min(width, room // 2)
            if cam >= min_image:
                return Fit(min(width, room - cam), cam, **shown)
        elif room >= min_image or dropped == len(OPTIONAL):
            return Fit(max(0, min(width, room)), 0, **shown)
    raise AssertionError("unreachable: the last level always fits")  # pragma: no cover


def min_image_height(line_height: int) -> int:
    """The smallest image height worth a CAM row beside it, for a font whose lines are ``line_height``."""
    return max(MIN_IMAGE, IMAGE_LINES * line_height)


class ElidedLabel(QLabel):
    """One line of plain text that ends in "…" where it does not fit (the middle of a file name goes, so
    its extension stays); the whole text is then the tooltip. :meth:`full_text` is what was set."""

    def __init__(self, mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self.setTextFormat(Qt.TextFormat.PlainText)
        # Text never decides a column's width: the four columns stay equal.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def set_full_text(self, text: str) -> None:
        """Show ``text``, elided to the label's width."""
        self._full = text
        self._elide()

    def full_text(self) -> str:
        return self._full

    def set_mode(self, mode: Qt.TextElideMode) -> None:
        self._mode = mode
        self._elide()

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.fontMetrics().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.fontMetrics().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # presentation mode: what fits changes
            self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, self._mode, max(0, self.contentsRect().width()))
        if shown != self.text():
            self.setText(shown)
        tip = self._full if shown != self._full else ""
        if tip != self.toolTip():
            self.setToolTip(tip)
