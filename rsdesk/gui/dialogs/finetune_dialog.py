"""Classifier ▸ Fine-Tune From Folder…: choose the images, what to train on (a defense's outputs, FGSM
adversarial examples, both, or neither), how much of the network moves, then watch each epoch's training
loss and validation top-1 (clean and through the defense) fill in; at the end, use the result as the
window's classifier.

The dialog is modeless and kept by the window: closing it leaves a run going (reopen it to watch), and it
never computes anything itself — the :class:`FineTuner` task runs the core on a worker. The starting model
is the window's (its settings' classifier and weights), shown but not chosen here, so what is fine-tuned is
always what the window shows; "Use as classifier" goes through the settings, so the pipeline reloads the
model and the Settings dialog names the new weights file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from rsdesk.core.defenses import DEFENSES
from rsdesk.core.models import classifier_spec
from rsdesk.core.params import resolve_params
from rsdesk.core.training.finetune import (
    ADVERSARIAL_ATTACKS,
    DEFAULT_EPS,
    DEFAULT_LR,
    EpochReport,
    FinetuneConfig,
    FinetuneResult,
)
from rsdesk.gui.dialogs import files
from rsdesk.gui.models.settings import Settings
from rsdesk.gui.tasks.finetuning import ALREADY_RUNNING, FineTuner, default_output, result_summary
from rsdesk.gui.widgets.epoch_plot import INK, EpochPlot

TRAIN_TEXTS = {"bn": "BatchNorm layers (bn)", "head": "last layer (head)", "all": "every weight (all)"}
SpinBox = TypeVar("SpinBox", QSpinBox, QDoubleSpinBox)
TARGET_TEXTS = {"model": "the model's own predictions", "labels": "true labels (labels.csv, synsets)"}


def _combo(items: dict[str, str]) -> QComboBox:
    box = QComboBox()
    for key, text in items.items():
        box.addItem(text, key)
    return box


def _spin(box: SpinBox, lo: float, hi: float, value: float) -> SpinBox:
    box.setRange(lo, hi)
    box.setValue(value)
    return box


class FinetuneDialog(QDialog):
    """The fine-tune form, its live plot and progress; ``use_classifier(name, weights path)`` on request."""

    use_classifier = Signal(str, object)

    def __init__(
        self, finetuner: FineTuner, settings: Callable[[], Settings], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-Tune the Classifier")
        self.finetuner, self._settings = finetuner, settings
        self.current = settings()
        self.result: FinetuneResult | None = None
        self._skipped: list[str] = []
        self._title: str | None = None  # the running (or last) run's transform title
        self._started: tuple = ()  # the running (or last) run, as _run_of gives it
        self._seeded = False  # the transform was set to the window's defense
        self._resumable: tuple | None = None  # the cancelled run a start would resume (see _run_of)
        self._build()
        finetuner.started.connect(lambda: self._set_running(True))
        finetuner.progress.connect(self._on_progress)
        finetuner.epoch.connect(self._on_epoch)
        finetuner.skipped.connect(self._skipped.append)
        finetuner.finished.connect(self._on_finished)
        finetuner.failed.connect(self._on_failed)
        finetuner.cancelled.connect(self._on_cancelled)
        self.refresh()
        self.setMinimumWidth(640)
        self.resize(820, 640)

    # ----- the form -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.form = QWidget()
        grid = QGridLayout(self.form)
        grid.setContentsMargins(0, 0, 0, 0)
        self.start_from = QLabel()
        self.start_from.setTextFormat(Qt.TextFormat.PlainText)
        self.start_from.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_from.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long names
        self.folders = QListWidget()
        self.folders.setFixedHeight(64)
        add, remove = QPushButton("Add Folder…"), QPushButton("Remove")
        add.clicked.connect(self._ask_folder)
        remove.clicked.connect(lambda: (self.folders.takeItem(self.folders.currentRow()), self._revalidate()))
        self.out = QLineEdit()
        self.out.setToolTip("The fine-tuned state dict; its metadata (.json) and checkpoint go beside it")
        self.out.textEdited.connect(self._revalidate)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._ask_output)
        self.transform = QComboBox()
        self.transform.addItem("none (the clean images)", "")
        for name, cls in DEFENSES.items():
            if not cls.identity:
                self.transform.addItem(cls.title, name)
        self.transform_info = QLabel()
        self.transform_info.setStyleSheet("color: #555;")
        self.fgsm = QCheckBox("FGSM adversarial examples, ε")
        self.eps = _spin(QDoubleSpinBox(), 0.5, 255.0, DEFAULT_EPS)
        self.eps.setDecimals(1)
        self.eps.setSuffix(" /255")
        self.train, self.targets = _combo(TRAIN_TEXTS), _combo(TARGET_TEXTS)
        self.epochs, self.batch = _spin(QSpinBox(), 1, 1000, 3), _spin(QSpinBox(), 1, 4096, 8)
        self.lr = QLineEdit()
        self.lr.setToolTip("Adam's learning rate; empty: the mode's default")
        folder_buttons = QWidget()
        column = QVBoxLayout(folder_buttons)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(add)
        column.addWidget(remove)
        rows: list[tuple[str, QWidget, str, QWidget | None]] = [
            ("Start from", self.start_from, "", None),
            ("Images in", self.folders, "", folder_buttons),
            ("Save as", self.out, "", browse),
            ("Train on", self.transform, "", self.transform_info),
            ("Adversarial", self.fgsm, "", self.eps),
            ("Train", self.train, "Epochs", self.epochs),
            ("Targets", self.targets, "Batch", self.batch),
            ("Learning rate", self.lr, "", None),
        ]
        for r, (label, field, label2, field2) in enumerate(rows):
            grid.addWidget(QLabel(label), r, 0)
            grid.addWidget(field, r, 1, 1, 1 if field2 is not None else 3)
            if label2:
                grid.addWidget(QLabel(label2), r, 2, Qt.AlignmentFlag.AlignRight)
            if field2 is not None:
                grid.addWidget(field2, r, 3 if label2 else 2, 1, 1 if label2 else 2)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(3, 1)
        for w in (self.transform, self.train, self.targets):
            w.currentIndexChanged.connect(self._revalidate)
        self.fgsm.toggled.connect(self._revalidate)
        for box in (self.eps, self.epochs, self.batch):
            box.valueChanged.connect(self._revalidate)
        self.lr.textChanged.connect(self._revalidate)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b71c1c;")
        self.plot = EpochPlot()
        self.plot.setMinimumHeight(200)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.hide()  # until the first run
        self.status = QLabel("")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_button = QPushButton("Use as classifier")
        self.use_button.setToolTip(
            "Make the fine-tuned weights the window's classifier (saved in the settings)"
        )
        self.use_button.clicked.connect(self._use)
        self.start_button, self.cancel_button = QPushButton("Start"), QPushButton("Cancel")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._cancel)
        close = QPushButton("Close")
        close.setToolTip("Hide this window; a running fine-tune goes on")
        close.clicked.connect(self.hide)
        buttons = QHBoxLayout()
        for w in (self.use_button, None, self.start_button, self.cancel_button, close):
            buttons.addStretch(1) if w is None else buttons.addWidget(w)
        progress = QHBoxLayout()
        progress.addWidget(self.bar, 1)
        progress.addWidget(self.status, 2)
        lay = QVBoxLayout(self)
        for item in (self.form, self.problem, self.plot, progress, self.summary, buttons):
            lay.addLayout(item) if isinstance(item, QHBoxLayout) else lay.addWidget(item)
        lay.setStretchFactor(self.plot, 1)
        self.use_button.setEnabled(False)
        self.cancel_button.setEnabled(False)

    def _ask_folder(self) -> None:
        folder = files.ask_folder(self, "Fine-tune on the images in")
        if folder:
            self.add_folder(folder)

    def _ask_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the fine-tuned model as", self.out.text(), "*.pth")
        if path:
            self.out.setText(path)
            self._revalidate()

    def add_folder(self, folder: Path) -> None:
        if str(folder) not in self.folder_list():
            self.folders.addItem(str(folder))
        self._revalidate()

    def folder_list(self) -> list[str]:
        return [self.folders.item(i).text() for i in range(self.folders.count())]

    def refresh(self) -> None:
        """Re-read the window's settings (the starting model, the defense's values) unless a run is on."""
        if self.finetuner.is_running():
            return
        self.current = s = self._settings()
        spec = classifier_spec(s.classifier)
        weights = Path(s.weights).name if s.weights else "its packaged weights"
        self.start_from.setText(f"{spec.title} — {weights} (the window's classifier)")
        self.start_from.setToolTip(f"{s.weights or spec.title}\nchange it in Edit ▸ Settings… ▸ Classifier")
        if not self._seeded:  # the window's defense, the first time
            self._seeded = True
            self.transform.setCurrentIndex(max(0, self.transform.findData(s.defense)))
        self._revalidate()

    # ----- values ---------------------------------------------------------------------------------
    def config(self) -> FinetuneConfig:
        """The fine-tune the form describes (ValueError naming a value that is not even a number)."""
        s, name = self.current, self.transform.currentData() or None
        params, file = {}, None
        if name is not None:
            params = replace(s, defense=name).defense_params()  # the window's values where it keeps some
            file = (s.dictionary_path or None) if DEFENSES[name].needs_dictionary else None
        lr = self.lr.text().strip()
        try:
            rate = float(lr) if lr else None
        except ValueError:
            raise ValueError(f"learning rate {lr!r} is not a number") from None
        return FinetuneConfig(
            classifier=s.classifier, weights=s.weights or None, transform=name, transform_params=params,
            transform_file=file, adversarial=ADVERSARIAL_ATTACKS[0] if self.fgsm.isChecked() else None,
            eps=self.eps.value(), train=self.train.currentData(), epochs=self.epochs.value(), lr=rate,
            batch=self.batch.value(), targets=self.targets.currentData(), device=s.device,
        )  # fmt: skip

    def output(self, config: FinetuneConfig) -> Path:
        text = self.out.text().strip()
        return (
            Path(text).expanduser() if text else default_output(config, [Path(f) for f in self.folder_list()])
        )

    def _revalidate(self) -> str:
        self.eps.setEnabled(self.fgsm.isChecked())
        self.lr.setPlaceholderText(f"{DEFAULT_LR[self.train.currentData()]:g} (the default for this mode)")
        problem = ""
        try:
            config = self.config()
            config.validate()
        except ValueError as exc:
            problem, config = str(exc), None
        title = None
        if config is not None and config.transform:
            cls, title = DEFENSES[config.transform], DEFENSES[config.transform].title
            text = cls.summary(resolve_params(cls.PARAMS, config.transform_params, title))
            self.transform_info.setText("with " + (text.removeprefix(title).strip(" ()") or "its defaults"))
        else:
            self.transform_info.setText("")
        if config is not None and not self.finetuner.is_running() and not self.plot.reports:
            self.plot.set_epochs(config.epochs, title)  # the empty plot shows what the run will draw
        if config is not None:
            self.out.setPlaceholderText(str(self.output(config)))
        if not problem and not self.folders.count():
            problem = "add a folder of images to fine-tune on"
        resumes = config is not None and self._run_of(config) == self._resumable
        self.start_button.setText("Resume" if resumes else "Start")
        self.problem.setText(f"⚠ {problem}" if problem else "")
        self.problem.setVisible(bool(problem))
        self.start_button.setEnabled(not problem and not self.finetuner.is_running())
        return problem

    def _run_of(self, config: FinetuneConfig) -> tuple:
        return repr(config), str(self.output(config)), tuple(self.folder_list())

    # ----- running --------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start (or resume) the fine-tune the form describes; False when refused (the reason is shown)."""
        self.refresh()
        if self._revalidate() or self.finetuner.is_running():
            return False
        config = self.config()
        out = self.output(config)
        self.result, self._skipped, self._started = None, [], self._run_of(config)
        self._title = DEFENSES[config.transform].title if config.transform else None
        self.use_button.setEnabled(False)
        self.start_button.setDefault(True)
        self.summary.setText("")
        self.plot.set_epochs(config.epochs, self._title)
        return self.finetuner.start([Path(f) for f in self.folder_list()], config, out)

    def _set_running(self, running: bool) -> None:
        self.form.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.bar.setValue(0)
            self.bar.show()
            self.status.setText("starting…")
        self._revalidate()

    def _on_progress(self, fraction: float, text: str) -> None:
        self.bar.setValue(round(fraction * 1000))
        self.status.setText(text)

    def _on_epoch(self, report: EpochReport) -> None:
        self.plot.add(report)  # epoch 1 starts the plot over; a resumed run's first epoch continues it

    def _cancel(self) -> None:
        self.finetuner.cancel()
        self.cancel_button.setEnabled(False)
        self.status.setText("cancelling after this batch…")

    def _ended(self, text: str, colour: str = INK) -> None:
        self._set_running(False)
        left = f" ({len(self._skipped)} images left out)" if self._skipped else ""
        self.summary.setText(text + left)
        self.summary.setToolTip("\n".join(self._skipped))
        self.summary.setStyleSheet(f"color: {colour};")

    def _on_finished(self, result: FinetuneResult) -> None:
        self.result = result
        self.plot.set_reports(result.reports)
        self.bar.setValue(1000)
        self.status.setText("already done" if result.already_done else "done")
        resumed = f"Resumed after epoch {result.resumed_from}. " if result.resumed_from else ""
        self._ended(("" if result.already_done else resumed) + result_summary(result, self._title))
        self.use_button.setEnabled(True)
        self.use_button.setDefault(True)  # what comes next, usually
        self._resumable = None
        self._revalidate()

    def _on_failed(self, message: str, _details: str) -> None:
        if message == ALREADY_RUNNING:  # a refused second start: the run goes on
            self.status.setText("a fine-tune is already running")
            return
        self._ended(f"Failed: {message}", "#b71c1c")

    def _on_cancelled(self, message: str) -> None:
        self.status.setText("cancelled")
        self._resumable = self._started if "resume" in message else None  # the message says if it can
        self._ended(f"Cancelled — {message}.")

    def _use(self) -> None:
        if self.result is not None:
            name = str(self.result.metadata.get("classifier", {}).get("name") or self.current.classifier)
            self.use_classifier.emit(name, self.result.out)
            self.use_button.setEnabled(False)
            self.summary.setText(f"{self.summary.text()} Now the window's classifier.")
            self.refresh()


class _Session(Protocol):
    """What the dialog needs of the window's session (no import: dialogs and the session are siblings)."""

    finetuner: FineTuner

    def current_settings(self) -> Settings: ...

    def use_classifier_weights(self, classifier: str, weights: Path) -> None: ...


def show_finetune(parent: QWidget, session: _Session) -> FinetuneDialog:
    """Show the window's one fine-tune dialog (made on first use), its starting model brought up to date."""
    dlg = parent.findChild(FinetuneDialog)
    if dlg is None:
        dlg = FinetuneDialog(session.finetuner, session.current_settings, parent)
        dlg.use_classifier.connect(session.use_classifier_weights)
    dlg.refresh()
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg
