"""Accuracy-vs-strength curves of an evaluation, live: one plot per attack, one curve per defense with its
95 % interval as a band, the undefended model dotted grey — the paper's Fig. 5, filling in as results come.

Drawn from a summary (``rsdesk.core.evaluation.summary``) with the core's own helpers (``curve_series``,
``defense_styles``), so the curves, colours and markers match the run's PNG figures. Plot items are made
once per layout (attacks × defenses) and then only updated with ``setData``: a poll that brings a few new
results costs a few point updates, not a re-plot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QResizeEvent
from PySide6.QtWidgets import QWidget

from rsdesk.core.evaluation.series import CurvePoint, curve_series, defense_styles
from rsdesk.core.evaluation.summary import experiment_view

#: matplotlib markers of ``defense_styles`` → pyqtgraph symbols
_SYMBOLS = {"o": "o", "s": "s", "^": "t1", "D": "d", "v": "t", "P": "+", "X": "x", "*": "star"}
INK = "#202020"
#: room kept above the plots for the legend, in pixels
LEGEND_HEIGHT = 50
_DASH = {":": Qt.PenStyle.DotLine, "--": Qt.PenStyle.DashLine, "-": Qt.PenStyle.SolidLine}


def _colour(c: Any) -> QColor:
    return QColor.fromRgbF(*c) if isinstance(c, tuple) else QColor(str(c))


def grid_columns(n_plots: int, width: float, height: float) -> int:
    """Plots per row for an area of ``width`` × ``height``: the arrangement whose plots come closest to
    4:3 at the largest size (four plots: 2 × 2 in a square area, a column in a narrow one)."""

    def size(cols: int) -> float:
        rows = max(1, -(-n_plots // cols))
        return min(width / cols, 4 / 3 * height / rows)

    return max(range(1, max(1, n_plots) + 1), key=size)


@dataclass
class _Curve:
    line: pg.PlotDataItem
    low: pg.PlotCurveItem
    high: pg.PlotCurveItem
    band: pg.FillBetweenItem
    strengths: tuple[float, ...] = ()
    points: tuple[CurvePoint, ...] | None = None


class AccuracyPlots(pg.GraphicsLayoutWidget):
    """One plot per attack of the run; ``point_clicked((attack, strength, defense))`` on a clicked point.

    A new layout is built one plot per turn of the event loop (a plot with its curves costs tens of
    milliseconds): the window stays responsive while a run's first results arrive.
    """

    point_clicked = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self._layout_key: tuple = ()
        self._summary: Mapping[str, Any] | None = None
        self._experiment: str | None = None
        self._exp: Mapping[str, Any] = {}
        self._todo: list[tuple[int, str]] = []
        self._columns = 1
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, str], _Curve] = {}
        self.legend: pg.LegendItem | None = None
        self._builder = QTimer(self)
        self._builder.setSingleShot(True)
        self._builder.timeout.connect(self._build_next)

    def set_summary(self, summary: Mapping[str, Any] | None) -> None:
        """Show this summary (None: nothing); the plots are rebuilt only when attacks or defenses change."""
        self._summary = summary
        if not summary:
            self._rebuild({}, {}, 1)
            return
        exp = experiment_view(summary, self._experiment)
        attacks, defenses = tuple(exp["attacks"]), tuple(exp["defenses"])
        columns = grid_columns(len(attacks), self.width(), max(1, self.height() - LEGEND_HEIGHT))
        if (attacks, defenses, columns) != self._layout_key:
            self._rebuild(summary, exp, columns)
        self._exp = exp
        for attack in self.plots:
            self._fill(attack)

    def set_experiment(self, name: str | None) -> None:
        """Show only this experiment's attacks and defenses (None: all of the run's)."""
        if name != self._experiment:
            self._experiment = name
            self.set_summary(self._summary)

    def is_ready(self) -> bool:
        """Whether every plot of the layout is built (and shows the latest summary)."""
        return not self._todo

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        if getattr(self, "_summary", None):  # another arrangement may fit the new size better (and
            # pyqtgraph calls this from its __init__, before ours has run)
            self.set_summary(self._summary)

    def point_count(self, attack: str, defense: str) -> int:
        """How many points the curve of ``defense`` under ``attack`` shows now (0 while not built)."""
        curve = self.curves.get((attack, defense))
        x = None if curve is None else curve.line.getData()[0]
        return 0 if x is None else len(x)

    def _fill(self, attack: str) -> None:
        series = curve_series(self._summary or {}, self._exp, attack)
        for defense in self._exp.get("defenses", ()):
            self._set_points(self.curves[(attack, defense)], series.get(defense, []))

    def _set_points(self, curve: _Curve, points: list[CurvePoint]) -> None:
        if tuple(points) == curve.points:
            return  # a new result moves a few points: the other curves are not touched (nor repainted)
        curve.points = tuple(points)
        x = np.array([p.strength for p in points], float)
        curve.strengths = tuple(x)
        curve.line.setData(x, np.array([p.acc for p in points], float))
        curve.low.setData(x, np.array([p.lo for p in points], float))
        curve.high.setData(x, np.array([p.hi for p in points], float))

    def _rebuild(self, summary: Mapping[str, Any], exp: Mapping[str, Any], columns: int) -> None:
        self.clear()
        self.plots, self.curves, self.legend = {}, {}, None
        attacks, defenses = tuple(exp.get("attacks", ())), tuple(exp.get("defenses", ()))
        self._layout_key, self._exp, self._columns = (attacks, defenses, columns), exp, columns
        self._todo = list(enumerate(attacks))
        if not attacks:
            self._builder.stop()
            return
        legend_columns = max(1, min(len(defenses), int(self.width() // 170)))
        self.legend = pg.LegendItem(colCount=legend_columns, labelTextSize="9pt", labelTextColor=INK)
        self.addItem(self.legend, row=0, col=0, colspan=columns)
        self._builder.start(0)

    def _build_next(self) -> None:
        if not self._todo:
            return
        i, attack = self._todo.pop(0)
        summary, exp, columns = self._summary or {}, self._exp, self._columns
        info = summary.get("attacks", {}).get(attack, {})
        plot = self.addPlot(row=1 + i // columns, col=i % columns, enableMenu=False)
        plot.setTitle(str(info.get("title", attack)), size="10pt", color=INK)
        unit = info.get("unit") or ""
        plot.setLabel("bottom", f"{info.get('symbol', 'strength')}" + (f" ({unit})" if unit else ""))
        plot.setLabel("left", "accuracy %" if i % columns == 0 else "")
        small = QFont()
        small.setPointSize(9)
        for axis in ("bottom", "left"):
            plot.getAxis(axis).setTickFont(small)
            plot.getAxis(axis).setTextPen(INK)  # dark text: readable from the back of the room
            plot.getAxis(axis).enableAutoSIPrefix(False)  # d 0.1, not "d (×0.001) 100"
        # fixed ranges: no auto-range pass over every item at each repaint while results pour in
        plot.setXRange(0, max([0.0, *exp["strengths"][attack]]) or 1.0, padding=0.05)
        plot.setYRange(0, 100, padding=0.04)
        plot.disableAutoRange()
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.showGrid(y=True, alpha=0.25)
        self.plots[attack] = plot
        styles, titles = defense_styles(summary), summary.get("defenses", {})
        for defense in exp.get("defenses", ()):
            curve = self.curves[(attack, defense)] = self._make_curve(
                plot, attack, defense, styles.get(defense, {})
            )
            if i == 0 and self.legend is not None:
                self.legend.addItem(curve.line, str(titles.get(defense, {}).get("title", defense)))
        self._fill(attack)
        if self._todo:
            self._builder.start(0)

    def _make_curve(self, plot: pg.PlotItem, attack: str, defense: str, style: Mapping[str, Any]) -> _Curve:
        colour = _colour(style.get("color", "#000000"))
        pen = pg.mkPen(
            colour, width=2, style=_DASH.get(str(style.get("linestyle", "-")), Qt.PenStyle.SolidLine)
        )
        line = pg.PlotDataItem(
            pen=pen,
            symbol=_SYMBOLS.get(str(style.get("marker", "o")), "o"),
            symbolSize=9,
            symbolBrush=colour,
            symbolPen=pg.mkPen(colour),
        )
        low, high = pg.PlotCurveItem(), pg.PlotCurveItem()
        band_colour = QColor(colour)
        band_colour.setAlpha(32)
        band = pg.FillBetweenItem(low, high, brush=band_colour)
        for item in (band, low, high, line):
            plot.addItem(item)
        curve = _Curve(line, low, high, band)
        line.sigPointsClicked.connect(
            lambda _item, points, _ev: self._clicked(attack, defense, curve, points)
        )
        return curve

    def _clicked(self, attack: str, defense: str, curve: _Curve, points: Any) -> None:
        if len(points) and curve.strengths:
            x = float(points[0].pos().x())
            strength = min(curve.strengths, key=lambda s: abs(s - x))
            self.point_clicked.emit((attack, float(strength), defense))
