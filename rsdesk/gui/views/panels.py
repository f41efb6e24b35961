"""The panel grid: Original · Adversarial · Object mask · Purified, each with its verdict on top, the image,
its CAM, the top-5 bars and the numbers. A view of :class:`ResultsModel`; it never computes anything heavy.

Columns read left to right as the story (image → attack → what RegionSparse looks at → purified), and the
verdict sits directly under each title, the first thing the back of the room sees. How the height is shared
when it runs short (the images shrink, then parts fold away; never drawn over each other):
:mod:`rsdesk.gui.views.panel_layout`.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QModelIndex, QSize, Qt
from PySide6.QtGui import QAction, QFont, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.overlays import amplify_difference, overlay_heatmap, overlay_mask
from rsdesk.gui.models.results import ResultsModel, Row, StageState, Status
from rsdesk.gui.models.stage_results import AttackResult, OriginalResult, PurifyResult
from rsdesk.gui.views.panel_layout import ElidedLabel, Fit, Parts, fit_panels, min_image_height
from rsdesk.gui.widgets.image_panel import ImagePanel, ViewLink
from rsdesk.gui.widgets.predictions import PredictionBars, VerdictBadge, prediction_rows
from rsdesk.gui.widgets.qimage import to_qimage

COLUMNS = ("Original", "Adversarial", "Object mask", "Purified")
MASK = 2
MARGIN, H_SPACING, V_SPACING = 6, 12, 4
#: the image size the grid asks for when there is room (the classifier's input)
IMAGE_HINT = 224


def rgb_readout(img: np.ndarray) -> object:
    def read(x: int, y: int) -> str:
        r, g, b = (round(float(v) * 255) for v in img[y, x])
        return f"({x}, {y})  RGB {r} {g} {b}"

    return read


def delta_readout(delta: np.ndarray) -> object:
    def read(x: int, y: int) -> str:
        r, g, b = (f"{v * 255:+.0f}" for v in delta[y, x])
        return f"({x}, {y})  δ {r} {g} {b} /255"

    return read


def heat_readout(heat: np.ndarray) -> object:
    return lambda x, y: f"({x}, {y})  CAM {heat[y, x]:.2f}"


def title_font(base: QFont) -> QFont:
    f = QFont(base)
    f.setBold(True)
    f.setPointSizeF(base.pointSizeF() * 1.25)
    return f


class _Column:
    """The widgets of one column (created by the grid, placed by :meth:`PanelGrid._place`)."""

    def __init__(self, grid: PanelGrid, col: int) -> None:
        self.head = QWidget(grid)
        self.title = QLabel(COLUMNS[col])
        self.title.setFont(title_font(grid.font()))
        head = QHBoxLayout(self.head)
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title)
        head.addStretch(1)
        # a file name loses its middle (the extension stays); a description its end
        mode = Qt.TextElideMode.ElideMiddle if col == 0 else Qt.TextElideMode.ElideRight
        self.subtitle = ElidedLabel(mode, grid)
        self.subtitle.setObjectName("subtitle")
        self.verdict = VerdictBadge(grid)
        self.image = ImagePanel(grid.link, grid)
        self.cam = ImagePanel(grid.link, grid)
        for panel in (self.image, self.cam):
            panel.setMinimumSize(1, 1)  # the grid decides: see panel_layout.fit_panels
        self.bars = PredictionBars(grid)
        self.info = QLabel(grid)
        self.info.setWordWrap(True)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.shown: tuple = ()


class PanelGrid(QWidget):
    """Binds the four columns to the rows of a :class:`ResultsModel`.

    It places its parts itself (no QGridLayout): a grid layout squeezed below its minimum draws rows over
    each other, and it cannot know that word-wrapped numbers need more lines in a narrow column. Here the
    text always gets its height and the images the rest, or a part folds away (:func:`fit_panels`).
    """

    def __init__(self, results: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.results = results
        self.link = ViewLink(self)
        self.show_delta = QAction("Show &perturbation (amplified)", self)
        self.show_delta.setCheckable(True)
        self.show_delta.setShortcut("P")
        self.show_delta.toggled.connect(lambda _on: self._refresh_all(force=True))
        self.columns = [_Column(self, c) for c in range(len(COLUMNS))]
        button = QToolButton()
        self.show_delta.setIconText("δ ×")
        button.setDefaultAction(self.show_delta)
        button.setToolTip("Show the perturbation, amplified (P)")
        button.setProperty("ui_only", True)  # a control, never in an exported picture (tasks/snapshot)
        self.columns[1].head.layout().addWidget(button)
        self.fit: Fit | None = None  # what the last placement showed
        self._min_hint = QSize()
        results.dataChanged.connect(self._on_changed)
        self._refresh_all()

    # ----- placement ----------------------------------------------------------------------------------
    def _column_width(self, width: int) -> int:
        n = len(self.columns)
        return max(1, (width - 2 * MARGIN - H_SPACING * (n - 1)) // n)

    def parts(self, column_width: int) -> Parts:
        """The heights the text needs at ``column_width`` (the tallest column's, so the rows align)."""
        cols = self.columns
        lines = 2 * cols[0].info.fontMetrics().lineSpacing()  # kept even while empty: no jump later
        return Parts(
            head=max(c.head.sizeHint().height() for c in cols),
            subtitle=max(c.subtitle.sizeHint().height() for c in cols),
            verdict=max(c.verdict.sizeHint().height() for c in cols),
            bars=max(c.bars.minimumSizeHint().height() for c in cols),
            info=max([lines] + [c.info.heightForWidth(column_width) for c in cols if c.info.text()]),
        )

    def min_image(self) -> int:
        return min_image_height(self.fontMetrics().height())

    def sizeHint(self) -> QSize:
        w = IMAGE_HINT
        parts = self.parts(w)
        full = Fit(w, w, True, True, True).height(parts, V_SPACING)
        n = len(self.columns)
        return QSize(n * w + H_SPACING * (n - 1) + 2 * MARGIN, full + 2 * MARGIN)

    def minimumSizeHint(self) -> QSize:
        """Title, verdict and a readable image: what the grid folds to (its splitter never gives less)."""
        parts = self.parts(60)
        least = Fit(self.min_image(), 0, False, False, False).height(parts, V_SPACING)
        n = len(self.columns)
        return QSize(n * 60 + H_SPACING * (n - 1) + 2 * MARGIN, least + 2 * MARGIN)

    def _place(self) -> None:
        """Give every part its rectangle for the current size; hide what :func:`fit_panels` drops."""
        r = self.rect().adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
        col_w = self._column_width(self.width())
        parts = self.parts(col_w)
        fit = self.fit = fit_panels(r.height(), col_w, parts, self.min_image(), V_SPACING)
        rows = (
            ("head", parts.head, True),
            ("subtitle", parts.subtitle, fit.subtitle),
            ("verdict", parts.verdict, True),
            ("image", fit.image, True),
            ("cam", fit.cam, fit.cam > 0),
            ("bars", parts.bars, fit.bars),
            ("info", parts.info, fit.info),
        )
        for c, col in enumerate(self.columns):
            x, y = r.x() + c * (col_w + H_SPACING), r.y()
            for name, height, on in rows:
                w = getattr(col, name)
                if on:
                    w.setGeometry(x, y, col_w, height)
                    y += height + V_SPACING
                if w.isVisibleTo(self) != on:
                    w.setVisible(on)
        hint = self.minimumSizeHint()
        if hint != self._min_hint:  # fonts changed: the splitter must learn the new minimum
            self._min_hint = hint
            self.updateGeometry()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._place()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:  # a part's size hint changed (text, font)
            self._place()
        return super().event(event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:  # presentation mode: titles grow with the rest
            for col in self.columns:
                col.title.setFont(title_font(self.font()))
            QCoreApplication.postEvent(self, QEvent(QEvent.Type.LayoutRequest))  # after the parts' fonts
        super().changeEvent(event)

    def column(self, row: Row) -> _Column:
        return self.columns[{Row.ORIGINAL: 0, Row.ADVERSARIAL: 1, Row.PURIFIED: 3}[row]]

    def mask_column(self) -> _Column:
        return self.columns[MASK]

    def _on_changed(self, top: QModelIndex, bottom: QModelIndex) -> None:
        for r in range(top.row(), bottom.row() + 1):
            self._refresh(Row(r))
            if r in (Row.ADVERSARIAL, Row.PURIFIED):
                self._refresh_mask()
        self._place()  # new numbers may wrap onto more lines

    def _refresh_all(self, force: bool = False) -> None:
        if force:
            for col in self.columns:
                col.shown = ()
        for row in Row:
            self._refresh(row)
        self._refresh_mask()
        self._place()

    # ----- one stage column ---------------------------------------------------------------------------
    def _refresh(self, row: Row) -> None:
        st = self.results.stage(row)
        col = self.column(row)
        res = st.result
        busy, stale = st.status is Status.BUSY, st.status is Status.STALE
        col.image.set_activity(busy, stale, st.progress, st.message)
        col.cam.set_activity(st.explaining or busy, stale, 0.0, "CAM…" if st.explaining else "")
        subtitle = self._subtitle(row, st)
        col.subtitle.set_full_text(subtitle + (" (out of date)" if subtitle and not st.current else ""))
        if res is None:
            col.shown = ()
            col.image.set_image(None)
            col.cam.set_image(None)
            text = st.message if st.status is not Status.BUSY else ""
            col.image.set_placeholder(("⚠ " if st.status is Status.FAILED else "") + text)
            col.cam.set_placeholder("")
            col.bars.set_rows([])
            col.verdict.set_verdict(None, text="defense off" if st.status is Status.OFF else "")
            col.info.setText("")
            return
        dim = not st.current
        self._set_images(row, col, res)
        if res.prediction is None:  # the purified image comes first; its predictions follow
            col.bars.set_rows(col.bars.rows(), True)  # the previous ones, greyed, until then
            col.verdict.set_verdict(None, text="classifying…" if st.current else "")
            col.info.setText("")
            return
        orig = self.results.stage(Row.ORIGINAL).result
        true_class = getattr(orig, "true_label", None)
        if true_class is None and orig is not None and row is not Row.ORIGINAL:
            true_class = orig.reference
        target = res.config.target if isinstance(res, AttackResult) else None
        col.bars.set_rows(prediction_rows(res.prediction, true_class, target), dim)
        col.verdict.set_verdict(res.judgement.verdict, dim)
        col.verdict.setToolTip(res.judgement.note)
        col.info.setText(self._info(row, res))

    def _set_images(self, row: Row, col: _Column, res: object) -> None:
        delta = row is Row.ADVERSARIAL and self.show_delta.isChecked()
        key = (id(res), id(res.cam), delta)
        if col.shown == key:
            return
        col.shown = key
        if delta:
            orig = self.results.stage(Row.ORIGINAL).result
            amp, gain = amplify_difference(res.image, orig.image)
            col.image.set_image(to_qimage(amp), delta_readout(res.image - orig.image), f"δ ×{gain:.0f}")
        else:
            col.image.set_image(to_qimage(res.image), rgb_readout(res.image))
        if res.cam is None:
            col.cam.set_image(None)
            col.cam.set_placeholder("CAM")
        else:
            heat = res.cam.heat
            col.cam.set_image(
                to_qimage(overlay_heatmap(res.image, heat)),
                heat_readout(heat),
                f"{res.cam.method}: {imagenet_classes().name(res.cam.class_index)}",
            )

    def _subtitle(self, row: Row, st: StageState) -> str:
        res = st.result
        if row is Row.ORIGINAL and res is not None:
            return res.path.name
        if row is Row.ADVERSARIAL and isinstance(res, AttackResult):
            return res.config.describe()
        if row is Row.PURIFIED and isinstance(res, PurifyResult):
            return res.defense.describe()
        return ""

    def _info(self, row: Row, res: object) -> str:
        if isinstance(res, OriginalResult):
            if res.true_label is None:
                return "No true label: later panels are judged against this prediction."
            return f"True class: <b>{imagenet_classes().name(res.true_label)}</b>"
        if isinstance(res, AttackResult):
            s = res.stats
            # a gradient-free attack's cost is its queries of the defended pipeline (Square stops when fooled)
            cls = ATTACKS.get(res.config.name)  # None: an evaluation's cached adversarial
            queries = f" · {res.outcome.iterations} queries" if cls is not None and cls.gradient_free else ""
            text = (
                f"L∞ <b>{s.linf:.1f}/255</b> · L2 <b>{s.l2:.2f}</b> · d {s.d:.3f}{queries}<br>"
                f"PSNR {res.psnr:.1f} dB · {res.seconds:.1f} s"
            )
            return text + (f"<br>{res.judgement.note}" if res.judgement.note else "")
        if isinstance(res, PurifyResult):
            db = "∞" if math.isinf(res.psnr) else f"{res.psnr:.1f}"
            clean = res.clean_prediction.top(1)[0]
            mark = "✓" if res.clean_correct else "✗"
            return (
                f"PSNR vs original <b>{db} dB</b> · {res.seconds:.2f} s<br>"
                f"Clean image through the defense: {mark} {clean.label} {100 * clean.prob:.0f}%"
            )
        return ""

    # ----- the mask column ----------------------------------------------------------------------------
    def _refresh_mask(self) -> None:
        st = self.results.stage(Row.PURIFIED)
        col = self.columns[MASK]
        res = st.result if isinstance(st.result, PurifyResult) else None
        adv = self.results.stage(Row.ADVERSARIAL).result
        busy, stale = st.status is Status.BUSY, st.status is Status.STALE
        col.image.set_activity(busy, stale, st.progress, "")
        col.cam.set_activity(busy, stale, 0.0, "")
        col.verdict.set_verdict(None)
        col.bars.set_rows([])
        if res is None or adv is None:
            col.shown = ()
            col.image.set_image(None)
            col.cam.set_image(None)
            col.image.set_placeholder("")
            col.subtitle.set_full_text("")
            col.info.setText("")
            return
        key = (id(res),)
        if col.shown != key:
            col.shown = key
            if res.mask is not None:
                col.image.set_image(
                    to_qimage(overlay_mask(adv.image, res.mask)),
                    self._mask_readout(res.mask),
                    f"object {100 * res.coverage:.0f}%",
                )
            else:
                col.image.set_image(None)
                col.image.set_placeholder(f"{res.defense.title} has no object mask")
            changed = res.image - adv.image
            col.cam.set_image(
                to_qimage(res.removed),
                delta_readout(changed),
                f"removed by the defense ×{res.removed_gain:.0f}",
            )
        col.subtitle.set_full_text("where RegionSparse sparse-codes" if res.mask is not None else "")
        col.verdict.set_verdict(
            None, text=f"object {100 * res.coverage:.0f}%" if res.coverage is not None else ""
        )
        col.info.setText(
            "Object: sparse-coded (K atoms per patch); background: bilateral-filtered. "
            "Below: what the defense changed, amplified."
            if res.mask is not None
            else "Below: what the defense changed, amplified (mid-grey: unchanged)."
        )

    @staticmethod
    def _mask_readout(mask: np.ndarray) -> object:
        return lambda x, y: f"({x}, {y})  {'object' if mask[y, x] else 'background'}"
