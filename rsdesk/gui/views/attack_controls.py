"""The attack toolbar: method, its main parameters (ε slider, or d for CW-L2; steps; CW's c), the others
behind ⚙, the target class, and the Attack / Attack selected / Cancel actions — bound to :class:`AppState`.
Which parameters are main is each attack's ``MAIN_PARAMS`` trait in the core. An action whose
``foldable`` property is set (Attack Selected: rare in a demo) moves into ⚙ first when room is short."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QToolButton, QWidget

from rsdesk.core.attacks import ATTACKS
from rsdesk.gui.models.configs import attack_names
from rsdesk.gui.models.state import AppState
from rsdesk.gui.views.method_controls import MethodControls
from rsdesk.gui.widgets.class_picker import ClassPicker


class AttackControls(MethodControls):
    """Attack method and parameters, the target picker, and buttons for the given actions."""

    def __init__(self, state: AppState, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__("Attack", {n: ATTACKS[n] for n in attack_names()}, parent)
        self.state = state
        self.target = ClassPicker()
        self.target.setToolTip("Target class for a targeted attack (empty: untargeted)")
        self._layout.addWidget(QLabel("target"))
        self._layout.addWidget(self.target, 1)
        self.buttons: list[QToolButton] = []
        for action in actions:
            if action.property("foldable"):
                b = self.add_spare(action)
            else:
                b = QToolButton()
                b.setDefaultAction(action)
            self._layout.addWidget(b)
            self.buttons.append(b)
        self.method_picked.connect(self._pick)
        self.param_edited.connect(self._edit)
        self.target.target_changed.connect(self._set_target)
        state.attack_changed.connect(self.sync)
        self.sync()

    def sync(self) -> None:
        """Show what the state holds (signals blocked: no echo back into the state)."""
        self.show_method(self.state.attack, self.state.attack_values())
        if self.target.target() != self.state.target:
            self.target.blockSignals(True)
            self.target.set_target(self.state.target)
            self.target.blockSignals(False)

    def _pick(self, name: str) -> None:
        self.state.set_attack(name)

    def _edit(self, name: str, value: object) -> None:
        try:
            self.state.set_attack_param(name, value)
        except ValueError as exc:
            self.warn(str(exc))
            self.sync()

    def _set_target(self, index: object) -> None:
        try:
            self.state.set_target(index)  # type: ignore[arg-type]
        except ValueError as exc:
            self.warn(str(exc))
            self.sync()
