"""Shared shape of the attack and defense toolbars: a method picker, its main parameters inline, and the
rest behind a ⚙ button — all generated from the core classes' traits (``short_title``, ``PARAMS``,
``MAIN_PARAMS``), so a method added to the core's registry needs no change here.

A toolbar never overflows or clips: when the row is wider than the room it gets (1366 px, presentation
fonts, CW-L2's three main parameters), controls *fold* into the ⚙ popup one at a time — first what a
subclass marks as spare (Attack Selected), then the main parameters from the last one ``MAIN_PARAMS``
names; the first (the strength: ε, d, K) always stays in the row. Folding hides a control and shows its
twin in the popup, so nothing is rebuilt while the window resizes.

User-facing problems (a value out of range) leave through ``message(kind, text, details)``, the shape every
part of the window reports in.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QSize, QTimer, Signal
from PySide6.QtGui import QAction, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMenu,
    QSizePolicy,
    QToolButton,
    QWidget,
    QWidgetAction,
)

from rsdesk.gui.widgets.param_widgets import ParamEditor, ParamForm

Fold = Callable[[bool], None]


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
        self.overflow: ParamForm | None = None  # twins of the main parameters folded out of the row
        self._overflow_action: QWidgetAction | None = None
        self.more_form: ParamForm | None = None
        self.more = QToolButton()
        self.more.setText("⚙")
        self.more.setToolTip(f"More {title.lower()} parameters")
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.more.setMenu(QMenu(self.more))
        self._spare: list[tuple[QWidget, QAction]] = []  # (button in the row, its entry in ⚙)
        self._min_width = 0
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.timeout.connect(self.fit)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(4, 0, 4, 0)
        self._layout.setSpacing(6)
        # The row's width is decided by fit(), not by the layout's minimum: the toolbar gives us its width.
        self._layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
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
        for form in self.forms():
            form.set_values(values)

    def _rebuild(self, name: str) -> None:
        cls = self._methods[name]
        specs = {s.name: s for s in cls.PARAMS}
        first = [specs[n] for n in cls.MAIN_PARAMS if n in specs]  # in the method's order of importance
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
        self.inline.show()  # now, not when the layout's queued show runs: fit() must measure it
        menu = self.more.menu()
        menu.clear()  # deletes the forms' QWidgetActions and with them the forms
        self.overflow = self.more_form = None
        self._overflow_action = None
        if len(first) > 1:
            self.overflow = ParamForm(first[1:])
            self.overflow.value_changed.connect(self.param_edited)
            for spec in first[1:]:
                self.overflow.set_row_visible(spec.name, False)
            self._overflow_action = self._add_form(menu, self.overflow)
        if rest:
            self.more_form = ParamForm(rest)
            self.more_form.value_changed.connect(self.param_edited)
            self._add_form(menu, self.more_form)
        for _button, entry in self._spare:
            menu.addAction(entry)
        self._apply_folds(0)
        self.fit()
        self._fit_timer.start(0)  # again once the new editors are polished and shown

    @staticmethod
    def _add_form(menu: QMenu, form: ParamForm) -> QWidgetAction:
        action = QWidgetAction(menu)
        action.setDefaultWidget(form)
        menu.addAction(action)
        return action

    def add_spare(self, action: QAction) -> QToolButton:
        """A button for ``action`` in the row that folds into ⚙ first when room is short."""
        button = QToolButton()
        button.setDefaultAction(action)
        entry = QAction(action.text(), self)
        entry.setToolTip(action.toolTip())
        entry.triggered.connect(action.trigger)
        entry.setEnabled(action.isEnabled())
        action.changed.connect(lambda: entry.setEnabled(action.isEnabled()))
        entry.setVisible(False)
        self._spare.append((button, entry))
        self.more.menu().addAction(entry)
        return button

    # ----- folding into ⚙ ---------------------------------------------------------------------------
    def _folds(self) -> list[Fold]:
        """What can leave the row, in the order it leaves: spare buttons, then main parameters from the
        last (never the first)."""
        out: list[Fold] = []
        for button, entry in self._spare:
            out.append(lambda folded, b=button, e=entry: self._fold_spare(b, e, folded))
        names = list(self.inline.editors)[1:] if self.inline is not None else []
        for name in reversed(names):
            out.append(lambda folded, n=name: self._fold_param(n, folded))
        return out

    @staticmethod
    def _fold_spare(button: QWidget, entry: QAction, folded: bool) -> None:
        if entry.isVisible() != folded:
            button.setVisible(not folded)
            entry.setVisible(folded)

    def _fold_param(self, name: str, folded: bool) -> None:
        self.inline.set_row_visible(name, not folded)
        self.overflow.set_row_visible(name, folded)

    def _apply_folds(self, count: int) -> None:
        for i, fold in enumerate(self._folds()):
            fold(i < count)
        if self.overflow is not None:
            self._overflow_action.setVisible(bool(self.overflow.visible_rows()))
        self.more.setVisible(self.more_form is not None or bool(self.folded()))
        self._layout.invalidate()

    def folded(self) -> list[str]:
        """What the ⚙ popup holds for lack of room: action texts and parameter names (for tests)."""
        spare = [entry.text() for _b, entry in self._spare if entry.isVisible()]
        return spare + (self.overflow.visible_rows() if self.overflow is not None else [])

    def fit(self) -> None:
        """Fold as little as the width allows (everything foldable folded sets the row's minimum)."""
        if self.inline is None:
            return
        total = len(self._folds())
        self._apply_folds(total)
        minimum = self._layout.minimumSize().width()
        count = total
        while count > 0:
            self._apply_folds(count - 1)
            if self._layout.minimumSize().width() > self.width():
                self._apply_folds(count)
                break
            count -= 1
        if minimum != self._min_width:
            self._min_width = minimum
            self.updateGeometry()

    def minimumSizeHint(self) -> QSize:
        """The row with everything foldable in ⚙: the toolbar never hides the controls in its » menu."""
        return QSize(self._min_width, self._layout.minimumSize().height())

    def sizeHint(self) -> QSize:
        return QSize(max(self._min_width, super().sizeHint().width()), super().sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.fit()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit_timer.start(0)  # hidden editors measured nothing while the row was hidden

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.more.menu().setFont(self.font())  # a popup is a window: no font reaches it by itself
            self._fit_timer.start(0)  # after the children have the new font

    # ----- editors ----------------------------------------------------------------------------------
    def forms(self) -> list[ParamForm]:
        """Every form of the current method: the row, the folded twins, the ⚙ rest."""
        return [f for f in (self.inline, self.overflow, self.more_form) if f is not None]

    def warn(self, text: str) -> None:
        self.message.emit("warning", text, "")

    def editor(self, name: str) -> ParamEditor:
        """The editor of parameter ``name`` (in the row or in the popup), for tests and focus."""
        return self.editors(name)[0]

    def editors(self, name: str) -> list[ParamEditor]:
        """Every editor of ``name``: a main parameter has a twin in ⚙ for when it folds."""
        found = [f.editors[name] for f in self.forms() if name in f.editors]
        if not found:
            raise KeyError(name)
        return found
