"""The pipeline's stages (ids, titles, runner slots, debounces) and its PURIFY stage: the image first.

A defense-parameter edit (K, θ, stride… dragged) must answer at once, and only purifying the adversarial
image stands between the edit and the purified panel's new image. So one job in the stage's runner slot
purifies the adversarial image and hands it over as a *partial* result, which the panel shows at once (a
current row whose predictions are on their way); the same job then purifies the clean image (the defense's
price) and classifies both, and its result fills in the predictions and the verdict; the CAM comes last.
Both parts come from one job, so superseding it drops both: an image of older settings can never land
after a newer one. Edits are not held back by a debounce (it would only add to the delay): each supersedes
(cancels) the job before, and a new job waits for a superseded one that is still running to end, so a
drag's many edits never run more than one purification at a time.

The stage is an object the pipeline owns and calls (:class:`PurifyStage`), not a part of it: it is handed
the state, results, cache and runner it reads, and asks the pipeline for the rest through
:class:`PurifyHooks` (submitting its job, superseding, the CAM stage, the busy state, the gallery story).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from rsdesk.core.verdicts import verdict_story
from rsdesk.gui.models.configs import summary_key
from rsdesk.gui.models.results import ResultsModel, Row, Status
from rsdesk.gui.models.stage_results import AttackResult, CachedAttack, PurifyResult
from rsdesk.gui.models.state import AppState
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.cache import StageCache
from rsdesk.gui.tasks.runner import Job, JobContext, JobRunner


class Stage(IntEnum):
    ORIGINAL = 0
    ATTACK = 1
    PURIFY = 2
    EXPLAIN = 3


STAGE_TITLES = {
    Stage.ORIGINAL: "Loading",
    Stage.ATTACK: "Attack",
    Stage.PURIFY: "Purify",
    Stage.EXPLAIN: "CAM",
}
ATTACK_DEBOUNCE_MS = 400
#: Zero: the edits of one pass of the event loop start one job; superseding makes waiting longer useless
#: (it would only add to the delay), and a drag's edits never run more than one job at a time.
PURIFY_DEBOUNCE_MS = 0


def stage_slot(stage: Stage) -> tuple[str, int]:
    return ("stage", int(stage))


@dataclass(frozen=True)
class PurifyHooks:
    """What the purify stage asks of the pipeline that owns it: the pipeline's rules for a stage's jobs
    (progress, failures, busy state), for superseding the stages after it, and for what comes next."""

    #: run ``fn`` in the PURIFY slot: ``submit(fn, on_result, on_partial)``; handlers see current work only
    submit: Callable[[Callable[[JobContext], object], Callable, Callable], Job]
    #: supersede PURIFY and every later stage (it calls :meth:`PurifyStage.drop_queued` back)
    supersede: Callable[[], None]
    #: start EXPLAIN for the rows now shown
    explain: Callable[[], None]
    #: the pipeline's busy state may have changed
    update_busy: Callable[[], None]
    #: the gallery's verdict story of an image changed: ``story(path, story, summary key)``
    story: Callable[[Path, str, tuple], None]


class PurifyStage(QObject):
    """The PURIFY stage of :class:`~rsdesk.gui.tasks.pipeline.Pipeline`: what it reads (state, results,
    cache, runner) and asks of the pipeline (:class:`PurifyHooks`) is handed in; the pipeline calls
    :meth:`resume` once an adversarial image is current and :meth:`defense_changed` when the defense is
    edited."""

    def __init__(
        self,
        state: AppState,
        results: ResultsModel,
        runner: JobRunner,
        cache: StageCache,
        hooks: PurifyHooks,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state, self.results, self.runner, self.cache, self.hooks = state, results, runner, cache, hooks
        #: The last purify job started, until it ends (superseded or not).
        self._job: Job | None = None
        #: A purification for the current settings waits for that (superseded) job to end: one at a time.
        self._queued = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PURIFY_DEBOUNCE_MS)
        self._timer.timeout.connect(self.resume)

    # ----- what the pipeline asks ------------------------------------------------------------------------
    def running(self) -> bool:
        """A purification runs or waits to (what Cancel would stop)."""
        return self.runner.running(stage_slot(Stage.PURIFY)) is not None or self._queued

    def pending(self) -> bool:
        """Work is on its way without a job in the slot yet: the debounce runs or a request is queued."""
        return self._timer.isActive() or self._queued

    def hold(self) -> None:
        """Stop the debounce (the pipeline starts over, cancels or stops)."""
        self._timer.stop()

    def drop_queued(self) -> None:
        """The stage was superseded: a request waiting for the previous job is dropped with it."""
        self._queued = False

    def resume(self) -> None:
        """Show the cached purification of the current adversarial image, else purify it."""
        self._timer.stop()
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        dcfg = self.state.defense_config()
        if not dcfg.enabled:
            return self._off()
        if orig is None or adv is None:
            return self.hooks.update_busy()
        cached = self.cache.purified(orig.path, adv.config.key(), dcfg.key())
        if cached is not None:
            self.hooks.supersede()
            return self._show(cached)
        self._start()

    def defense_changed(self) -> None:
        """The defense (or its parameters) changed while the adversarial image stays."""
        self.hooks.supersede()
        if not self.state.defense_enabled:
            return self._off()  # switching off needs no work: say so at once
        if self.results.result(Row.ADVERSARIAL) is None:
            return self.hooks.update_busy()
        self.results.mark_stale(Row.PURIFIED, "defense parameters changed")
        self._timer.start()
        self.hooks.update_busy()

    # ----- the steps -------------------------------------------------------------------------------------
    def _off(self) -> None:
        self.hooks.supersede()
        message = "defense off — press D to turn it on"
        self.results.update(Row.PURIFIED, status=Status.OFF, result=None, progress=0.0, message=message)
        adv = self.results.result(Row.ADVERSARIAL)
        if adv is not None:
            self._tell_story(adv, None)
        self.hooks.explain()

    def _start(self) -> None:
        self.hooks.supersede()
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        model, dcfg = self.state.classifier, self.state.defense_config()
        if orig is None or adv is None or model is None:
            return
        self.results.update(Row.PURIFIED, status=Status.BUSY, progress=0.0, message=dcfg.title)
        if self._job is not None:
            # A superseded job is still running to its next cancel check (a purification of the image at
            # stride ≥ 4 has none inside): the new one starts when it ends, so the two never share the CPU
            # and a drag's many edits never pile up jobs. Superseding again drops this request.
            self._queued = True
            return self.hooks.update_busy()
        job = self.hooks.submit(
            lambda ctx: stages.run_purify(model, orig, adv, dcfg, ctx.progress, ctx.cancel, ctx.partial),
            self._done,
            self._show_image,
        )
        self._job = job
        job.finished.connect(lambda: self._ended(job))

    def _ended(self, job: Job) -> None:
        if self._job is job:
            self._job = None
            if self._queued:
                self._start()  # for the settings current now

    def _show_image(self, res: PurifyResult) -> None:
        """The job's first part: its image is current at once; predictions, verdict and CAM follow."""
        self.results.update(Row.PURIFIED, status=Status.CURRENT, result=res, message="classifying…")

    def _done(self, res: PurifyResult) -> None:
        orig, adv = self.results.stage(Row.ORIGINAL).result, self.results.result(Row.ADVERSARIAL)
        self.cache.put_purified(orig.path, adv.config.key(), res.defense.key(), res)
        self._show(res)

    def _show(self, res: PurifyResult) -> None:
        self.results.update(Row.PURIFIED, status=Status.CURRENT, result=res, message="", progress=1.0)
        self._tell_story(self.results.result(Row.ADVERSARIAL), res)
        self.hooks.explain()

    def _tell_story(self, adv: AttackResult, pur: PurifyResult | None) -> None:
        """The gallery's verdict story of the current image (none for an adversarial image made elsewhere:
        the gallery tells what the toolbar's attack does)."""
        if isinstance(adv.config, CachedAttack):
            return
        orig = self.results.result(Row.ORIGINAL)
        defense = pur.defense if pur is not None else self.state.defense_config()
        story = verdict_story(adv.judgement.verdict, pur.judgement.verdict if pur is not None else None)
        self.hooks.story(orig.path, story, summary_key(adv.config, defense))
