"""Per-epoch curves of a classifier fine-tune: training loss, and validation top-1 clean and through the
defense it trains on, side by side; the starting model's top-1 is drawn at epoch 0, so the first point says
where the run began and the last how far it got.

Plot items are made once and updated with ``setData`` as each :class:`EpochReport` arrives.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

from rsdesk.core.training.finetune import EpochReport

INK = "#202020"
CLEAN, THROUGH = "#1f77b4", "#d95f02"  # matplotlib's blue, a dark orange; markers tell them apart in grey


class EpochPlot(pg.GraphicsLayoutWidget):
    """Training loss and validation top-1 per epoch, side by side; the starting model's top-1 is epoch 0."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        small = QFont()
        small.setPointSize(9)
        self.loss_plot = self.addPlot(row=0, col=0, enableMenu=False)
        self.acc_plot = self.addPlot(row=0, col=1, enableMenu=False)
        for plot, title, left in (
            (self.loss_plot, "training loss", "cross-entropy"),
            (self.acc_plot, "validation top-1", "agreement %"),
        ):
            plot.setTitle(title, size="10pt", color=INK)
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", left)
            for axis in ("bottom", "left"):
                plot.getAxis(axis).setTickFont(small)
                plot.getAxis(axis).setTextPen(INK)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.showGrid(y=True, alpha=0.25)
        self.acc_plot.setYRange(0, 100, padding=0.04)
        legend = self.acc_plot.addLegend(offset=(-4, -4), labelTextSize="8pt", labelTextColor=INK)
        self.loss = self.loss_plot.plot(pen=pg.mkPen(INK, width=2), symbol="o", symbolSize=7, symbolBrush=INK)
        self.clean = self._curve(CLEAN, "o", Qt.PenStyle.SolidLine)
        self.through = self._curve(THROUGH, "s", Qt.PenStyle.DashLine)
        legend.addItem(self.clean, "clean")
        self.legend = legend
        self.reports: dict[int, EpochReport] = {}
        self.set_epochs(1)

    def _curve(self, colour: str, symbol: str, style: Qt.PenStyle) -> pg.PlotDataItem:
        return self.acc_plot.plot(
            pen=pg.mkPen(colour, width=2, style=style), symbol=symbol, symbolSize=8, symbolBrush=colour
        )

    def set_epochs(self, epochs: int, transform_title: str | None = None) -> None:
        """Axes for a run of ``epochs``; the second curve is named after the transform (hidden without)."""
        for plot in (self.loss_plot, self.acc_plot):
            plot.setXRange(0, max(1, epochs), padding=0.05)
            step = max(1, epochs // 10)  # whole epochs, at most ~10 labels
            plot.getAxis("bottom").setTickSpacing(step, step)
        self.legend.removeItem(self.through)
        if transform_title:
            self.legend.addItem(self.through, f"through {transform_title}")
        self.through.setVisible(bool(transform_title))

    def add(self, report: EpochReport) -> None:
        """One finished epoch; a report for an epoch already shown replaces it and every later one (a run
        that started over, or resumed from an earlier checkpoint)."""
        self.reports = {e: r for e, r in self.reports.items() if e < report.epoch}
        self.reports[report.epoch] = report
        self._redraw()

    def set_reports(self, reports: list[EpochReport]) -> None:
        self.reports = {r.epoch: r for r in reports}
        self._redraw()

    def epochs_shown(self) -> int:
        """How many epochs the loss curve shows now (one point each)."""
        x = self.loss.getData()[0]
        return 0 if x is None else len(x)

    def _redraw(self) -> None:
        reps = [self.reports[e] for e in sorted(self.reports)]
        epochs = np.array([r.epoch for r in reps], float)
        self.loss.setData(epochs, np.array([r.train_loss for r in reps], float))
        for curve, now, before in (
            (self.clean, "val_clean", "val_clean_before"),
            (self.through, "val_transformed", "val_transformed_before"),
        ):
            pts = [(0.0, getattr(reps[0], before))] if reps and getattr(reps[0], before) is not None else []
            pts += [(r.epoch, getattr(r, now)) for r in reps if getattr(r, now) is not None]
            curve.setData([p[0] for p in pts], [100 * p[1] for p in pts])
