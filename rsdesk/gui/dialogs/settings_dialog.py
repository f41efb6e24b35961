"""The Settings dialog: a page list beside stacked form pages, edited on a copy, validated inline.

Spin boxes carry the core parameter ranges, so most values cannot go wrong; what can (files, CW c typed
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
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from rsdesk.gui.models.settings import FIELD_LABELS, Settings, data_dir

_INVALID_STYLE = "border: 2px solid #c62828;"


@dataclass
class _Binding:
    widget: QWidget
    get: Callable[[], object]
    set: Callable[[object], None]
    page: int


def _spin(lo: int, hi: int, tip: str = "") -> QSpinBox:
    w = QSpinBox()
    w.setRange(lo, hi)
    w.setToolTip(tip)
    return w


def _dspin(
    lo: float, hi: float, step: float, decimals: int, tip: str = "", suffix: str = ""
) -> QDoubleSpinBox:
    w = QDoubleSpinBox()
    w.setDecimals(decimals)
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setSuffix(suffix)
    w.setToolTip(tip)
    return w


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
        if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
            get, put = widget.value, widget.setValue
            widget.valueChanged.connect(self._revalidate)
        elif isinstance(widget, QComboBox):
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
        form.addRow(FIELD_LABELS[name], row or widget)

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
        from rsdesk.core.defenses import DEFENSES, RegionSparseDefense

        specs = {p.name: p for p in RegionSparseDefense.PARAMS}
        w = QWidget()
        form = QFormLayout(w)
        self._bind(form, "defense", _combo([(c.title, k) for k, c in DEFENSES.items()]), page)
        form.addRow(QLabel("<b>RegionSparse</b>"))
        self._bind(form, "k", _spin(1, 64, specs["k"].help), page)
        self._bind(form, "theta", _dspin(0.0, 1.0, 0.05, 2, specs["theta"].help), page)
        self._bind(form, "stride", _spin(1, 16, specs["stride"].help), page)
        self._bind(form, "bilateral_d", _spin(1, 31, "bilateral filter diameter (px)"), page)
        self._bind(form, "sigma_color", _dspin(0.1, 500.0, 5.0, 1, "in 8-bit units"), page)
        self._bind(form, "sigma_space", _dspin(0.1, 500.0, 5.0, 1, "in pixels"), page)
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
        h = _dspin(0.0, 100.0, 1.0, 1, "non-local-means smoothing before patch sampling (0: none)")
        self._bind(form, "h", h, page)
        self._bind(form, "patch_size", _spin(2, 32, "patches are b×b×3 pixels"), page)
        self._bind(form, "n_atoms", _spin(2, 4096, "dictionary size"), page)
        self._bind(form, "patches_per_image", _spin(1, 10_000_000, "random patches sampled per image"), page)
        return w

    def _attack_page(self, page: int) -> QWidget:
        from rsdesk.core.attacks import ATTACKS

        w = QWidget()
        form = QFormLayout(w)
        self._bind(form, "attack", _combo([(c.title, k) for k, c in ATTACKS.items()]), page)
        self._bind(form, "eps", _dspin(0.0, 255.0, 1.0, 1, "L∞ budget", " /255"), page)
        self._bind(form, "steps", _spin(1, 10000, "iterations of BIM / MI-FGSM / BPDA"), page)
        form.addRow(QLabel("<b>Carlini–Wagner L2</b>"))
        c = QLineEdit()
        c.setToolTip("weight of the misclassification term (e.g. 0.1, 1e-3)")
        self._bind(form, "cw_c", c, page)
        self._bind(form, "cw_steps", _spin(1, 100000, "optimizer steps of CW-L2"), page)
        self._bind(form, "cw_kappa", _dspin(0.0, 1000.0, 0.5, 2, "confidence margin"), page)
        return w

    def _classifier_page(self, page: int) -> QWidget:
        import torch

        from rsdesk.core.models.classifier import available_classifiers

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
        text = str(values["cw_c"]).strip()
        try:
            values["cw_c"] = float(text)
        except ValueError:
            values["cw_c"] = text  # validation reports it as "not a number"
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
