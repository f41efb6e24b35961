"""A searchable ImageNet class picker for targeted attacks ("untargeted" first, then "281 tabby" …).

An editable combo box whose completer matches anywhere in "index name synset", so typing "tabby", "281"
or "n02123045" all find the class; what typed text means is the core's rule
(:func:`rsdesk.core.io.labels.resolve_class`, which the command line's ``--target`` uses too). Text that names
no class (or several) shows an inline hint and keeps the last valid target: a typo never silently turns a
targeted attack into an untargeted one.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QCompleter, QHBoxLayout, QLabel, QWidget

from rsdesk.core.io.labels import UNTARGETED, imagenet_classes, resolve_class

_TOOLTIP = "Target class of the attack: type a name, number or synset, or pick one from the list"


def entry_text(index: int) -> str:
    """The combo entry of a class: ``281 tabby``."""
    return f"{index} {imagenet_classes().names[index]}"


class ClassPicker(QWidget):
    """Choose the target class of an attack; ``target()`` is an ImageNet index or None (untargeted)."""

    target_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        classes = imagenet_classes()
        self._target: int | None = None
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setMaxVisibleItems(20)
        self.combo.setMinimumContentsLength(18)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        # Rows are implicit (row 0: untargeted, row i + 1: class i) and added in one call: PySide6 6.12.0 on
        # CPython 3.11 loses a reference to None on every void call, so a 3,000-call loop here adds up.
        self.combo.addItems([UNTARGETED] + [entry_text(i) for i in range(len(classes))])
        search = [UNTARGETED] + [f"{entry_text(i)} {s}" for i, s in enumerate(classes.synsets)]
        # The completer sits on the line edit (not QComboBox.setCompleter, whose own activation handler
        # looks the completion up by its text, which here carries the synset too).
        completer = QCompleter(search, self.combo)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        completer.setMaxVisibleItems(15)
        self.combo.lineEdit().setCompleter(completer)
        completer.activated.connect(self._on_completion)
        self.combo.lineEdit().setPlaceholderText("target class: name, number or synset")
        self.combo.setToolTip(_TOOLTIP)
        self.hint = QLabel()
        self.hint.setStyleSheet("color: #b71c1c;")
        self.hint.hide()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.combo, 1)
        lay.addWidget(self.hint)
        self.combo.activated.connect(self._on_activated)
        self.combo.lineEdit().editingFinished.connect(self._commit_text)
        self.combo.lineEdit().textEdited.connect(self._on_edited)
        self.combo.setCurrentIndex(0)

    # ----- public API ----------------------------------------------------------------------------------
    def target(self) -> int | None:
        return self._target

    def set_target(self, index: int | None) -> None:
        """Select a class (None: untargeted); emits ``target_changed`` when the target changes."""
        if index is not None and not 0 <= int(index) < len(imagenet_classes()):
            raise ValueError(f"class index must be within 0…{len(imagenet_classes()) - 1}, got {index}")
        self._apply(None if index is None else int(index))

    # ----- internals -------------------------------------------------------------------------------------
    def _apply(self, index: int | None) -> None:
        row = 0 if index is None else index + 1
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(row)
        self.combo.setEditText(self.combo.itemText(row))
        self.combo.blockSignals(False)
        self._show_hint("")
        if index != self._target:
            self._target = index
            self.target_changed.emit(index)

    def _show_hint(self, text: str) -> None:
        if text:
            keep = UNTARGETED if self._target is None else entry_text(self._target)
            short = text.split(";")[0].split(" (")[0].split(":")[0]
            self.hint.setText(f"⚠ {short} — keeping {keep}")
            self.hint.setToolTip(text)
            self.combo.setToolTip(text)
            self.combo.lineEdit().setStyleSheet("color: #b71c1c;")
        else:
            self.hint.clear()
            self.hint.setToolTip("")
            self.combo.setToolTip(_TOOLTIP)
            self.combo.lineEdit().setStyleSheet("")
        self.hint.setVisible(bool(text))

    def hint_text(self) -> str:
        """The full explanation of why the typed text was not accepted ("" when it was)."""
        return self.hint.toolTip()

    def _on_activated(self, row: int) -> None:
        if row >= 0:
            self._apply(None if row == 0 else row - 1)

    def _commit_text(self, text: str | None = None) -> None:
        ok, index, hint = resolve_class(self.combo.currentText() if text is None else text)
        if ok:
            self._apply(index)
        else:
            self._show_hint(hint)

    def _on_completion(self, text: str) -> None:
        self._commit_text(text)
        # The line edit writes the full completion ("281 tabby n02123045") after this handler has run;
        # show the canonical entry once it has.
        QTimer.singleShot(0, self, self._show_entry)

    def _show_entry(self) -> None:
        ok, index, _ = resolve_class(self.combo.currentText())
        if ok and index == self._target:
            self.combo.setEditText(self.combo.itemText(0 if index is None else index + 1))

    def _on_edited(self, text: str) -> None:
        # Say early when nothing can match, but never switch the target while the user is typing.
        ok, _index, hint = resolve_class(text)
        if ok or " matches " in hint:
            self._show_hint("")
        else:
            self._show_hint(hint)
