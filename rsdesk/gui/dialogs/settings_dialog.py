"""The Settings dialog: a page list beside stacked form pages, edited on a copy, validated inline.

Every numeric editor is built from the core's ``Param`` spec of the parameter its field holds (a method's
parameter, a shared attack default, a training parameter: :func:`~rsdesk.gui.models.settings.field_spec`),
so its range, label and tooltip are the core's and most values cannot go wrong; what can (files, CW c typed
as text, K against the chosen dictionary's atoms) is checked on every edit, and OK refuses to close while
anything is invalid — the message names the field and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from rsdesk.core.params import Param
from rsdesk.gui.models.settings import (
    CORE_FIELDS,
    METHOD_FIELDS,
    SHARED_ATTACK_FIELDS,
    TRAINING_FIELDS,
    Settings,
    data_dir,
    field_label,
    field_spec,
    shared_attack_targets,
)
from rsdesk.gui.widgets.param_widgets import ParamEditor

_INVALID_STYLE = "border: 2px solid #c62828;"


@dataclass
class _Binding:
    widget: QWidget
    get: Callable[[], object]
    set: Callable[[object], None]
    page: int


def _typed(spec: Param) -> bool:
    """A float spanning six decades or more (CW's c: 1e-6…1e6) is typed ("1e-3"), not spun."""
    return not spec.integer and spec.minimum > 0 and spec.maximum >= 1e6 * spec.minimum


def _method_fields(kind: str) -> dict[str, list[str]]:
    """The settings fields of each method of ``kind`` that has any (the schema's table, in its order)."""
    out: dict[str, list[str]] = {}
    for name, (k, method, _param) in METHOD_FIELDS.items():
        if k == kind:
            out.setdefault(method, []).append(name)
    return out


def _combo(items: list[tuple[str, str]]) -> QComboBox:
    w = QComboBox()
    for text, key in items:
        w.addItem(text, key)
    return w


class SettingsDialog(QDialog):
    """Edit a copy of :class:`Settings`; :meth:`settings` returns the result after OK."""

    PAGES = ("Defense", "Dictionary training", "Attack defaults", "Classifier")

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("RSDesk Settings")
        self._original = replace(settings)
        self._bindings: dict[str, _Binding] = {}
        self._text_fields: set[str] = set()  # numbers typed as text (see _typed)
        self.pages = QListWidget()
        self.pages.addItems(list(self.PAGES))
        self.pages.setFixedWidth(170)
        self.pages.setSpacing(3)
        self.stack = QStackedWidget()
        for build in (self._defense_page, self._training_page, self._attack_page, self._classifier_page):
            self.stack.addWidget(build(self.stack.count()))
        self.pages.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setStyleSheet("color: #b71c1c;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.clicked.connect(self._on_button)
        body = QHBoxLayout()
        body.addWidget(self.pages)
        body.addWidget(self.stack, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._write(self._original)
        self._describe_dictionary(self._original.dictionary_path)
        self.pages.setCurrentRow(0)
        self.resize(640, 420)
        self._revalidate()

    # ----- pages ---------------------------------------------------------------------------------
    def _bind(
        self, form: QFormLayout, name: str, widget: QWidget, page: int, row: QWidget | None = None
    ) -> None:
        if isinstance(widget, QComboBox):
            get = widget.currentData

            def put(v: object, w: QComboBox = widget) -> None:
                i = w.findData(v)
                if i < 0:  # a value the list does not offer: show it so validation can name it
                    w.addItem(str(v), v)
                    i = w.count() - 1
                w.setCurrentIndex(i)

            widget.currentIndexChanged.connect(self._revalidate)
        else:
            assert isinstance(widget, QLineEdit)
            get = widget.text

            def put(v: object, w: QLineEdit = widget) -> None:
                w.setText(f"{v:g}" if isinstance(v, float) else str(v))

            widget.textChanged.connect(self._revalidate)
        self._bindings[name] = _Binding(widget, get, put, page)  # type: ignore[arg-type]
        form.addRow(field_label(name), row or widget)

    def _bind_spec(self, form: QFormLayout, name: str, page: int) -> None:
        """A field holding a core parameter: an editor built from its spec (range, tooltip), or a text box
        for a float whose span no spin box shows well."""
        spec = field_spec(name)
        assert spec is not None, name
        if _typed(spec):
            edit = QLineEdit()
            edit.setToolTip(spec.help or spec.label)
            self._text_fields.add(name)
            return self._bind(form, name, edit, page)
        editor = ParamEditor(spec)
        editor.value_changed.connect(lambda _name, _value: self._revalidate())
        self._bindings[name] = _Binding(editor.box, editor.value, editor.set_value, page)
        if name in SHARED_ATTACK_FIELDS:  # say which attacks a shared default reaches (ε: the L∞ ones)
            from rsdesk.core.attacks import ATTACKS

            reach = ", ".join(ATTACKS[a].short_title for a in shared_attack_targets(name))
            editor.setToolTip(f"{editor.toolTip()}; the default for {reach}")
        label = QLabel(field_label(name))
        label.setToolTip(editor.toolTip())
        form.addRow(label, editor)

    def _bind_methods(self, form: QFormLayout, kind: str, page: int) -> None:
        """The fields the schema holds for single methods of ``kind``, under each method's title."""
        from rsdesk.core.attacks import ATTACKS
        from rsdesk.core.defenses import DEFENSES

        titles = {"attack": ATTACKS, "defense": DEFENSES}[kind]
        for method, names in _method_fields(kind).items():
            form.addRow(QLabel(f"<b>{titles[method].title}</b>"))
            for name in names:
                self._bind_spec(form, name, page)

    def _file_row(self, edit: QLineEdit, title: str, pattern: str) -> QWidget:
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(edit, title, pattern))
        lay.addWidget(browse)
        return row

    def _browse(self, edit: QLineEdit, title: str, pattern: str) -> None:
        start = edit.text() or str(data_dir() / "dictionaries")
        path, _ = QFileDialog.getOpenFileName(self, title, start, pattern)
        if path:
            edit.setText(path)

    def _defense_page(self, page: int) -> QWidget:
        from rsdesk.core.defenses import DEFENSES

        w = QWidget()
        form = QFormLayout(w)
        self._bind(form, "defense", _combo([(c.title, k) for k, c in DEFENSES.items()]), page)
        self._bind_methods(form, "defense", page)
        edit = QLineEdit()
        edit.setPlaceholderText("bundled default dictionary")
        edit.setClearButtonEnabled(True)
        row = self._file_row(edit, "Choose a dictionary", "RegionSparse dictionaries (*.npz);;All files (*)")
        self._bind(form, "dictionary_path", edit, page, row)
        self.dictionary_info = QLabel()
        self.dictionary_info.setStyleSheet("color: palette(mid);")
        form.addRow("", self.dictionary_info)
        edit.textChanged.connect(self._describe_dictionary)
        return w

    def _describe_dictionary(self, text: str) -> None:
        from rsdesk.core.errors import DictionaryError
        from rsdesk.core.sparse.dictionary_file import load_dictionary

        try:
            d = load_dictionary(replace(self._original, dictionary_path=text.strip()).dictionary_file())
        except DictionaryError:
            self.dictionary_info.clear()
            return
        self.dictionary_info.setText(d.describe())

    def _training_page(self, page: int) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        form.addRow(QLabel("Used by Dictionary ▸ Train From Folder…"))
        for name in TRAINING_FIELDS:
            self._bind_spec(form, name, page)
        return w

    def _attack_page(self, page: int) -> QWidget:
        from rsdesk.core.attacks import ATTACKS

        w = QWidget()
        form = QFormLayout(w)
        self._bind(form, "attack", _combo([(c.title, k) for k, c in ATTACKS.items()]), page)
        for name in (*SHARED_ATTACK_FIELDS, *CORE_FIELDS):
            self._bind_spec(form, name, page)
        self._bind_methods(form, "attack", page)
        return w

    def _classifier_page(self, page: int) -> QWidget:
        import torch

        from rsdesk.core.models import available_classifiers

        w = QWidget()
        form = QFormLayout(w)
        self._bind(form, "classifier", _combo([(n, n) for n in available_classifiers()]), page)
        edit = QLineEdit()
        edit.setPlaceholderText("from the classifier's pip package")
        edit.setClearButtonEnabled(True)
        row = self._file_row(edit, "Choose weights", "PyTorch state dicts (*.pth *.pt *.bin);;All files (*)")
        self._bind(form, "weights", edit, page, row)
        cuda = torch.cuda.is_available()
        cuda_text = "CUDA" if cuda else "CUDA (not available)"
        device = _combo([("CPU", "cpu"), (cuda_text, "cuda"), ("auto (CUDA when present)", "auto")])
        self._bind(form, "device", device, page)
        return w

    # ----- values ----------------------------------------------------------------------------------
    def _write(self, s: Settings) -> None:
        for name, b in self._bindings.items():
            b.widget.blockSignals(True)
            try:
                b.set(getattr(s, name))
            finally:
                b.widget.blockSignals(False)
        self._describe_dictionary(s.dictionary_path)
        self._revalidate()

    def _read(self) -> Settings:
        values: dict[str, object] = {name: b.get() for name, b in self._bindings.items()}
        for name in self._text_fields:
            text = str(values[name]).strip()
            try:
                values[name] = float(text)
            except ValueError:
                values[name] = text  # validation reports it as "not a number"
        for name in ("dictionary_path", "weights"):
            values[name] = str(values[name]).strip()
        return replace(self._original, **values)  # type: ignore[arg-type]

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) pairs for the values now in the widgets."""
        return self._read().field_problems()

    def _revalidate(self) -> list[tuple[str, str]]:
        problems = self.problems()
        bad = {name for name, _ in problems}
        for name, b in self._bindings.items():
            b.widget.setStyleSheet(_INVALID_STYLE if name in bad else "")
        bad_pages = {self._bindings[n].page for n in bad if n in self._bindings}
        for i, title in enumerate(self.PAGES):
            self.pages.item(i).setText(f"{title}  ⚠" if i in bad_pages else title)
        self.message.setText("\n".join(f"⚠ {msg}" for _, msg in problems))
        self.message.setVisible(bool(problems))
        return problems

    # ----- buttons ---------------------------------------------------------------------------------
    def _on_button(self, button: QAbstractButton) -> None:
        role = self.buttons.buttonRole(button)
        if role == QDialogButtonBox.ButtonRole.ResetRole:
            self._write(Settings())

    def accept(self) -> None:
        problems = self._revalidate()
        if problems:
            first = self._bindings.get(problems[0][0])
            if first is not None:
                self.pages.setCurrentRow(first.page)
                first.widget.setFocus()
            return
        super().accept()

    def settings(self) -> Settings:
        """The edited settings (validated when the dialog was accepted)."""
        return self._read()

    def original(self) -> Settings:
        """A copy of the settings the dialog started from (untouched by editing)."""
        return replace(self._original)
