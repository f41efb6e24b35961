"""The Evaluate tab's lines on what a run's numbers do not say: that its RegionSparse used another dictionary
than the window's (with the offer to switch the window to the run's), and that it did not keep (all) its
adversarial images, so a clicked cell crafts its attack again or says why it cannot. Read from plan.json and
the run directory by :mod:`rsdesk.gui.models.evaluation_cells`."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.gui.models.evaluation import EvaluationResults
from rsdesk.gui.models.evaluation_cells import adversarials_kept, dictionary_check, kept_text, sha256_of


class RunNotes(QWidget):
    """One wrapped line per note, and "Use the run's dictionary" where the run's file is here."""

    dictionary_wanted = Signal(object)  # Path: switch the window to the run's dictionary

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.use_run_dictionary = QToolButton()
        self.use_run_dictionary.setText("Use the run's dictionary")
        self.use_run_dictionary.setToolTip("Switch the window to the dictionary this run's RegionSparse used")
        self.use_run_dictionary.clicked.connect(self._use_run_dictionary)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.use_run_dictionary, 0, Qt.AlignmentFlag.AlignTop)
        self.run_dictionary: Path | None = None
        self._key: tuple | None = None
        self.hide()

    def refresh(self, results: EvaluationResults, idle: bool, window: str | None) -> None:
        """The notes for ``results`` and the window's dictionary file (None: the bundled one); whether the
        adversarials were kept only once the run is ``idle`` (read, and no sweep writing it)."""
        if results.run_json is None or results.summary is None:
            self._key, self.run_dictionary = None, None
            self.hide()
            return
        key = (results.run_dir, results.row_count(), idle, window)
        if key == self._key:
            return
        self._key = key
        kept = kept_text(*adversarials_kept(results)) if idle else ""
        check = dictionary_check(results.run_json, Path(window) if window else None)
        self.run_dictionary = check.run_file
        lines = [t for t in (check.text, kept) if t]
        self.text.setText("\n".join(lines))
        self.use_run_dictionary.setVisible(check.run_file is not None)
        self.setVisible(bool(lines))

    def lines(self) -> list[str]:
        """What the notes say now (none while hidden)."""
        return self.text.text().split("\n") if not self.isHidden() and self.text.text() else []

    def _use_run_dictionary(self) -> None:
        file = self.run_dictionary
        if file is not None:  # the bundled file is the window's "default" (None), not a file of its own
            self.dictionary_wanted.emit(
                None if sha256_of(file) == sha256_of(default_dictionary_path()) else file
            )
