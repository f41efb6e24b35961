"""The RSDesk main window: the gallery, the controls, the panel grid, the bottom tabs and the status bar.

No computation and no business logic here: views observe :class:`AppState` and :class:`ResultsModel`;
commands go to the :class:`Session`, whose pipeline, importer and trainer run every long job on a worker.
Every message of every part arrives at :meth:`MainWindow.notify` (the message bar and the Log tab).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rsdesk import __version__
from rsdesk.core.errors import problems_text
from rsdesk.core.io.assets import sample_image_paths
from rsdesk.gui.actions import Actions, install_menus
from rsdesk.gui.dialogs import files
from rsdesk.gui.dialogs.finetune_dialog import show_finetune
from rsdesk.gui.dialogs.settings_dialog import SettingsDialog
from rsdesk.gui.models.gallery import PathRole
from rsdesk.gui.models.results import Row
from rsdesk.gui.models.settings import Settings
from rsdesk.gui.session import Session, dictionary_status
from rsdesk.gui.tasks.gc_guard import GuiThreadGC
from rsdesk.gui.views.activations import ActivationsView
from rsdesk.gui.views.attack_controls import AttackControls
from rsdesk.gui.views.defense_controls import DefenseControls
from rsdesk.gui.views.evaluate_browse import EvaluationBridge
from rsdesk.gui.views.gallery import GalleryView
from rsdesk.gui.views.panels import PanelGrid
from rsdesk.gui.views.presentation import Presentation
from rsdesk.gui.views.story import StoryView
from rsdesk.gui.views.story_export import story_source
from rsdesk.gui.views.training_status import TrainingStatusWidget
from rsdesk.gui.views.window_layout import TabRoom, WindowLayout
from rsdesk.gui.widgets.drop import FileDropTarget
from rsdesk.gui.widgets.messages import LogView, MessageBar


class MainWindow(FileDropTarget, QMainWindow):
    """The window. ``classifier`` may be given (tests share one); otherwise it loads in the background."""

    def __init__(
        self,
        settings: Settings | None = None,
        warnings: list[str] | None = None,
        classifier: object | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("RSDesk — adversarial examples and the RegionSparse defense")
        self.setAcceptDrops(True)
        self._gc = GuiThreadGC(self)  # before any worker starts: see tasks/gc_guard
        self.session = Session(settings, warnings, classifier, self)
        # the session's parts, named for the views that bind to them
        self.state = self.session.state
        self.results = self.session.results
        self.gallery = self.session.gallery
        self.pipeline = self.session.pipeline
        self.importer = self.session.importer
        self.trainer = self.session.trainer
        self.acts = Actions(self, self.trainer)  # Train From Folder… is off while a training runs
        self._prefer_labelled = False
        self._shown_once = False
        self._build()
        self._connect()
        self.gallery.set_current_key(self.pipeline.current_summary_key())
        self.session.announce_startup(self.notify)  # a dictionary from a previous session; bad settings
        self._sync_status()

    # ----- construction ---------------------------------------------------------------------------------
    def _build(self) -> None:
        a = self.acts
        self.attack_controls = AttackControls(self.state, [a.attack, a.attack_selected, a.cancel])
        self.defense_controls = DefenseControls(self.state, a.toggle_defense)
        for title, widget in (("Attack", self.attack_controls), ("Defense", self.defense_controls)):
            bar = QToolBar(title, self)
            bar.setObjectName(f"{title.lower()}Toolbar")
            bar.setMovable(False)
            bar.addWidget(widget)
            self.addToolBar(bar)
            if title == "Attack":
                self.addToolBarBreak()
        self.panels = PanelGrid(self.results)
        self.messages = MessageBar()
        self.log = LogView()
        self.activations = ActivationsView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.activations, "Activations")
        self.tabs.addTab(self.log, "Log")
        self.tabs.setCurrentWidget(self.log)
        self.tabs.setMinimumHeight(60)  # a strip by default; the panels matter more (drag to enlarge)
        split = self._split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.panels)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        self.tab_room = TabRoom(split, self.tabs)  # first to hear of a raised tab: see TabRoom
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.messages)
        lay.addWidget(split, 1)
        self.story = StoryView(self.results, self.state)  # presentation mode's steps replace the panels
        lay.addWidget(self.story, 1)
        self.setCentralWidget(central)
        self.gallery_view = GalleryView()
        self.gallery_view.setModel(self.gallery)
        hint = QLabel("Drop images or folders here")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setEnabled(False)
        box = QWidget()
        box_lay = QVBoxLayout(box)
        box_lay.setContentsMargins(0, 0, 0, 0)
        box_lay.addWidget(self.gallery_view, 1)
        box_lay.addWidget(hint)
        self.gallery_dock = QDockWidget("Gallery", self)
        self.gallery_dock.setObjectName("galleryDock")
        self.gallery_dock.setWidget(box)
        self.gallery_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.gallery_dock)
        self.resizeDocks([self.gallery_dock], [260], Qt.Orientation.Horizontal)
        self._build_status()
        install_menus(self.menuBar(), a, [self.panels.show_delta, self.gallery_dock.toggleViewAction()])
        # the Evaluate tab, and its links to the gallery, the panels and the File menu
        run = (self.session.evaluation, lambda: self.session.settings)
        gallery, parts = (self.gallery, self.gallery_view), (self.importer, self.pipeline, self.state)
        self.evaluation = EvaluationBridge(run, gallery, parts, files.ask_folder, (self.tabs, split), self)
        box_lay.insertWidget(0, self.evaluation.filter_bar)
        self.evaluation.dictionary_wanted.connect(self.session.use_dictionary)  # the run's, from the tab
        self.menuBar().actions()[0].menu().insertAction(a.export, self.evaluation.tab.open_action)
        a.toggle_defense.setChecked(self.state.defense_enabled)
        a.auto_attack.setChecked(self.pipeline.auto_attack)
        self.presentation = Presentation(
            self, [self.gallery_dock, self.tabs, self.menuBar()], self.story, split, a.presentation
        )
        self.window_layout = WindowLayout(self, split, self.tabs, self.log.add)  # app.run restores it
        self.tab_room.rooms(self.activations, self.evaluation.tab)  # raised, their plots get the height

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.dictionary_label = QLabel()
        self.classifier_label = QLabel()
        self.h_warning = QToolButton()
        self.h_warning.setText("⚠ h differs — Retrain…")
        self.h_warning.setAutoRaise(True)
        self.h_warning.clicked.connect(self.acts.train.trigger)  # nothing while a training runs
        self.training_status = TrainingStatusWidget(self.trainer)
        for w in (self.dictionary_label, self.classifier_label, self.h_warning, self.training_status):
            bar.addPermanentWidget(w)

    def _connect(self) -> None:
        a, p, st = self.acts, self.pipeline, self.state
        self.gallery_view.selectionModel().currentChanged.connect(self._on_current)
        drop_run = self.evaluation.open_dropped  # a dropped run directory opens on the Evaluate tab
        self.gallery_view.files_dropped.connect(lambda p: drop_run(p) or self.import_paths(p))
        self.evaluation.message.connect(self.notify)
        self.importer.finished.connect(self._on_imported)
        self.importer.running_changed.connect(lambda _r: self._sync_actions())
        self.importer.finished.connect(lambda *_: self.statusBar().clearMessage())
        self.importer.progress.connect(
            lambda f, m: self.statusBar().showMessage(f"{m} ({100 * f:.0f}%)", 2000)
        )
        p.summary_changed.connect(self.gallery.set_summary)
        p.summary_changed.connect(lambda path, text, _k: self.log.add("result", f"{path.name}: {text}"))
        p.explained.connect(self._show_profiles)
        p.busy_changed.connect(lambda _b: self._sync_actions())
        p.batch_progress.connect(lambda f, m: self.statusBar().showMessage(f"Batch: {m}", 3000))
        self.results.dataChanged.connect(lambda *_: self._sync_actions())
        st.dictionary_changed.connect(self._sync_status)
        st.classifier_changed.connect(self._sync_status)
        st.classifier_changed.connect(
            lambda: (
                st.classifier is not None and self.log.add("info", f"classifier ready: {st.classifier_title}")
            )
        )
        st.defense_changed.connect(self._sync_defense_action)
        for sig in (st.attack_changed, st.defense_changed):
            sig.connect(lambda: self.gallery.set_current_key(self.pipeline.current_summary_key()))
        for controls in (self.attack_controls, self.defense_controls):
            controls.message.connect(self.notify)
        self.tabs.currentChanged.connect(lambda _i: self._want_profiles())
        self.messages.shown.connect(self.log.add)
        a.open_files.triggered.connect(self.open_files_dialog)
        a.open_folder.triggered.connect(self.open_folder_dialog)
        a.export.triggered.connect(self.export_dialog)
        a.quit.triggered.connect(self.close)
        a.settings.triggered.connect(self.settings_dialog)
        a.presentation.toggled.connect(self._set_presentation)
        a.story.triggered.connect(self.presentation.story_next)
        self.presentation.step_image.connect(self.step_image)
        a.reset_zoom.triggered.connect(self.panels.link.reset)
        a.prev_image.triggered.connect(lambda: self.step_image(-1))
        a.next_image.triggered.connect(lambda: self.step_image(+1))
        a.attack.triggered.connect(p.attack_now)
        a.attack_selected.triggered.connect(self.attack_selected)
        a.cancel.triggered.connect(self._escape)
        a.auto_attack.toggled.connect(p.set_auto_attack)
        a.toggle_defense.toggled.connect(st.set_defense_enabled)
        a.train.triggered.connect(self.train_dialog)
        a.load_dictionary.triggered.connect(self.load_dictionary_dialog)
        a.save_dictionary.triggered.connect(self.save_dictionary_dialog)
        a.bundled_dictionary.triggered.connect(lambda: self.session.use_dictionary(None))
        a.finetune.triggered.connect(lambda: show_finetune(self, self.session))
        a.samples.triggered.connect(lambda: self.import_paths(sample_image_paths(), select=True))
        a.about.triggered.connect(self._about)
        self.session.message.connect(self.notify)
        self.session.settings_changed.connect(self._sync_status)
        self.trainer.skipped.connect(lambda m: self.log.add("warning", f"training skipped {m}"))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:  # the panels get all the height; the tabs a strip (drag to enlarge)
            self._shown_once = True
            total = sum(self._split.sizes())
            self._split.setSizes([max(200, total - 130), 130])

    # ----- messages -----------------------------------------------------------------------------------
    def notify(self, kind: str, text: str, details: str = "") -> None:
        """Show a message in the window (never a modal dialog); it is also kept in the Log tab."""
        self.messages.show_message(kind, text, details)

    def notify_all(self, kind: str, items: list[str], what: str) -> None:
        """One message for a list of problems (the whole list in its details when there are several)."""
        if items:
            self.notify(kind, problems_text(what, items), "\n".join(items) if len(items) > 1 else "")

    # ----- images ---------------------------------------------------------------------------------------
    def import_paths(self, paths: list[Path], select: bool = False, announce: bool = True) -> None:
        """Bring files and folders in (in the background); bad files are reported together at the end."""
        self._prefer_labelled = self._prefer_labelled or select
        self.importer.import_paths([Path(p) for p in paths], announce)

    def open_startup(self, paths: list[str]) -> None:
        """What the window opens with: the given images, else the bundled samples (a labelled one shown)."""
        images = [Path(p) for p in paths] if paths else sample_image_paths()
        self.import_paths(images, select=True, announce=False)

    def _on_imported(self, added: list[Path], _problems: list[str]) -> None:
        if added and (self.state.image is None or self._prefer_labelled):
            labelled = [p for p in added if self.gallery.true_label(p) is not None]
            self.select_path((labelled if self._prefer_labelled and labelled else added)[0])
        self._prefer_labelled = False

    def select_path(self, path: Path) -> None:
        row = self.gallery.row_of(path)
        if row is not None:
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
            self.gallery_view.selectionModel().setCurrentIndex(self.gallery.index(row), flags)

    def step_image(self, delta: int) -> None:
        """←/→: the previous/next image in the gallery."""
        if not self.gallery.rowCount():
            return
        current = self.gallery_view.currentIndex().row()
        row = max(0, min(self.gallery.rowCount() - 1, (current if current >= 0 else 0) + delta))
        self.select_path(self.gallery.item(row).path)

    def _on_current(self, index: QModelIndex, _previous: QModelIndex) -> None:
        self.state.set_image(index.data(PathRole) if index.isValid() else None)
        self._show_profiles()

    def open_files_dialog(self) -> None:
        chosen = files.ask_images(self)
        if chosen:
            self.import_paths(chosen, select=True)

    def open_folder_dialog(self) -> None:
        folder = files.ask_folder(self, "Open a folder of images")
        if folder:
            self.import_paths([folder], select=True)

    def paths_dropped(self, paths: list[Path]) -> None:
        if not self.evaluation.open_dropped(paths):
            self.import_paths(paths, select=True)

    # ----- attack ---------------------------------------------------------------------------------------
    def attack_selected(self) -> None:
        paths = self.gallery_view.selected_paths() or ([self.state.image] if self.state.image else [])
        self.pipeline.attack_paths(paths)

    def _set_presentation(self, on: bool) -> None:
        self.presentation.enter() if on else self.presentation.leave()
        self._sync_actions()  # Esc leaves presentation mode

    def _escape(self) -> None:
        if self.pipeline.cancellable() or self.importer.is_running():
            self.pipeline.cancel()
            self.importer.cancel()  # ends at once, even if a worker is stuck in a read
        elif self.presentation.active:
            self.acts.presentation.setChecked(False)

    def _sync_actions(self) -> None:
        ready = self.state.classifier is not None
        self.acts.attack.setEnabled(ready and self.state.image is not None)
        self.acts.attack_selected.setEnabled(ready and self.gallery.rowCount() > 0)
        busy = self.pipeline.cancellable() or self.importer.is_running()
        self.acts.cancel.setEnabled(busy)  # Esc while idle leaves presentation mode: its own action
        self.presentation.set_busy(busy)
        self.acts.export.setEnabled(self.results.result(Row.ADVERSARIAL) is not None)

    def _sync_defense_action(self) -> None:
        self.acts.toggle_defense.blockSignals(True)
        self.acts.toggle_defense.setChecked(self.state.defense_enabled)
        self.acts.toggle_defense.blockSignals(False)

    # ----- activations ----------------------------------------------------------------------------------
    def _want_profiles(self) -> None:
        self.pipeline.set_want_profiles(
            self.tabs.currentWidget() is self.activations and self.tabs.isVisible()
        )
        self._show_profiles()

    def _show_profiles(self) -> None:
        if self.tabs.currentWidget() is not self.activations:
            return
        profiles = [getattr(self.results.result(r), "profile", None) for r in Row]
        self.activations.set_profiles(*profiles, gamma=self.activations.gamma())

    # ----- export ---------------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        if chosen := files.ask_export(self, self.session.settings.export_size):
            self.session.set_export_size(chosen[1])
            self.export_to(chosen[0], background=True)

    def export_to(self, folder: Path, background: bool = False) -> list[Path]:
        """Write the current image's exports into ``folder`` (the outcome shows as a message; see Session)."""
        story = story_source(self.story, self._split)
        return self.session.export_to(self.panels, folder, story, background=background)

    # ----- settings, status ---------------------------------------------------------------------------
    def settings_dialog(self) -> None:
        dlg = SettingsDialog(self.session.current_settings(), self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.session.apply_new_settings(dlg.settings())

    def _sync_status(self) -> None:
        text, tip = dictionary_status(self.state.dictionary)  # says so when it is not the default
        self.dictionary_label.setText(text)
        self.dictionary_label.setToolTip(tip)
        self.classifier_label.setText(f"Classifier: {self.state.classifier_title or 'loading…'}")
        mismatch = self.session.h_mismatch()
        self.h_warning.setVisible(bool(mismatch))
        self.h_warning.setToolTip(mismatch + ": train a new dictionary with the settings' h")
        self._sync_actions()

    # ----- dictionaries -------------------------------------------------------------------------------
    def train_dialog(self) -> None:
        folder = files.ask_folder(self, "Train a dictionary from the images in")
        if folder:
            self.session.train_from(folder)

    def load_dictionary_dialog(self) -> None:
        file = files.ask_dictionary_to_load(self)
        if file:
            self.session.use_dictionary(file)

    def save_dictionary_dialog(self) -> None:
        file = files.ask_dictionary_save_path(self)
        if file:
            self.session.save_dictionary(file)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About RSDesk",
            f"<b>RSDesk {__version__}</b><br>Adversarial examples and the RegionSparse defense "
            "(Zhang et al., IJCNN 2020), live.",
        )

    # ----- shutdown -----------------------------------------------------------------------------------
    def shutdown(self, msecs: int = 15000) -> bool:
        """Cancel every job and training and wait for their threads; True when all have ended."""
        return self.session.shutdown(msecs)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.session.save_settings()
        self.acts.presentation.setChecked(False)  # the layout kept is the one outside presentation mode
        self.window_layout.save()
        if self.shutdown():
            self._gc.stop()  # no worker left that could run the collector off the GUI thread
        super().closeEvent(event)
