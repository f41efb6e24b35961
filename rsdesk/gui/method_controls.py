"""Shared shape of the attack and defense toolbars: a method picker, its main parameters inline, and the
rest behind a ⚙ button — all generated from the core's ``Param`` specs and bound to :class:`AppState`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QToolButton, QWidget, QWidgetAction

from rsdesk.core.params import Param
from rsdesk.gui.param_widgets import ParamForm


class MethodControls(QWidget):
    """Picker + inline form + ⚙ popup for one kind of method; subclasses bind the signals to the state."""

    method_picked = Signal(str)
    param_edited = Signal(str, object)
    error = Signal(str)

    def __init__(
        self,
        title: str,
        methods: dict[str, str],
        specs: Callable[[str], tuple[Param, ...]],
        primary: dict[str, tuple[str, ...]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._specs = specs
        self._primary = primary
        self._method = ""
        self.combo = QComboBox()
        for name, label in methods.items():
            self.combo.addItem(label, name)
        self.combo.setToolTip(f"{title} method")
        self.combo.currentIndexChanged.connect(lambda _i: self.method_picked.emit(self.combo.currentData()))
        self.inline: ParamForm | None = None
        self.more_form: ParamForm | None = None
        self.more = QToolButton()
        self.more.setText("⚙")
        self.more.setToolTip(f"More {title.lower()} parameters")
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.more.setMenu(QMenu(self.more))
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(4, 0, 4, 0)
        self._layout.setSpacing(6)
        label = QLabel(f"<b>{title}</b>")
        self._layout.addWidget(label)
        self._layout.addWidget(self.combo)
        self._layout.addWidget(self.more)

    # ----- building ---------------------------------------------------------------------------------
    def show_method(self, name: str, values: dict[str, object]) -> None:
        """Show ``name``'s editors (rebuilt only when the method changes) holding ``values``."""
        if name != self._method:
            self._method = name
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(self.combo.findData(name))
            self.combo.blockSignals(False)
            self._rebuild(name)
        self.inline.set_values(values)
        if self.more_form is not None:
            self.more_form.set_values(values)

    def _rebuild(self, name: str) -> None:
        specs = self._specs(name)
        first = [s for s in specs if s.name in self._primary.get(name, ())]
        rest = [s for s in specs if s.name not in self._primary.get(name, ())]
        if self.inline is not None:
            self._layout.removeWidget(self.inline)
            self.inline.hide()  # gone at once, not only when the deferred delete runs
            self.inline.deleteLater()
        self.inline = ParamForm(first, horizontal=True)
        self.inline.value_changed.connect(self.param_edited)
        self._layout.insertWidget(
            self._layout.indexOf(self.more), self.inline, 1 if self.inline.has_slider() else 0
        )
        menu = self.more.menu()
        menu.clear()
        self.more_form = None
        if rest:
            self.more_form = ParamForm(rest)
            self.more_form.value_changed.connect(self.param_edited)
            action = QWidgetAction(menu)
            action.setDefaultWidget(self.more_form)
            menu.addAction(action)
        self.more.setVisible(bool(rest))

    def editor(self, name: str) -> object:
        """The editor of parameter ``name`` (inline or in the popup), for tests and focus."""
        for form in (self.inline, self.more_form):
            if form is not None and name in form.editors:
                return form.editors[name]
        raise KeyError(name)
