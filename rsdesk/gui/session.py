"""The session: builds every non-widget part of the running app (settings, state, the one job runner,
pipeline, importer, trainer) and holds the commands that change them. Nothing else: the window shows
things and asks the session; the parts do the work.

One error path: every part reports to the user through ``message(kind, text, details)``; the session
forwards them all through its own ``message``, which the window connects to its one notifier (the message
bar and the Log tab).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from rsdesk.core.errors import DictionaryError, problems_text
from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.models import classifier_spec
from rsdesk.core.sparse.dictionary_file import Dictionary, load_dictionary, save_dictionary
from rsdesk.gui.models.evaluation import EvaluationResults
from rsdesk.gui.models.export_size import DEFAULT_EXPORT_SIZE, export_size_problem, parse_export_size
from rsdesk.gui.models.gallery import GalleryModel
from rsdesk.gui.models.results import ResultsModel
from rsdesk.gui.models.settings import Settings, data_dir, save_settings
from rsdesk.gui.models.settings_bridge import (
    apply_settings,
    capture_settings,
    h_mismatch,
    load_dictionary_info,
)
from rsdesk.gui.models.state import AppState, DictionaryInfo
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.evaluation import EvaluationRunner
from rsdesk.gui.tasks.exporter import NothingToExport, prepare_export, write_export
from rsdesk.gui.tasks.finetuning import FineTuner, result_summary
from rsdesk.gui.tasks.importer import Importer
from rsdesk.gui.tasks.pipeline import Pipeline
from rsdesk.gui.tasks.runner import JobRunner
from rsdesk.gui.tasks.snapshot import StorySource
from rsdesk.gui.tasks.training import DictionaryTrainer

#: The runner slot of classifier loading: choosing another classifier supersedes a load in progress.
CLASSIFIER_SLOT = "classifier"


def classifier_title(model: object) -> str:
    return f"{model.spec.title} ({str(model.device).upper()})"


def dictionary_kind(info: DictionaryInfo) -> str:
    """``trained`` (by this app, in its data folder), ``loaded`` (a file of the user's) or ``default``."""
    if info.path is None:
        return "default"
    return "trained" if info.path.parent == data_dir() / "dictionaries" else "loaded"


def dictionary_status(info: DictionaryInfo) -> tuple[str, str]:
    """The status bar's dictionary text and tooltip: a dictionary in place of the default says so (it may
    have come from a previous session), and which file it is."""
    kind = dictionary_kind(info)
    if kind == "default":
        return f"Dictionary: {info.label}", f"the bundled dictionary\n{info.dictionary.provenance}"
    return (
        f"Dictionary: {kind} {info.label}",
        f"{info.path}\n{info.dictionary.provenance}\nUsed instead of the default dictionary; "
        "Dictionary ▸ Use the Bundled Dictionary goes back to it.",
    )


class Session(QObject):
    """Owns the app's state and workers; ``classifier`` may be given (tests share one loaded model)."""

    message = Signal(str, str, str)  # kind ("info", "warning", "error"), text, details
    settings_changed = Signal()
    exported = Signal(list)  # the files an export wrote ([] when it failed)

    def __init__(
        self,
        settings: Settings | None = None,
        warnings: list[str] | None = None,
        classifier: object | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings or Settings()
        #: False in screenshot mode: a render on the defaults must not overwrite the user's settings file.
        self.persist_settings = True
        info, dict_warnings = load_dictionary_info(self.settings)
        self.state = AppState(info, self)
        self.state.device = self.settings.device
        self.runner = JobRunner(self)
        self.results = ResultsModel(self)
        self.gallery = GalleryModel(self)
        self.pipeline = Pipeline(self.state, self.results, self.runner, self.gallery.true_label, self)
        self.importer = Importer(
            self.runner, self.gallery, self.input_size, self.pipeline.cache.put_image, self
        )
        self.trainer = DictionaryTrainer(self.runner, self)
        self.finetuner = FineTuner(self.runner, self)  # Classifier ▸ Fine-Tune From Folder…
        tuner = self.finetuner
        tuner.failed.connect(lambda m, d: self.message.emit("error", f"Fine-tuning failed: {m}", d))
        tuner.cancelled.connect(lambda m: self.message.emit("info", f"Fine-tuning cancelled: {m}.", ""))
        tuner.finished.connect(lambda r: self.message.emit("info", result_summary(r), str(r.out)))
        self.evaluation = EvaluationRunner(EvaluationResults(self), self.runner, self)  # the Evaluate tab's
        self.trainer.finished.connect(self._on_trained)
        self.trainer.failed.connect(
            lambda m, d: self.message.emit("error", f"Dictionary training failed: {m}", d)
        )
        self.trainer.cancelled.connect(
            lambda: self.message.emit("info", "Dictionary training cancelled.", "")
        )
        for part in (self.pipeline, self.importer, self.evaluation):
            part.message.connect(self.message)
        self.classifier_error = ""  # set when no classifier could be loaded at all
        #: said once by the window at start (info), before the problems
        self.startup_notes = self._dictionary_note()
        #: shown by the window once it is connected (settings file problems, a missing dictionary…)
        self.startup_problems = [
            *(warnings or []),
            *dict_warnings,
            *apply_settings(self.state, self.settings),
        ]
        if classifier is not None:
            self.state.set_classifier(classifier, classifier_title(classifier))
        else:
            self.load_classifier()

    def _dictionary_note(self) -> list[str]:
        """The first start that loads a dictionary other than the default says so, once: it came from a
        previous session (a training, Load Dictionary…), and the default is one menu entry away."""
        path = self.state.dictionary.path
        if path is None or self.settings.dictionary_announced == str(path):
            return []
        self.settings = replace(self.settings, dictionary_announced=str(path))  # saved with the rest
        return [
            f"Using your {dictionary_kind(self.state.dictionary)} dictionary {path.name} (from a previous "
            "session); Dictionary ▸ Use the Bundled Dictionary goes back to the default.",
        ]

    def announce_startup(self, notify: Callable[[str, str, str], None]) -> None:
        """Tell the window what it should say at start: the notes (info), then the settings' problems."""
        for note in self.startup_notes:
            notify("info", note, str(self.state.dictionary.path or ""))
        items = self.startup_problems
        if items:
            notify("warning", problems_text("Settings", items), "\n".join(items) if len(items) > 1 else "")

    def _report(self, kind: str, items: list[str], what: str) -> None:
        if items:
            self.message.emit(kind, problems_text(what, items), "\n".join(items) if len(items) > 1 else "")

    def input_size(self) -> int:
        model = self.state.classifier
        return model.input_size if model is not None else classifier_spec(self.settings.classifier).input_size

    # ----- classifier ---------------------------------------------------------------------------------
    def load_classifier(self) -> None:
        """Load (and warm up) the classifier the settings name, on a worker; fall back to the default.

        A newer request supersedes a load still running (its model never arrives)."""
        s = self.settings
        self.state.set_classifier(None, f"loading {s.classifier}…")
        job = self.runner.submit(
            "Classifier",
            lambda _ctx: stages.load_and_warm(s.classifier, s.weights, s.device),
            CLASSIFIER_SLOT,
        )
        job.succeeded.connect(lambda m: self.state.set_classifier(m, classifier_title(m)))
        job.failed.connect(self._classifier_failed)

    def _classifier_failed(self, message: str, details: str) -> None:
        default = Settings()
        self.message.emit("error", f"The classifier could not be loaded: {message}", details)
        if self.settings.classifier != default.classifier or self.settings.weights:
            self.settings = replace(self.settings, classifier=default.classifier, weights="")
            self.load_classifier()
        else:
            self.classifier_error = message

    # ----- settings -----------------------------------------------------------------------------------
    def current_settings(self) -> Settings:
        """The settings with the toolbars' current values written in (what the dialog starts from)."""
        return capture_settings(self.state, self.settings)

    def save_settings(self) -> None:
        if not self.persist_settings:
            return
        try:
            save_settings(self.current_settings())
        except OSError as exc:
            self.message.emit("error", f"Settings could not be saved: {exc}", "")

    def apply_new_settings(self, new: Settings) -> None:
        """Use (and save) settings from the dialog: reload what changed; the state re-purifies itself."""
        old, self.settings = self.settings, new
        if new.dictionary_path != old.dictionary_path:
            info, problems = load_dictionary_info(new)
            self._report("warning", problems, "Dictionary")
            self.state.set_dictionary(info)
        self._report("warning", apply_settings(self.state, new), "Settings")
        if (new.classifier, new.weights, new.device) != (old.classifier, old.weights, old.device):
            self.state.device = new.device
            self.load_classifier()
        self.save_settings()
        self.settings_changed.emit()
        mismatch = h_mismatch(new, self.state.dictionary)
        if mismatch and new.h != old.h:
            text = mismatch + ". Retrain it (Dictionary ▸ Train From Folder…) to use the new h."
            self.message.emit("warning", text, "")

    def use_classifier_weights(self, classifier: str, weights: Path) -> None:
        """Make a fine-tuned model the classifier, as the Settings dialog would: saved, and reloaded."""
        self.apply_new_settings(replace(self.current_settings(), classifier=classifier, weights=str(weights)))

    def h_mismatch(self) -> str:
        return h_mismatch(self.settings, self.state.dictionary)

    # ----- dictionaries -------------------------------------------------------------------------------
    def train_from(self, folder: Path) -> None:
        """Start background training with the settings' h, patch size, atoms and patches per image."""
        self.trainer.start(Path(folder), self.settings.training_config())
        if self.trainer.is_running():
            self.message.emit("info", f"Training a dictionary from {folder} (h {self.settings.h:g}).", "")

    def _on_trained(self, path: object, dictionary: Dictionary) -> None:
        self.state.set_dictionary(DictionaryInfo(dictionary, Path(path)))
        self.settings = replace(self.settings, dictionary_path=str(path))
        self.save_settings()
        self.settings_changed.emit()
        self.message.emit(
            "info", f"New dictionary in use: {Path(path).name} ({dictionary.describe()}).", str(path)
        )

    def use_dictionary(self, path: Path | None) -> bool:
        """Switch to the dictionary in ``path`` (None: the bundled one); a bad file is reported."""
        try:
            dictionary = load_dictionary(path if path is not None else default_dictionary_path())
        except DictionaryError as exc:
            self.message.emit("error", f"Dictionary not loaded: {exc}", "")
            return False
        self.state.set_dictionary(DictionaryInfo(dictionary, Path(path) if path is not None else None))
        self.settings = replace(self.settings, dictionary_path=str(path) if path else "")
        self.settings_changed.emit()
        return True

    def save_dictionary(self, path: Path) -> Path | None:
        try:
            out = save_dictionary(Path(path).with_suffix(".npz"), self.state.dictionary.dictionary)
        except OSError as exc:
            self.message.emit("error", f"Dictionary not saved: {exc}", "")
            return None
        self.message.emit("info", f"Dictionary saved to {out}", "")
        return out

    # ----- export and shutdown ------------------------------------------------------------------------
    def export_to(
        self,
        grid: QWidget,
        folder: Path,
        story: StorySource | None = None,
        size: str | None = None,
        background: bool = False,
    ) -> list[Path]:
        """Write the current image's exports into ``folder`` (pictures at ``size``, default: the settings'
        export size), with a picture of each story step when ``story`` is given; the outcome is a message.

        ``background``: the pictures are rendered now, the files encoded and written on a worker (2× PNGs
        take a second: the window stays responsive); returns [] at once and ``exported`` follows."""
        try:
            picture_size = parse_export_size(size or self.settings.export_size)
        except ValueError:
            picture_size = parse_export_size(DEFAULT_EXPORT_SIZE)
        try:
            prepared = prepare_export(grid, self.results, self.state, Path(folder), picture_size, story)
            if background:
                job = self.runner.submit("Export", lambda _ctx: write_export(prepared))
                job.succeeded.connect(lambda written: self._exported(folder, written))
                job.failed.connect(lambda text, details: self._exported(folder, [], text, details))
                return []
            written = write_export(prepared)
        except NothingToExport as exc:
            self.message.emit("warning", str(exc), "")
            return []
        except (OSError, ValueError) as exc:
            return self._exported(folder, [], str(exc))
        return self._exported(folder, written)

    def _exported(self, folder: Path, written: list[Path], problem: str = "", why: str = "") -> list[Path]:
        if problem:
            self.message.emit("error", f"Export failed: {problem}", why)
        else:
            files = "\n".join(map(str, written))
            self.message.emit("info", f"Exported {len(written)} files to {folder}", files)
        self.exported.emit(written)
        return written

    def set_export_size(self, size: str) -> None:
        """Remember the export size the user chose (the export dialog offers it again next time)."""
        if size != self.settings.export_size and export_size_problem(size) is None:
            self.settings = replace(self.settings, export_size=size)
            self.save_settings()

    def shutdown(self, msecs: int = 15000) -> bool:
        """Cancel every job (the training too) and wait for their threads; True when all have ended."""
        self.pipeline.stop()
        self.evaluation.shutdown()  # the sweep process stops; Run resumes it next time
        self.trainer.cancel()
        return self.runner.shutdown(msecs)
