"""The last stage of the pipeline: CAM heatmaps of the shown images, and their activation profiles while the
Activations tab is open. It runs after the verdicts, which matter more and must not wait for it.

It shares the pipeline's superseding rule: its job runs in its own runner slot, so a newer request (or the
pipeline superseding the stage) drops whatever an older one would still deliver.
"""

from __future__ import annotations

from collections.abc import Hashable

from PySide6.QtCore import QObject, Signal

from rsdesk.gui.models.results import ResultsModel, Row
from rsdesk.gui.models.stage_results import ExplainResult
from rsdesk.gui.models.state import AppState
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.runner import JobRunner


class Explainer(QObject):
    """Fills in ``cam`` (and ``profile``) of the current rows' results, on a worker."""

    done = Signal(object)  # the ExplainResult that was applied
    explained = Signal()  # CAMs / activation profiles of the current rows changed (or nothing to do)
    failed = Signal(str, str)  # message, details
    finished = Signal()  # the job ended, whatever the outcome

    def __init__(
        self,
        state: AppState,
        results: ResultsModel,
        runner: JobRunner,
        slot: Hashable,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.results = results
        self.runner = runner
        self.slot = slot
        #: activation profiles cost a forward pass per image: only computed while someone looks at them
        self.want_profiles = False

    def start(self) -> None:
        """Explain every current row that lacks a CAM (or a wanted profile); supersedes a running one."""
        self.runner.supersede(self.slot)
        model = self.state.classifier
        targets = {}
        for row in Row:
            res = self.results.result(row)
            if res is not None and (res.cam is None or (self.want_profiles and res.profile is None)):
                targets[row.name] = res
        if model is None or not targets:
            self.explained.emit()
            return
        for name in targets:
            self.results.update(Row[name], explaining=True)
        images = {name: res.image for name, res in targets.items()}
        want = self.want_profiles
        job = self.runner.submit(
            "CAM", lambda ctx: stages.run_explain(model, images, want, ctx.progress, ctx.cancel), self.slot
        )
        job.succeeded.connect(lambda out: self._apply(targets, out))
        job.failed.connect(self._failed)
        job.finished.connect(self.finished)

    def _apply(self, targets: dict[str, object], out: ExplainResult) -> None:
        for name, res in targets.items():
            res.cam = out.cams.get(name, res.cam)
            res.profile = out.profiles.get(name, res.profile)
            row = Row[name]
            self.results.update(row, explaining=False)
            self.results.touch(row)
        self.done.emit(out)
        self.explained.emit()

    def _failed(self, message: str, details: str) -> None:
        for row in Row:
            self.results.update(row, explaining=False)
        self.failed.emit(message, details)
