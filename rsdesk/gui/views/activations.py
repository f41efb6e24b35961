"""The paper's activation visualization (Section III): per-layer activation ratios and channel heat grids.

Left: V_l(adversarial)/V_l(original) and V_l(purified)/V_l(original) across the convolution layers (eq. 7,
threshold γ), with the 1.0 line where an image excites the network exactly like the original. Right: the
per-channel max-pool values of three chosen layers, one row per image kind. Layers differ in magnitude by
orders of magnitude (3…130 in EfficientNet-Lite0), so every grid shows activations divided by the
original's largest activation in that layer: one colour bar then means the same thing in every grid, and
"brighter than the original row" reads as "excited more than the clean image". Plot items are created
once and updated with setData/setImage, so switching images is cheap.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from rsdesk.core.models.explain import ActivationProfile, activation_ratio

KINDS = ("original", "adversarial", "purified")
SLOTS = ("A", "B", "C")
#: Colour-bar range of the normalized heat grids (1.0 = the original's strongest channel in that layer).
HEAT_LEVELS = (0.0, 1.2)
_LABEL_STYLE = {"font-size": "8pt"}
#: The lines of the small font one heat grid needs: three row labels, the channel ticks and the axis label.
HEAT_ROW_LINES = 8


def small_font() -> QFont:
    """The heat grids' tick font."""
    f = QFont()
    f.setPointSizeF(7.5)
    return f


