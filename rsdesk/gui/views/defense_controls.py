"""The defense toolbar: method (RegionSparse or a baseline), its parameters (K, θ, stride… generated from
the core's specs) and the on/off toggle (D) — bound to :class:`AppState`. Every edit re-purifies through
the pipeline's debounce."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QToolButton, QWidget

from rsdesk.core.defenses import DEFENSES
from rsdesk.gui.models.configs import defense_names
from rsdesk.gui.models.state import AppState
from rsdesk.gui.views.method_controls import MethodControls


class DefenseControls(MethodControls):
    """Defense method, parameters and the on/off toggle action."""

    def __init__(self, state: AppState, toggle: QAction, parent: QWidget | None = None) -> None:
        super().__init__("Defense", {n: DEFENSES[n] for n in defense_names()}, parent)
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
        specs = {p.name: p for p in DEFENSES[self.state.defense].PARAMS}
        for param, limit in self.state.param_limits().items():  # K ≤ the dictionary's atoms
            for editor in self.editors(param):
                editor.box.setMaximum(min(specs[param].maximum, limit))
        self.setEnabled(True)
        for form in self.forms():
            form.setEnabled(self.state.defense_enabled)
        self.combo.setEnabled(self.state.defense_enabled)

    def _pick(self, name: str) -> None:
        self.state.set_defense(name)

    def _edit(self, name: str, value: object) -> None:
        try:
            self.state.set_defense_param(name, value)
        except ValueError as exc:
            self.warn(str(exc))
            self.sync()
