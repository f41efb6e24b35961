"""The Evaluate tab's form: which images, attacks, strengths, defenses and threat model — or a preset — and
the run directory. It only reads and writes a :class:`PlanChoice`; building and checking the plan is the
model's job (``gui/models/evaluation_plan``), running it the task's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.defenses import DEFENSES
from rsdesk.core.evaluation.builder import parse_strengths
from rsdesk.core.io.assets import resource_path
from rsdesk.gui.models.evaluation_plan import (
    PRESET_CHOICES,
    THREAT_CHOICES,
    TRANSFER_SOURCES,
    PlanChoice,
    build_plan,
    default_run_dir,
    evaluable_defenses,
    input_paths,
    plan_outline,
)

#: presets whose attacks are crafted on the source classifier
SOURCED = ("paper-fig8",)
AskFolder = Callable[[QWidget, str, Path | None], Path | None]


def _checks(names: tuple[str, ...], titles: dict[str, str], checked: tuple[str, ...]) -> dict[str, QCheckBox]:
    boxes = {}
    for name in names:
        box = QCheckBox(titles[name])
        box.setChecked(name in checked)
        boxes[name] = box
    return boxes


def _grid(boxes: dict[str, QCheckBox], columns: int = 2) -> QWidget:
    w = QWidget()
    g = QGridLayout(w)
    g.setContentsMargins(0, 0, 0, 0)
    g.setVerticalSpacing(2)
    for i, box in enumerate(boxes.values()):
        g.addWidget(box, i // columns, i % columns)
    return w


class EvaluateSetup(QWidget):
    """The form. ``choice()`` reads it (ValueError on a bad number); ``inputs()`` the images to run on."""

    def __init__(self, ask_folder: AskFolder, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ask_folder = ask_folder
        start = PlanChoice()
        self.preset = QComboBox()
        self.preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset.setMinimumContentsLength(14)
        for key, text in PRESET_CHOICES:
            self.preset.addItem(text, key)
        self.preset.setToolTip("A preset plan (the paper's grids, or a small demo) or the choices below")
        self.outline = QLabel()
        self.outline.setWordWrap(True)
        self.outline.setEnabled(False)  # a note, greyed
        self.use_folder = QRadioButton("Folder")
        self.use_selection = QRadioButton("Gallery selection")
        self.use_selection.setToolTip(
            "The images selected in the gallery (labels.csv beside them, or synsets)"
        )
        group = QButtonGroup(self)
        group.addButton(self.use_folder)
        group.addButton(self.use_selection)
        self.use_folder.setChecked(True)
        self.folder = QLineEdit(str(resource_path("samples")))  # the bundled samples: a demo runs at once
        self.folder.setPlaceholderText("labelled images (labels.csv or synsets in names)")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the folder of labelled images")
        browse.clicked.connect(self._choose_folder)
        self.attacks = _checks(tuple(ATTACKS), {n: c.short_title for n, c in ATTACKS.items()}, start.attacks)
        for name, box in self.attacks.items():
            if ATTACKS[name].defense_aware:
                box.setToolTip("Crafted through each defense (the defense-aware threat model)")
        self.linf = QLineEdit(", ".join(f"{v:g}" for v in start.linf))
        self.linf.setToolTip("ε of the L∞ attacks, in /255, comma-separated")
        self.d = QLineEdit(", ".join(f"{v:g}" for v in start.d))
        self.d.setToolTip("d = ‖δ‖₂/‖x‖₂ of the L2 attacks (CW-L2), comma-separated")
        self.steps = QSpinBox()
        self.steps.setRange(0, 1000)
        self.steps.setSpecialValueText("default")
        self.steps.setToolTip("Iterations of every iterative attack (default: each attack's own)")
        names = evaluable_defenses()
        self.defenses = _checks(names, {n: DEFENSES[n].short_title for n in names}, start.defenses)
        self.threat = QComboBox()
        self.threat.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.threat.setMinimumContentsLength(14)
        for key, text in THREAT_CHOICES:
            self.threat.addItem(text, key)
        self.source = QComboBox()
        self.source.addItems(TRANSFER_SOURCES)
        self.source.setEditable(True)
        self.source.setToolTip("The classifier transferred attacks are crafted on (Fig. 8's source too)")
        self.all_images = QCheckBox("Count images misclassified when clean too")
        self.run_dir = QLineEdit(str(default_run_dir(start)))
        self.run_dir.setToolTip("Where results go; Run on an existing run directory resumes or extends it")
        choose_dir = QToolButton()
        choose_dir.setText("…")
        choose_dir.clicked.connect(self._choose_run_dir)
        new_dir = QToolButton()
        new_dir.setText("New")
        new_dir.setToolTip("A fresh run directory (the next Run starts from nothing)")
        new_dir.clicked.connect(self.new_run_dir)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(4)
        form.addRow("Plan", self.preset)
        form.addRow("", self.outline)
        images = QHBoxLayout()
        images.addWidget(self.use_folder)
        images.addWidget(self.use_selection)
        images.addStretch(1)
        form.addRow("Images", images)
        form.addRow("", self._row(self.folder, browse))
        form.addRow("Attacks", _grid(self.attacks, 2))
        form.addRow("ε (/255)", self.linf)
        form.addRow("d", self.d)
        form.addRow("Steps", self.steps)
        form.addRow("Defenses", _grid(self.defenses, 2))
        # A run must not depend on what the toolbar happened to show, so it is reproducible from plan.json.
        note = QLabel("Each at its default parameters (not the toolbar's), as in the paper's presets")
        note.setWordWrap(True)
        note.setEnabled(False)  # drawn greyed: a remark, not a control
        form.addRow("", note)
        form.addRow("Threat", self.threat)
        form.addRow("Source", self.source)
        form.addRow("", self.all_images)
        form.addRow("Run dir", self._row(self.run_dir, choose_dir, new_dir))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        self.preset.currentIndexChanged.connect(self._preset_changed)
        self.threat.currentIndexChanged.connect(self._sync)
        self._sync()

    @staticmethod
    def _row(*widgets: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(2)
        for i, w in enumerate(widgets):
            row.addWidget(w, 1 if i == 0 else 0)
        return row

    def _sync(self) -> None:
        """A preset fixes attacks, strengths and defenses: those controls grey out (the source stays)."""
        custom = not self.preset.currentData()
        widgets = [
            *self.attacks.values(),
            *self.defenses.values(),
            self.linf,
            self.d,
            self.steps,
            self.threat,
        ]
        for w in widgets:
            w.setEnabled(custom)
        transfer = self.threat.currentData() == "transfer" if custom else self.preset.currentData() in SOURCED
        self.source.setEnabled(transfer)
        self.outline.setVisible(not custom)
        if not custom:  # what the preset runs, instead of the (greyed) custom choices
            self.outline.setText(plan_outline(build_plan(PlanChoice(preset=str(self.preset.currentData())))))

    def _preset_changed(self) -> None:
        if not Path(self.run_dir.text().strip() or ".").exists():
            self.new_run_dir()  # not started yet: named after the new choice
        self._sync()

    def _choose_folder(self) -> None:
        folder = self._ask_folder(self, "Evaluate the labelled images in", None)
        if folder:
            self.folder.setText(str(folder))
            self.use_folder.setChecked(True)

    def _choose_run_dir(self) -> None:
        folder = self._ask_folder(self, "Run directory (a finished or cancelled one is resumed)", None)
        if folder:
            self.run_dir.setText(str(folder))

    def new_run_dir(self) -> None:
        self.run_dir.setText(str(default_run_dir(self.choice_or_default())))

    def choice_or_default(self) -> PlanChoice:
        try:
            return self.choice()
        except ValueError:
            return PlanChoice(preset=str(self.preset.currentData() or ""))

    def choice(self, dictionary: str | None = None) -> PlanChoice:
        """What the form says (a ValueError names a strength that is not a number)."""
        return PlanChoice(
            preset=str(self.preset.currentData() or ""),
            attacks=tuple(n for n, b in self.attacks.items() if b.isChecked()),
            linf=parse_strengths(self.linf.text(), "ε"),
            d=parse_strengths(self.d.text(), "d"),
            defenses=tuple(n for n, b in self.defenses.items() if b.isChecked()),
            threat=str(self.threat.currentData()),
            source=self.source.currentText().strip() or TRANSFER_SOURCES[0],
            steps=self.steps.value(),
            dictionary=dictionary,
            protocol_all=self.all_images.isChecked(),
        )

    def inputs(self, selected: tuple[Path, ...]) -> list[Path]:
        """The images to evaluate (ValueError when the choice is empty)."""
        text = self.folder.text().strip()
        return input_paths(Path(text) if text else None, selected, self.use_selection.isChecked())

    def out_dir(self) -> Path:
        text = self.run_dir.text().strip()
        if not text:
            raise ValueError("choose a run directory")
        return Path(text).expanduser()
