"""The defense toolbar: method (RegionSparse or a baseline), its parameters (K, θ, stride… generated from
the core's specs) and the on/off toggle (D) — bound to :class:`AppState`. Every edit re-purifies through
the pipeline's debounce."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QToolButton, QWidget

from rsdesk.core.defenses import DEFENSES
from rsdesk.gui.method_controls import MethodControls
from rsdesk.gui.state import DEFENSE_NAMES, AppState, param_specs

PRIMARY = {
    "regionsparse": ("k", "theta", "stride"),
    "jpeg": ("quality",),
    "squeeze": ("bits", "median"),
    "tvm": ("keep", "lam", "iterations"),
    "bilateral": ("d", "sigma_color", "sigma_space"),
    "nlm": ("h",),
}
LABELS = {"regionsparse": "RegionSparse", "squeeze": "Feature squeezing", "tvm": "TVM", "nlm": "NLM"}


class DefenseControls(MethodControls):
    """Defense method, parameters and the on/off toggle action."""

    def __init__(self, state: AppState, toggle: QAction, parent: QWidget | None = None) -> None:
        methods = {n: LABELS.get(n, DEFENSES[n].title) for n in DEFENSE_NAMES}
        super().__init__("Defense", methods, lambda n: param_specs("defense", n), PRIMARY, parent)
        self.state = state
        self.toggle_button = QToolButton()
        self.toggle_button.setDefaultAction(toggle)
        self._layout.insertWidget(1, self.toggle_button)
        self._layout.addStretch(1)
        self.method_picked.connect(self._pick)
        self.param_edited.connect(self._edit)
        state.defense_changed.connect(self.sync)
        state.dictionary_changed.connect(self.sync)
        self.sync()

    def sync(self) -> None:
        self.show_method(self.state.defense, self.state.defense_values())
        if self.state.defense == "regionsparse" and self.inline is not None and "k" in self.inline.editors:
            box = self.inline.editors["k"].box
            box.setMaximum(min(64, self.state.dictionary.dictionary.n_atoms))
        self.setEnabled(True)
        for form in (self.inline, self.more_form):
            if form is not None:
                form.setEnabled(self.state.defense_enabled)
        self.combo.setEnabled(self.state.defense_enabled)

    def _pick(self, name: str) -> None:
        self.state.set_defense(name)

    def _edit(self, name: str, value: object) -> None:
        try:
            self.state.set_defense_param(name, value)
        except ValueError as exc:
            self.error.emit(str(exc))
            self.sync()
