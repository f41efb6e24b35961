"""What the Evaluate tab adds to the rest of the window, kept out of the main window's module: the tab itself
(inserted after Activations), the gallery filtered to the images behind a clicked cell (with a bar that says
which and offers Show all), the selected image's *cached* adversarial on the panels (the pipeline's
``show_cached_adversarial``: the attack is not run again) with the cell's defense on the toolbar so the
purified panel is the cell's, run directories dropped on the window, and room for the tab when chosen.

A cell's image always shows the cell's attack at the cell's strength, or says in one line why it cannot:
where the run did not keep the ``.npy``, the toolbar is set to the cell's attack (the run's parameters) and
crafts it again; where the window cannot (a transferred or rescaled attack, another classifier), the
adversarial panel says why and no other attack runs. The gallery's verdict line of a cell's image is the
panels' own verdict of it, and a cell whose dictionary is not the window's says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QObject, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSplitter, QTabWidget, QToolButton, QWidget

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.evaluation.rundir import is_run_directory
from rsdesk.core.verdicts import verdict_story
from rsdesk.gui.models.configs import summary_key
from rsdesk.gui.models.evaluation import cell_title, identity_defenses, strength_text
from rsdesk.gui.models.evaluation_cells import Recraft, cell_dictionary_note, recraft
from rsdesk.gui.models.evaluation_plan import RunContext, run_context
from rsdesk.gui.models.gallery import GalleryModel
from rsdesk.gui.models.results import Row, Status
from rsdesk.gui.models.settings import Settings
from rsdesk.gui.models.stage_results import CachedAttack
from rsdesk.gui.models.state import AppState
from rsdesk.gui.tasks.evaluation import EvaluationRunner
from rsdesk.gui.tasks.importer import Importer
from rsdesk.gui.tasks.pipeline import Pipeline
from rsdesk.gui.views.evaluate_setup import AskFolder
from rsdesk.gui.views.evaluate_tab import CellImages, EvaluateTab
from rsdesk.gui.views.gallery import GalleryView

#: the share of the window's height the lower tabs get when the Evaluate tab is chosen
EVALUATE_SHARE = 0.55
#: the least height at which the tab's curves and table are of use
EVALUATE_MIN_HEIGHT = 380


class GalleryFilterBar(QFrame):
    """ "Showing 3 images where …" above the gallery, with Show all."""

    cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.text = QLabel()
        self.text.setWordWrap(True)
        show_all = QToolButton()
        show_all.setText("Show all")
        show_all.setToolTip("Show every image of the gallery again")
        show_all.clicked.connect(self.cleared)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addWidget(self.text, 1)
        lay.addWidget(show_all)
        self.hide()

    def show_text(self, text: str) -> None:
        self.text.setText(text)
        self.setToolTip(text)
        self.show()


class EvaluationBridge(QObject):
    """Connects the Evaluate tab to the gallery, the pipeline and the defense toolbar's state.

    ``run``: the session's evaluation runner and its settings (the sweep uses the window's classifier);
    ``parts``: the importer, pipeline and state; ``layout``: the lower tabs and the splitter above them.
    """

    message = Signal(str, str, str)  # kind, text, details
    dictionary_wanted = Signal(object)  # Path: the window is to use this dictionary (the run's)

    def __init__(
        self,
        run: tuple[EvaluationRunner, Callable[[], Settings]],
        gallery: tuple[GalleryModel, GalleryView],
        parts: tuple[Importer, Pipeline, AppState],
        ask_folder: AskFolder,
        layout: tuple[QTabWidget, QSplitter],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        evaluation, self._settings = run
        self.results = evaluation.results
        self.gallery, self.gallery_view = gallery
        self.importer, self.pipeline, self.state = parts
        self.tabs, self.split = layout
        self.tab = EvaluateTab(evaluation, self.run_context, ask_folder)
        self.tabs.insertTab(min(1, self.tabs.count()), self.tab, "Evaluate")
        self.filter_bar = GalleryFilterBar()
        self.shown: CellImages | None = None
        self._told: set[str] = set()  # what was said about the cell shown: once each, not once per image
        self._cell_attacks: set[tuple] = set()  # the keys of the cells' adversarials the panels showed
        self.tab.message.connect(self.message)
        self.tab.images_requested.connect(self.show_images)
        self.filter_bar.cleared.connect(self.clear_filter)
        self.results.run_changed.connect(self.clear_filter)  # another run: its cells no longer apply
        self.state.image_changed.connect(self._image_changed)
        self._importing = False
        self.importer.finished.connect(self._imported)
        self.tabs.currentChanged.connect(self._make_room)
        self.tabs.tabBarClicked.connect(self._make_room)  # clicked again: room again
        self.tab.notes.dictionary_wanted.connect(self.dictionary_wanted)
        self.state.dictionary_changed.connect(self.tab.refresh_notes)
        self.state.attack_changed.connect(self._forget_cells)  # the pipeline drops the cells' adversarials
        self.pipeline.results.dataChanged.connect(self._record_story)

    def run_context(self) -> RunContext:
        return run_context(self.gallery_view.selected_paths(), self._settings(), self.state.dictionary)

    def open_run(self, run_dir: Path) -> bool:
        """Show a run directory on the Evaluate tab (nothing runs)."""
        if not self.tab.open_run(Path(run_dir)):
            return False
        self.tabs.setCurrentWidget(self.tab)
        return True

    def open_dropped(self, paths: Sequence[Path]) -> bool:
        """A dropped folder holding plan.json and results.csv is a run to open; anything else is not ours."""
        return len(paths) == 1 and is_run_directory(paths[0]) and self.open_run(Path(paths[0]))

    # ----- the gallery --------------------------------------------------------------------------------
    def show_images(self, request: CellImages) -> None:
        """Filter the gallery to a cell's images (importing those not there yet) and show the first."""
        self.shown, self._told = request, set()
        self.gallery_view.set_filter(request.paths)
        self.filter_bar.show_text(request.title)
        self._use_defense(request.cell[2])
        window = self.state.dictionary.path
        note = cell_dictionary_note(self.results.run_json or {}, request.cell[2], window)
        if note:
            self._tell("info", note + " (Use the run's dictionary on the Evaluate tab to match it.)")
        present = {p.resolve() for p in self.gallery.paths()}
        missing = [p for p in request.paths if p.resolve() not in present]
        if missing:
            self._importing = True
            self.importer.import_paths(missing, announce=False)
        self._select_first()

    def _imported(self, *_args: object) -> None:
        if self._importing:
            self._importing = False
            self._select_first()

    def clear_filter(self) -> None:
        self.shown = None
        self.gallery_view.set_filter(None)
        self.filter_bar.hide()
        self._forget_cells()

    def _select_first(self) -> None:
        if self.shown is None or not self.shown.paths:
            return
        wanted = {p.resolve() for p in self.shown.paths}
        current = self.state.image
        if current is not None and Path(current).resolve() in wanted:
            return self._image_changed(current)
        for row in range(self.gallery.rowCount()):
            if self.gallery.item(row).path.resolve() in wanted:
                flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
                self.gallery_view.selectionModel().setCurrentIndex(self.gallery.index(row), flags)
                return

    # ----- the panels ---------------------------------------------------------------------------------
    def _use_defense(self, key: str) -> None:
        """The cell's defense with the run's parameters on the toolbar: the purified panel is the cell's."""
        summary, run_json = self.results.summary or {}, self.results.run_json or {}
        entry = run_json.get("plan", {}).get("defenses", {}).get(key)
        if entry is None or key in identity_defenses(summary):
            return
        name = str(entry["defense"])
        try:
            known = self.state.defense_values(name)
            for param, value in (entry.get("params") or {}).items():
                if param in known:
                    self.state.set_defense_param(param, value, name)
            self.state.set_defense(name)
            self.state.set_defense_enabled(True)
        except (KeyError, ValueError) as exc:
            self.message.emit("warning", f"The run's defense settings could not all be applied: {exc}", "")

    def _image_changed(self, path: Path | None) -> None:
        """One of the cell's images became current: the panels show the cell's adversarial of it (the run's
        ``.npy``, else crafted again here, else a line why not)."""
        request = self.shown
        if request is None or path is None or request.cell[1] == 0:
            return  # no cell, or a clean one: the panels run as usual
        image_id = self.results.image_id(Path(path))
        file = None if image_id not in request.ids else self.results.adversarial_file(request.cell, image_id)
        if file is None:
            return  # not one of the cell's images
        self._show_panels()
        if not file.is_file():
            return self._recraft(Path(path), request, "the run did not keep its adversarial images")
        what = strength_text(self.results.summary or {}, request.cell[0], request.cell[1])
        run = self.results.run_dir.name if self.results.run_dir else "?"
        try:
            adversarial = np.load(file, allow_pickle=False).astype(np.float32)
            self.pipeline.show_cached_adversarial(
                Path(path),
                adversarial,
                f"{what} · cached by run {run}",
                name=request.cell[0],
                defense_aware=self._through_defense(request.cell),
            )
        except (OSError, ValueError) as exc:
            self._recraft(Path(path), request, f"its file of {Path(path).name} is unusable ({exc})")

    def _through_defense(self, cell: tuple[str, float, str]) -> bool:
        """Whether the cell's adversarial was crafted through its defense (BPDA, Square through it)."""
        entry = (self.results.run_json or {}).get("plan", {}).get("attacks", {}).get(cell[0], {})
        cls = ATTACKS.get(str(entry.get("attack")))
        return (
            cls is not None
            and cls.defense_aware
            and cell[2] not in identity_defenses(self.results.summary or {})
        )

    def _recraft(self, path: Path, request: CellImages, why: str) -> None:
        """No adversarial of the run's: the cell's attack at its strength on the toolbar, crafted here, or
        (where the window cannot craft it) the adversarial panel says why and nothing else runs."""
        summary, cell = self.results.summary or {}, request.cell
        settings = self._settings()
        how = recraft(self.results.run_json or {}, cell, settings.classifier, settings.weights or None)
        if isinstance(how, Recraft):
            try:
                return self._use_attack(how, cell)
            except (KeyError, ValueError) as exc:
                how = f"the toolbar cannot take its settings ({exc})"
        what = strength_text(summary, cell[0], cell[1])
        self.pipeline.show_cached_adversarial(path, None, f"{what}: not shown — {why}, and {how}")
        self._tell("warning", f"{cell_title(summary, cell)}: its images cannot be shown: {why}, and {how}.")

    def _use_attack(self, how: Recraft, cell: tuple[str, float, str]) -> None:
        """The toolbar's attack becomes the cell's (untargeted, as every evaluation), crafted now."""
        st, before = self.state, self.state.attack_config()
        if how.through_defense and cell[2] in identity_defenses(self.results.summary or {}):
            st.set_defense_enabled(False)  # crafted through no defense in the run
        for param, value in how.values.items():
            st.set_attack_param(param, value, how.attack)
        st.set_target(None)
        st.set_attack(how.attack)
        what = strength_text(self.results.summary or {}, cell[0], cell[1])
        self._tell("info", f"{what} re-crafted here: the run did not keep its adversarial images.")
        if st.attack_config() != before or not self.pipeline.auto_attack:
            self.pipeline.attack_now()

    def _tell(self, kind: str, text: str) -> None:
        if text not in self._told:
            self._told.add(text)
            self.message.emit(kind, text, "")

    # ----- the gallery's line of a cell's image ---------------------------------------------------------
    def _record_story(self, *_args: object) -> None:
        """A cell's adversarial on the panels: the gallery's verdict line of its image is the panels'."""
        rows = self.pipeline.results
        adv, pur = rows.stage(Row.ADVERSARIAL), rows.stage(Row.PURIFIED)
        config = getattr(adv.result, "config", None)
        orig = rows.result(Row.ORIGINAL)
        if not isinstance(config, CachedAttack) or not adv.current or orig is None:
            return
        if pur.status is Status.OFF:
            purified, defense = None, self.state.defense_config()
        elif pur.current and pur.classified and pur.result.judgement is not None:
            purified, defense = pur.result.judgement.verdict, pur.result.defense
        else:
            return  # still purifying: the line follows the verdict
        story = verdict_story(adv.result.judgement.verdict, purified)
        key = summary_key(config, defense)
        self._cell_attacks.add(key[0])
        self.gallery.set_cell_attacks(self._cell_attacks)
        row = self.gallery.row_of(orig.path)
        item = None if row is None else self.gallery.item(row)
        if item is not None and (item.summary, item.summary_key) != (story, key):
            self.gallery.set_summary(orig.path, story, key)

    def _forget_cells(self) -> None:
        """The toolbar's attack changed (or the cell was left): cells' lines are no longer current."""
        self._cell_attacks = set()
        self.gallery.set_cell_attacks(())

    def _make_room(self, index: int) -> None:
        """The Evaluate tab needs height: choosing it (or clicking its title again) gives the lower tabs
        EVALUATE_SHARE of it; where the panels cannot shrink that far (a 768-px screen), they fold away
        until an image of a cell is chosen."""
        if self.tabs.widget(index) is not self.tab:
            return
        sizes = self.split.sizes()
        total = sum(sizes)
        if len(sizes) != 2 or total <= 0 or sizes[1] >= min(EVALUATE_SHARE * total, EVALUATE_MIN_HEIGHT):
            return
        want = int(EVALUATE_SHARE * total)
        self.split.setSizes([total - want, want])
        if self.split.sizes()[1] < min(want, EVALUATE_MIN_HEIGHT):
            self.split.setSizes([0, total])

    def _show_panels(self) -> None:
        """Unfold the panels (folded by :meth:`_make_room`): an image of a cell was chosen to be seen."""
        sizes = self.split.sizes()
        if len(sizes) == 2 and sizes[0] == 0 and sum(sizes) > 0:
            total = sum(sizes)
            self.split.setSizes([total - EVALUATE_MIN_HEIGHT, EVALUATE_MIN_HEIGHT])
