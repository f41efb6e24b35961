"""Editors generated from the core's ``Param`` specs, so every range and label has one source of truth.

A bool becomes a check box, an integer a spin box, a float a spin box with decimals fitted to its range,
an optional value gets an "auto" entry below its minimum, and a parameter named as a slider (ε, d) gets a
slider over its useful range beside a spin box over the full range. In a toolbar row the labels are short
(``K``, not ``K (sparsity)``: a toolbar must fit 1366 px in presentation mode); the tooltip keeps the rest.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QWidget,
)

from rsdesk.core.params import Param

#: Slider ranges that matter in a demo (the spin box beside it still takes the full range).
SLIDER_RANGES = {"eps": (0.0, 32.0, 0.5), "d": (0.0, 0.2, 0.005)}


#: Decimals and step where the span alone would choose badly (c spans 1e-6…1e6 but lives near 0.1).
FLOAT_FORMATS = {
    "eps": (1, 0.5),
    "alpha": (2, 0.1),
    "d": (3, 0.005),
    "c": (4, 0.05),
    "lr": (4, 0.005),
    "theta": (2, 0.05),
    "keep": (2, 0.05),
}


#: A trailing explanation in parentheses that holds a word: "(sparsity)", "(8-bit units)"; not a unit
#: such as "(/255)" or "(px)".
_EXPLANATION = re.compile(r"\s*\([^)]*[A-Za-z]{3}[^)]*\)$")


def inline_label(label: str) -> str:
    """The label a toolbar row shows: without a formula (``target d = ‖δ‖₂/‖x‖₂``) or a trailing
    explanation (``θ (region weight)``), which the tooltip and the ⚙ form still show in full."""
    short = _EXPLANATION.sub("", label.split(" = ", 1)[0]).strip()
    return short or label


def _float_format(spec: Param) -> tuple[int, float]:
    """Decimals and step for a float parameter (by name, else fitted to its span)."""
    if spec.name in FLOAT_FORMATS:
        return FLOAT_FORMATS[spec.name]
    span = spec.maximum - spec.minimum
    if span <= 2:
        return 2, 0.05
    if span <= 20:
        return 2, 0.1
    return 1, 1.0


class ParamEditor(QWidget):
    """One parameter; ``value_changed(name, value)`` when the user edits it (not on :meth:`set_value`)."""

    value_changed = Signal(str, object)

    def __init__(self, spec: Param, slider: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.slider: QSlider | None = None
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.setToolTip(spec.help or spec.label)
        if spec.is_bool:
            self.box = QCheckBox(spec.label)
            self.box.toggled.connect(lambda on: self.value_changed.emit(spec.name, bool(on)))
            lay.addWidget(self.box)
            return
        if spec.choices:
            combo = QComboBox()
            combo.addItems(list(spec.choices))
            combo.currentTextChanged.connect(lambda text: self.value_changed.emit(spec.name, text))
            combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            self.box = combo
            self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            lay.addWidget(combo)
            return
        if spec.integer:
            box = QSpinBox()
            lo = int(spec.minimum) - (1 if spec.optional else 0)
            box.setRange(lo, int(min(spec.maximum, 2**31 - 1)))
            box.valueChanged.connect(self._emit)
        else:
            box = QDoubleSpinBox()
            decimals, step = _float_format(spec)
            box.setDecimals(decimals)
            box.setSingleStep(step)
            # A positive minimum below the shown precision (c ≥ 1e-6) becomes the smallest shown value,
            # so the box can never offer a value the core would refuse.
            lo = max(spec.minimum, 10.0**-decimals) if spec.minimum > 0 else spec.minimum
            box.setRange(lo - (step if spec.optional else 0.0), spec.maximum)
            box.valueChanged.connect(self._emit)
        if spec.optional:
            box.setSpecialValueText("auto")
        box.setKeyboardTracking(False)  # typing "12" must not run an attack at "1" first
        box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.box = box
        if slider and spec.name in SLIDER_RANGES:
            lo_s, hi_s, step_s = SLIDER_RANGES[spec.name]
            self._slider_step = step_s
            self.slider = QSlider(Qt.Orientation.Horizontal)
            self.slider.setRange(round(lo_s / step_s), round(hi_s / step_s))
            self.slider.setMinimumWidth(120)
            self.slider.valueChanged.connect(lambda v: self.box.setValue(v * self._slider_step))
            lay.addWidget(self.slider, 1)
        else:
            self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        lay.addWidget(box)

    def _emit(self, value: float) -> None:
        if self.slider is not None:
            self.slider.blockSignals(True)
            self.slider.setValue(round(value / self._slider_step))
            self.slider.blockSignals(False)
        self.value_changed.emit(self.spec.name, self.value())

    def value(self) -> object:
        if isinstance(self.box, QCheckBox):
            return self.box.isChecked()
        if isinstance(self.box, QComboBox):
            return self.box.currentText()
        v = self.box.value()
        if self.spec.optional and v < self.spec.minimum:
            return None
        return int(v) if self.spec.integer else float(v)

    def set_value(self, value: object) -> None:
        """Show ``value`` without announcing it (the state is where it came from)."""
        widgets = [self.box] + ([self.slider] if self.slider is not None else [])
        for w in widgets:
            w.blockSignals(True)
        try:
            if isinstance(self.box, QCheckBox):
                self.box.setChecked(bool(value))
            elif isinstance(self.box, QComboBox):
                self.box.setCurrentText(str(value if value is not None else self.spec.default))
            else:
                v = self.box.minimum() if value is None else float(value)
                self.box.setValue(int(v) if self.spec.integer else v)
                if self.slider is not None:
                    self.slider.setValue(round(self.box.value() / self._slider_step))
        finally:
            for w in widgets:
                w.blockSignals(False)


class ParamForm(QWidget):
    """Editors for several specs, in a row (toolbar) or a form (popup); re-emits ``value_changed``."""

    value_changed = Signal(str, object)

    def __init__(
        self,
        specs: tuple[Param, ...] | list[Param],
        horizontal: bool = False,
        sliders: tuple[str, ...] = ("eps", "d"),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.editors: dict[str, ParamEditor] = {}
        self.labels: dict[str, QLabel] = {}
        self._hidden: set[str] = set()
        if horizontal:
            lay = QHBoxLayout(self)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.setSpacing(6)
        else:
            lay = QFormLayout(self)
        for spec in specs:
            ed = ParamEditor(spec, slider=spec.name in sliders)
            ed.value_changed.connect(self.value_changed)
            self.editors[spec.name] = ed
            if spec.is_bool:
                if horizontal:
                    lay.addWidget(ed)
                else:
                    lay.addRow(ed)
                continue
            label = QLabel(inline_label(spec.label) if horizontal else spec.label)
            label.setToolTip(spec.label + (f": {spec.help}" if spec.help else ""))
            self.labels[spec.name] = label
            if horizontal:
                lay.addWidget(label)
                lay.addWidget(ed, 2 if ed.slider is not None else 0)
            else:
                lay.addRow(label, ed)

    def has_slider(self) -> bool:
        return any(ed.slider is not None for ed in self.editors.values())

    def set_row_visible(self, name: str, visible: bool) -> None:
        """Show or hide one parameter with its label (a toolbar moves it to ⚙ when short of room)."""
        if (name not in self._hidden) == visible:
            return
        self._hidden.symmetric_difference_update({name})
        lay = self.layout()
        if isinstance(lay, QFormLayout):
            lay.setRowVisible(self.editors[name], visible)
        else:
            for w in (self.labels.get(name), self.editors[name]):
                if w is not None:
                    w.setVisible(visible)
        lay.invalidate()
        self.updateGeometry()  # the row's layout must see the new width now, not after an event

    def visible_rows(self) -> list[str]:
        """The parameters not hidden by :meth:`set_row_visible`, in order."""
        return [n for n in self.editors if n not in self._hidden]

    def set_values(self, values: dict[str, object]) -> None:
        for name, ed in self.editors.items():
            if name in values:
                ed.set_value(values[name])
