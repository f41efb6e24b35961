"""The panel grid: Original · Adversarial · Object mask · Purified, each with its verdict on top, the image,
its CAM, the top-5 bars and the numbers. A view of :class:`ResultsModel`; it never computes anything heavy.

Columns read left to right as the story (image → attack → what RegionSparse looks at → purified), and the
verdict sits directly under each title, the first thing the back of the room sees.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QModelIndex, Qt
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.overlays import amplify_difference, overlay_heatmap, overlay_mask
from rsdesk.gui.models.results import ResultsModel, Row, StageState, Status
from rsdesk.gui.models.stage_results import AttackResult, OriginalResult, PurifyResult
from rsdesk.gui.widgets.image_panel import ImagePanel, ViewLink
from rsdesk.gui.widgets.predictions import PredictionBars, VerdictBadge, prediction_rows
from rsdesk.gui.widgets.qimage import to_qimage

COLUMNS = ("Original", "Adversarial", "Object mask", "Purified")
MASK = 2


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
    """The widgets of one column (created by the grid, placed in its layout)."""

    def __init__(self, grid: PanelGrid, col: int) -> None:
        self.title = QLabel(COLUMNS[col])
        self.title.setFont(title_font(grid.font()))
        self.subtitle = QLabel()
        self.subtitle.setObjectName("subtitle")
        # Text never decides a column's width: the four columns stay equal, long text wraps or clips.
        self.subtitle.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.verdict = VerdictBadge()
        self.image = ImagePanel(grid.link)
        self.cam = ImagePanel(grid.link)
        self.bars = PredictionBars()
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.shown: tuple = ()


class PanelGrid(QWidget):
    """Binds the four columns to the rows of a :class:`ResultsModel`."""

    def __init__(self, results: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.results = results
        self.link = ViewLink(self)
        self.show_delta = QAction("Show &perturbation (amplified)", self)
        self.show_delta.setCheckable(True)
        self.show_delta.setShortcut("P")
        self.show_delta.toggled.connect(lambda _on: self._refresh_all(force=True))
        layout = QGridLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setHorizontalSpacing(12)
        layout.setVerticalSpacing(4)
        self.columns = [_Column(self, c) for c in range(len(COLUMNS))]
        for c, col in enumerate(self.columns):
            head = QHBoxLayout()
            head.addWidget(col.title)
            head.addStretch(1)
            if c == 1:
                button = QToolButton()
                self.show_delta.setIconText("δ ×")
                button.setDefaultAction(self.show_delta)
                button.setToolTip("Show the perturbation, amplified (P)")
                head.addWidget(button)
            layout.addLayout(head, 0, c)
            layout.addWidget(col.subtitle, 1, c)
            layout.addWidget(col.verdict, 2, c)
            layout.addWidget(col.image, 3, c)
            layout.addWidget(col.cam, 4, c)
            layout.addWidget(col.bars, 5, c)
            layout.addWidget(col.info, 6, c)
            layout.setColumnStretch(c, 1)
        layout.setRowStretch(3, 3)
        layout.setRowStretch(4, 2)
        results.dataChanged.connect(self._on_changed)
        self._refresh_all()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:  # presentation mode: titles grow with the rest
            for col in self.columns:
                col.title.setFont(title_font(self.font()))
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

    def _refresh_all(self, force: bool = False) -> None:
        if force:
            for col in self.columns:
                col.shown = ()
        for row in Row:
            self._refresh(row)
        self._refresh_mask()

    # ----- one stage column ---------------------------------------------------------------------------
    def _refresh(self, row: Row) -> None:
        st = self.results.stage(row)
        col = self.column(row)
        res = st.result
        busy, stale = st.status is Status.BUSY, st.status is Status.STALE
        col.image.set_activity(busy, stale, st.progress, st.message)
        col.cam.set_activity(st.explaining or busy, stale, 0.0, "CAM…" if st.explaining else "")
        subtitle = self._subtitle(row, st)
        col.subtitle.setText(subtitle + (" (out of date)" if subtitle and not st.current else ""))
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
            col.subtitle.setText("")
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
        col.subtitle.setText("where RegionSparse sparse-codes" if res.mask is not None else "")
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
