"""The attack toolbar: method, strength (ε slider, or d for CW), steps, CW's c, target class, and the
Attack / Attack selected / Cancel actions — bound to :class:`AppState`."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QToolButton, QWidget

from rsdesk.core.attacks import ATTACKS
from rsdesk.gui.class_picker import ClassPicker
from rsdesk.gui.method_controls import MethodControls
from rsdesk.gui.state import ATTACK_NAMES, AppState, param_specs

#: Shown inline; the others (α, μ, κ, learning rate, EOT…) sit behind ⚙.
PRIMARY = {
    "fgsm": ("eps",),
    "bim": ("eps", "steps"),
    "mifgsm": ("eps", "steps"),
    "cw": ("d", "c", "steps"),
    "bpda": ("eps", "steps"),
}
LABELS = {"bpda": "BPDA (defense-aware)"}


class AttackControls(MethodControls):
    """Attack method and parameters, the target picker, and buttons for the given actions."""

    def __init__(self, state: AppState, actions: list[QAction], parent: QWidget | None = None) -> None:
        methods = {n: LABELS.get(n, ATTACKS[n].title) for n in ATTACK_NAMES}
        super().__init__("Attack", methods, lambda n: param_specs("attack", n), PRIMARY, parent)
        self.state = state
        self.target = ClassPicker()
        self.target.setToolTip("Target class for a targeted attack (empty: untargeted)")
        self._layout.addWidget(QLabel("target"))
        self._layout.addWidget(self.target, 1)
        self.buttons: list[QToolButton] = []
        for action in actions:
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
            self.error.emit(str(exc))
            self.sync()

    def _set_target(self, index: object) -> None:
        try:
            self.state.set_target(index)  # type: ignore[arg-type]
        except ValueError as exc:
            self.error.emit(str(exc))
            self.sync()
