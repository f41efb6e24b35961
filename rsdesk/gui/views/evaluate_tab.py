"""The Evaluate tab: choose and run an evaluation (or open a finished run directory), watch its curves, table
and checks fill in, and click a cell or a point to see the images behind it in the gallery.

Bound to :class:`EvaluationRunner` (the sweep as a child process, the run directory followed) and its
:class:`EvaluationResults` (plan, rows, the core's summary); nothing here computes an accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rsdesk.gui.models.evaluation import (
    OUTCOMES,
    Cell,
    CellTableModel,
    ChecksModel,
    cell_title,
    images_behind,
)
from rsdesk.gui.models.evaluation_cells import run_dictionary_text, skipped_text
from rsdesk.gui.models.evaluation_plan import RunContext, build_plan
from rsdesk.gui.models.headline import HeadlineModel
from rsdesk.gui.models.settings import data_dir
from rsdesk.gui.tasks.evaluation import EvaluationRunner
from rsdesk.gui.views.evaluate_notes import RunNotes
from rsdesk.gui.views.evaluate_setup import AskFolder, EvaluateSetup
from rsdesk.gui.widgets.accuracy_plots import AccuracyPlots

NO_RUN = (
    "No run yet: choose what to run and press <b>▶ Run</b> (the <i>Demo</i> plan takes a minute), or "
    "<b>Open…</b> a run directory (also File ▸ Open Evaluation…, or drop it on the window)."
)


@dataclass(frozen=True)
class CellImages:
    """The images behind one clicked cell: which cell, which outcome, their ids and files, a caption."""

    cell: Cell
    outcome: str
    ids: tuple[str, ...]
    paths: tuple[Path, ...]
    title: str


class EvaluateTab(QWidget):
    """Form and buttons on the left, curves in the middle, table and checks on the right."""

    images_requested = Signal(object)  # CellImages
    message = Signal(str, str, str)  # kind, text, details

    def __init__(
        self,
        runner: EvaluationRunner,
        context: Callable[[], RunContext],
        ask_folder: AskFolder,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.results = runner.results
        self._context = context
        self._ask_folder = ask_folder
        self.setup = EvaluateSetup(ask_folder)
        self.run_button = QPushButton("▶ Run")
        self.run_button.setToolTip("Run the evaluation in the background; on a cancelled run it resumes")
        self.cancel_button = QPushButton("■ Cancel")
        self.cancel_button.setToolTip("Stop the run; its finished results stay and Run resumes it")
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a finished (or running) run directory")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Figures (PNG), the table (Markdown and CSV) of the run shown")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(12)
        self.progress_label = QLabel("No run yet")
        self.setup_button = QToolButton()
        self.setup_button.setText("Setup")
        self.setup_button.setCheckable(True)
        self.setup_button.setChecked(True)
        self.setup_button.setToolTip("Show or hide what to run (hidden while browsing an opened run)")
        self.open_action = QAction("Open &Evaluation…", self)
        self.open_action.setToolTip("Open an evaluation run directory on the Evaluate tab")
        self.experiment = QComboBox()
        self.experiment.setToolTip("Which experiment of the run the curves and the table show")
        self.experiment.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.plots = AccuracyPlots()
        self.plots.setMinimumWidth(260)
        self.run_label = QLabel()
        self.run_label.setWordWrap(True)
        self.run_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.notes = RunNotes()  # another dictionary than the window's, adversarials not kept
        self.table_model = CellTableModel(self.results, self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip(
            "Accuracy % (95 % interval) per defense and attack; click a cell for its images"
        )
        self.headline_model = HeadlineModel(self.results, self)
        self.headline = QTableView()
        self.headline.setModel(self.headline_model)
        self.headline.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.headline.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.headline.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.headline.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        self.headline_label = QLabel(
            "<b>Robust accuracy</b>: worst case per image over every attack run, clean beside "
            "(† no defense-aware attack at that budget: an upper bound)"
        )
        self.headline_label.setWordWrap(True)
        self.checks_model = ChecksModel(self.results, self)
        self.checks = QListView()
        self.checks.setModel(self.checks_model)
        self.checks.setWordWrap(True)
        self.checks.setAlternatingRowColors(True)
        self.checks_label = QLabel("Checks")
        self.outcome = QComboBox()
        for key, text in OUTCOMES:
            self.outcome.addItem(text, key)
        self.outcome.setToolTip("Which images of a clicked cell the gallery shows")
        self._sized = False
        self._build()
        self._connect()
        self._show_summary()

    def _build(self) -> None:
        self.form = QScrollArea()
        self.form.setWidgetResizable(True)
        self.form.setWidget(self.setup)
        self.form.setFrameShape(QScrollArea.Shape.NoFrame)
        self.form.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.form.setMinimumWidth(self.setup.minimumSizeHint().width() + 16)
        top_row = QHBoxLayout()
        top_row.addWidget(self.setup_button)
        for b in (self.run_button, self.cancel_button, self.open_button, self.export_button):
            top_row.addWidget(b)
        top_row.addWidget(self.progress_bar, 1)
        top_row.addWidget(self.progress_label, 2)
        middle = QWidget()
        mid_lay = QVBoxLayout(middle)
        mid_lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.run_label, 1)
        head.addWidget(self.experiment)
        mid_lay.addLayout(head)
        mid_lay.addWidget(self.notes)
        mid_lay.addWidget(self.plots, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_lay = QVBoxLayout(top)
        top_lay.setContentsMargins(0, 0, 0, 0)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Click a cell or point: images where"))
        pick.addWidget(self.outcome, 1)
        top_lay.addWidget(self.headline_label)
        top_lay.addWidget(self.headline)
        top_lay.addLayout(pick)
        top_lay.addWidget(self.table, 1)
        bottom = QWidget()
        bottom_lay = QVBoxLayout(bottom)
        bottom_lay.setContentsMargins(0, 0, 0, 0)
        bottom_lay.addWidget(self.checks_label)
        bottom_lay.addWidget(self.checks, 1)
        right.addWidget(top)
        right.addWidget(bottom)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        split = self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.form, middle, right):
            split.addWidget(w)
        split.setChildrenCollapsible(False)
        for i, stretch in enumerate((0, 3, 2)):
            split.setStretchFactor(i, stretch)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addLayout(top_row)
        lay.addWidget(split, 1)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:  # the first time: the curves get most of the width, the form what it needs
            self._sized = True
            QTimer.singleShot(0, self._initial_sizes)

    def _initial_sizes(self) -> None:
        total = self.splitter.width()
        left = self.form.minimumWidth() if self.form.isVisible() else 0
        right = max(300, min(620, int(0.42 * (total - left))))
        self.splitter.setSizes([left, total - left - right, right])

    def _connect(self) -> None:
        self.setup_button.toggled.connect(self._show_form)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.open_button.clicked.connect(self.ask_open)
        self.open_action.triggered.connect(self.ask_open)
        self.export_button.clicked.connect(self.ask_export)
        self.runner.state_changed.connect(self._sync)
        self.runner.progress.connect(self._on_progress)
        self.results.summary_changed.connect(self._show_summary)
        self.results.run_changed.connect(self._show_summary)
        self.table.clicked.connect(self._table_clicked)
        self.plots.point_clicked.connect(self.show_cell)
        self.experiment.currentIndexChanged.connect(self._experiment_chosen)

    def is_settled(self) -> bool:
        """Nothing running or being read, and every curve drawn (screenshots and tests wait for this)."""
        return not self.runner.is_running() and not self.runner.is_loading() and self.plots.is_ready()

    # ----- commands ---------------------------------------------------------------------------------
    def run(self) -> bool:
        """Start (or resume) the evaluation the form describes; a problem is a message, not a dialog."""
        ctx = self._context()
        try:
            plan = build_plan(self.setup.choice(ctx.dictionary), ctx.precision)
            inputs = self.setup.inputs(ctx.selected)
            out = self.setup.out_dir()
        except ValueError as exc:  # PlanError too
            self.message.emit("warning", f"Evaluation not started: {exc}", "")
            return False
        return self.runner.start(inputs, plan, out, ctx.classifier, ctx.weights, ctx.device)

    def open_run(self, run_dir: Path) -> bool:
        """Show a run directory's curves, table and checks (nothing is run); Run would resume it."""
        if not self.runner.open(Path(run_dir)):
            return False
        self.setup.run_dir.setText(str(run_dir))
        self.setup_button.setChecked(False)  # browsing: the curves and the table get the room
        return True

    def _show_form(self, on: bool) -> None:
        self.form.setVisible(on)
        if self._sized:
            QTimer.singleShot(0, self._initial_sizes)

    def ask_open(self) -> None:
        folder = self._ask_folder(self, "Open an evaluation run directory", data_dir() / "evaluations")
        if folder:
            self.open_run(folder)

    def ask_export(self) -> None:
        folder = self._ask_folder(self, "Export the evaluation into", data_dir() / "exports")
        if folder:
            self.runner.export(folder)

    def show_cell(self, cell: Cell) -> CellImages | None:
        """Ask for the images behind ``cell`` with the chosen outcome (the window filters the gallery)."""
        summary = self.results.summary
        if summary is None:
            return None
        outcome = str(self.outcome.currentData())
        ids = images_behind(summary, self.results.rows(), cell, outcome)
        what = self.outcome.currentText()
        request = CellImages(
            cell,
            outcome,
            tuple(ids),
            tuple(self.results.image_paths(ids)),
            f"{len(ids)} image{'' if len(ids) == 1 else 's'} where {what}: {cell_title(summary, cell)}",
        )
        index = self.table_model.index_of(cell)
        if index.isValid() and index != self.table.currentIndex():
            self.table.setCurrentIndex(index)
        self.images_requested.emit(request)
        return request

    # ----- showing ----------------------------------------------------------------------------------
    def _table_clicked(self, index: QModelIndex) -> None:
        cell = self.table_model.cell_at(index)
        if cell is not None:
            self.show_cell(cell)

    def _sync_experiments(self, summary: dict | None) -> None:
        """One entry per experiment (a run of several shows the first, so each plot stays readable)."""
        items = [(e.get("title") or e["name"], e["name"]) for e in (summary or {}).get("experiments", [])]
        if len(items) > 1:
            items.append(("All experiments", ""))
        have = [
            (self.experiment.itemText(i), self.experiment.itemData(i)) for i in range(self.experiment.count())
        ]
        if items != have:
            current = self.experiment.currentData()
            self.experiment.blockSignals(True)
            self.experiment.clear()
            for text, name in items:
                self.experiment.addItem(text, name)
            at = self.experiment.findData(current) if current is not None else -1
            self.experiment.setCurrentIndex(max(0, at))
            self.experiment.blockSignals(False)
        self.experiment.setVisible(len(items) > 1)
        self._experiment_chosen()

    def _experiment_chosen(self) -> None:
        name = self.experiment.currentData() or None
        self.plots.set_experiment(name)
        self.table_model.set_experiment(name)

    def _show_headline(self) -> None:
        """The headline table only where the summary has one; its explanation as the tooltip."""
        shown = self.headline_model.rowCount() > 0
        self.headline.setVisible(shown)
        self.headline_label.setVisible(shown)
        what = self.headline_model.what()
        self.headline.setToolTip(what + "\n† no defense-aware attack at that budget: an upper bound")
        self.headline_label.setToolTip(what)
        if shown:  # tall enough for every defense, no taller: the accuracy table keeps the room
            rows = sum(self.headline.rowHeight(r) for r in range(self.headline_model.rowCount()))
            frame = 2 * self.headline.frameWidth() + self.headline.horizontalHeader().height()
            self.headline.setMaximumHeight(rows + frame + 2)

    def _show_summary(self) -> None:
        summary = self.results.summary
        self._show_headline()
        self._sync_experiments(summary)
        self.plots.set_summary(summary)
        run_dir = self.results.run_dir
        if summary is None:
            self.run_label.setText(f"<b>{run_dir.name}</b>: reading…" if run_dir else NO_RUN)
        else:
            name = run_dir.name if run_dir else ""
            counted = f"{summary['n_counted']} of {summary['n_images']} images counted"
            used = run_dictionary_text(self.results.run_json or {})
            used = f" · {used}" if used else ""
            skipped = list((self.results.run_json or {}).get("skipped") or [])
            if skipped:
                counted += f" · {skipped_text(skipped)}"
            self.run_label.setText(f"<b>{name}</b> · {summary['classifier']} · {counted}{used}")
            self.run_label.setToolTip("\n".join([str(run_dir), summary["protocol_text"], *skipped]))
        self._sync()

    def _on_progress(self, fraction: float, text: str) -> None:
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(int(1000 * fraction))
        self.progress_label.setText(text)

    def _sync(self) -> None:
        running = self.runner.is_running()
        failed = self.checks_model.failed()
        so_far = " so far (the run is still going)" if running else ""
        self.checks_label.setText(f"<b>Checks</b>{so_far}" + (f": ✖ {failed} FAILED" if failed else ""))
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(self.results.summary is not None and not self.runner.is_loading())
        if running and self.results.summary is None:
            self.progress_bar.setRange(0, 0)  # busy: the process is starting, nothing to count yet
            self.progress_label.setText("Starting the evaluation process…")
        self.refresh_notes()

    def refresh_notes(self) -> None:
        """The notes on the run shown (its dictionary against the window's, adversarials not kept)."""
        idle = not self.runner.is_running() and not self.runner.is_loading()
        self.notes.refresh(self.results, idle, self._context().dictionary)