class ActivationsView(QWidget):
    """Ratio curves and heat grids for the original / adversarial / purified activation profiles."""

    gamma_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._profiles: tuple[ActivationProfile | None, ...] = (None, None, None)
        self._names: list[str] = []
        self._ratios: tuple[np.ndarray | None, np.ndarray | None] = (None, None)

        self.gamma_spin = QDoubleSpinBox()
        self.gamma_spin.setRange(0.0, 1000.0)
        self.gamma_spin.setDecimals(2)
        self.gamma_spin.setSingleStep(0.1)
        self.gamma_spin.setToolTip("γ: only channels whose max activation exceeds γ count in V_l (eq. 7)")
        self.gamma_spin.valueChanged.connect(self._on_gamma)
        self.summary = QLabel()
        # Shrinks (clipped, full text in the tooltip) rather than forcing the tab wider.
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setMinimumWidth(200)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.layer_combos = [QComboBox() for _ in SLOTS]
        for combo in self.layer_combos:
            combo.setMinimumContentsLength(14)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.currentIndexChanged.connect(self._update_heat)
        self.sort_box = QCheckBox("sort channels")
        self.sort_box.setChecked(True)
        self.sort_box.setToolTip("order channels by the original image's activation, strongest first")
        self.sort_box.toggled.connect(self._update_heat)

        self.plot = pg.PlotWidget(background="w")
        self._build_ratio_plot(self.plot.getPlotItem())
        self.heat = pg.GraphicsLayoutWidget()
        self.heat.setBackground("w")
        self.heat_plots: list[pg.PlotItem] = []
        self.heat_images: list[pg.ImageItem] = []
        self._build_heat_grids()

        controls = QHBoxLayout()
        controls.addWidget(QLabel("γ"))
        controls.addWidget(self.gamma_spin)
        for slot, combo in zip(SLOTS, self.layer_combos):
            controls.addWidget(QLabel(f"layer {slot}"))
            controls.addWidget(combo)
        controls.addWidget(self.sort_box)
        controls.addStretch(1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(self.heat)
        split.setSizes([500, 500])
        # Below this the heat grids' row labels run into each other and the curves flatten: the plots keep
        # their height and the tab scrolls instead (the window's TabRoom gives it this height when raised).
        split.setMinimumHeight(len(SLOTS) * HEAT_ROW_LINES * QFontMetrics(small_font()).height())
        self.content = QWidget()
        lay = QVBoxLayout(self.content)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(controls)
        lay.addWidget(self.summary)
        lay.addWidget(split, 1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        self.clear()

    def readable_height(self) -> int:
        """The height at which everything shows without scrolling."""
        return self.content.minimumSizeHint().height()

    # ----- construction -----------------------------------------------------------------------------
    def _build_ratio_plot(self, item: pg.PlotItem) -> None:
        item.setLabel("left", "V_l(x) / V_l(original)")
        item.setLabel("bottom", "convolution layer (network order)")
        item.showGrid(x=True, y=True, alpha=0.2)
        item.addLegend(offset=(40, 5), brush=pg.mkBrush(255, 255, 255, 210))  # curves stay readable below
        item.getViewBox().enableAutoRange(x=False)
        # Different dash and symbol as well as colour, so the curves also read in grayscale.
        self.adversarial_curve = item.plot(
            [],
            [],
            name="adversarial / original",
            pen=pg.mkPen("#c62828", width=2),
            symbol="o",
            symbolSize=5,
            symbolBrush="#c62828",
            symbolPen=None,
            connect="finite",
        )
        self.purified_curve = item.plot(
            [],
            [],
            name="purified / original",
            pen=pg.mkPen("#1565c0", width=2, style=Qt.PenStyle.DashLine),
            symbol="t",
            symbolSize=6,
            symbolBrush="#1565c0",
            symbolPen=None,
            connect="finite",
        )
        self.unity_line = pg.InfiniteLine(
            pos=1.0, angle=0, pen=pg.mkPen("#555", width=1, style=Qt.PenStyle.DashLine), movable=False
        )
        item.addItem(self.unity_line, ignoreBounds=False)
        self.layer_markers = []
        for slot in SLOTS:
            marker = pg.InfiniteLine(
                angle=90,
                movable=False,
                pen=pg.mkPen("#999", style=Qt.PenStyle.DotLine),
                label=slot,
                labelOpts={"position": 0.95, "color": "#555"},
            )
            item.addItem(marker, ignoreBounds=True)
            self.layer_markers.append(marker)

    def _build_heat_grids(self) -> None:
        cmap = pg.colormap.get("viridis")
        small = small_font()
        for i, slot in enumerate(SLOTS):
            p = self.heat.addPlot(row=i, col=0)
            p.invertY(True)  # the original row on top
            p.setMouseEnabled(x=True, y=False)
            p.hideButtons()
            left = p.getAxis("left")
            left.setTicks([[(r + 0.5, kind) for r, kind in enumerate(KINDS)]])
            left.setStyle(tickFont=small, tickLength=0)
            left.setWidth(90)
            left.setLabel(slot)
            p.getAxis("bottom").setStyle(tickFont=small)
            img = pg.ImageItem(axisOrder="row-major")
            img.setLevels(HEAT_LEVELS)
            img.setColorMap(cmap)
            p.addItem(img)
            self.heat_plots.append(p)
            self.heat_images.append(img)
        self.colorbar = pg.ColorBarItem(
            values=HEAT_LEVELS, colorMap=cmap, interactive=False, label="÷ original's layer max"
        )
        self.colorbar.setImageItem(self.heat_images)
        self.heat.addItem(self.colorbar, row=0, col=1, rowspan=len(SLOTS))

    # ----- public API --------------------------------------------------------------------------------
    def set_profiles(
        self,
        original: ActivationProfile | None,
        adversarial: ActivationProfile | None,
        purified: ActivationProfile | None,
        gamma: float = 0.0,
    ) -> None:
        """Show these profiles (any may be None: that stage has not run yet) at threshold γ."""
        self._profiles = (original, adversarial, purified)
        known = next((p for p in self._profiles if p is not None), None)
        names = list(known.layer_names) if known is not None else []
        if names != self._names:
            self._names = names
            self._fill_layer_combos()
            if names:
                self.plot.getPlotItem().setXRange(-0.5, len(names) - 0.5, padding=0.01)
        self.gamma_spin.blockSignals(True)
        self.gamma_spin.setValue(float(gamma))
        self.gamma_spin.blockSignals(False)
        self._update_curves()
        self._update_heat()

    def clear(self) -> None:
        """Forget all profiles (e.g. a new image is being loaded)."""
        self.set_profiles(None, None, None, self.gamma_spin.value())

    def gamma(self) -> float:
        return float(self.gamma_spin.value())

    def ratios(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The plotted (adversarial, purified) ratios per layer; None where not computable."""
        return self._ratios

    # ----- updates -----------------------------------------------------------------------------------
    def _on_gamma(self, value: float) -> None:
        self._update_curves()
        self.gamma_changed.emit(float(value))

    def _fill_layer_combos(self) -> None:
        n = len(self._names)
        defaults = (0, n // 2, n - 1)
        for combo, default in zip(self.layer_combos, defaults):
            combo.blockSignals(True)
            combo.clear()
            for i, name in enumerate(self._names):
                combo.addItem(f"{i}: {name}", i)
            combo.setCurrentIndex(default if n else -1)
            combo.setEnabled(bool(n))
            combo.blockSignals(False)

    def _ratio(self, profile: ActivationProfile | None) -> np.ndarray | None:
        original = self._profiles[0]
        if original is None or profile is None or len(profile.values) != len(original.values):
            return None
        return activation_ratio(profile, original, self.gamma())

    def _update_curves(self) -> None:
        original, adversarial, purified = self._profiles
        self._ratios = (self._ratio(adversarial), self._ratio(purified))
        parts = []
        for curve, ratio, kind in zip((self.adversarial_curve, self.purified_curve), self._ratios, KINDS[1:]):
            if ratio is None:
                curve.setData([], [])
                continue
            curve.setData(np.arange(len(ratio), dtype=float), ratio)
            finite = ratio[np.isfinite(ratio)]
            if finite.size:
                parts.append(f"{kind}: mean {finite.mean():.3f}, deepest layer {finite[-1]:.3f}")
        if original is None:
            self.summary.setText("No activations yet: classify an image first.")
        elif any(p is not None and len(p.values) != len(original.values) for p in self._profiles[1:]):
            self.summary.setText("The profiles come from different networks; ratios cannot be compared.")
        elif not parts:
            self.summary.setText("Original only: attack the image to compare activations.")
        else:
            self.summary.setText("V ratio — " + " · ".join(parts))
        self.summary.setToolTip(self.summary.text())

    def _normalized_rows(self, layer: int) -> np.ndarray | None:
        """3 × C matrix of activations / the original's max in that layer (NaN rows for missing kinds)."""
        rows = [p.values[layer] if p is not None and layer < len(p.values) else None for p in self._profiles]
        width = next((len(r) for r in rows if r is not None), 0)
        if not width:
            return None
        ref = rows[0] if rows[0] is not None else next(r for r in rows if r is not None)
        scale = float(np.max(ref)) if np.max(ref) > 0 else 1.0
        order = np.argsort(-ref, kind="stable") if self.sort_box.isChecked() else np.arange(width)
        out = np.full((len(KINDS), width), np.nan, dtype=np.float32)
        for r, values in enumerate(rows):
            if values is not None and len(values) == width:
                out[r] = np.asarray(values, dtype=np.float32)[order] / scale
        return out

    def _update_heat(self) -> None:
        parts = zip(self.layer_combos, self.heat_plots, self.heat_images, self.layer_markers)
        for combo, plot, img, marker in parts:
            layer = combo.currentData()
            data = self._normalized_rows(int(layer)) if layer is not None else None
            if data is None:
                img.clear()
                marker.hide()
                plot.getAxis("bottom").setLabel("channel", **_LABEL_STYLE)
                continue
            img.setImage(data, levels=HEAT_LEVELS, autoLevels=False)
            marker.setValue(int(layer))
            marker.show()
            # short: it must fit beside the colour bar in a narrow tab (the check box says how sorted)
            order = ", sorted" if self.sort_box.isChecked() else ""
            plot.getAxis("bottom").setLabel(f"layer {layer} channels{order}", **_LABEL_STYLE)
            plot.setXRange(0, data.shape[1], padding=0)
            plot.setYRange(0, len(KINDS), padding=0)
