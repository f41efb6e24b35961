"""Shared shape of the attack and defense toolbars: a method picker, its main parameters inline, and the
rest behind a ⚙ button — all generated from the core classes' traits (``short_title``, ``PARAMS``,
``MAIN_PARAMS``), so a method added to the core's registry needs no change here.

User-facing problems (a value out of range) leave through ``message(kind, text, details)``, the shape every
part of the window reports in.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QToolButton, QWidget, QWidgetAction

from rsdesk.gui.widgets.param_widgets import ParamForm


class MethodControls(QWidget):
    """Picker + inline form + ⚙ popup for one kind of method; subclasses bind the signals to the state."""

    method_picked = Signal(str)
    param_edited = Signal(str, object)
    message = Signal(str, str, str)  # kind, text, details

    def __init__(self, title: str, methods: dict[str, type], parent: QWidget | None = None) -> None:
        """``methods``: name → core class (an ``Attack`` or ``Defense`` subclass), in menu order."""
        super().__init__(parent)
        self._methods = methods
        self._method = ""
        self.combo = QComboBox()
        for name, cls in methods.items():
            self.combo.addItem(cls.short_title, name)
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
        cls = self._methods[name]
        first = [s for s in cls.PARAMS if s.name in cls.MAIN_PARAMS]
        rest = [s for s in cls.PARAMS if s.name not in cls.MAIN_PARAMS]
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

    def warn(self, text: str) -> None:
        self.message.emit("warning", text, "")

    def editor(self, name: str) -> object:
        """The editor of parameter ``name`` (inline or in the popup), for tests and focus."""
        for form in (self.inline, self.more_form):
            if form is not None and name in form.editors:
                return form.editors[name]
        raise KeyError(name)
