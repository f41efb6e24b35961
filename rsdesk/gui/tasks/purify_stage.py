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
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from rsdesk.core.verdicts import verdict_story
from rsdesk.gui.models.configs import summary_key
from rsdesk.gui.models.results import Row, Status
from rsdesk.gui.models.stage_results import AttackResult, CachedAttack, PurifyResult
from rsdesk.gui.tasks import stages

if TYPE_CHECKING:
    from rsdesk.gui.tasks.pipeline import Pipeline
    from rsdesk.gui.tasks.runner import Job


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


class PurifyStage:
    """The PURIFY steps of :class:`~rsdesk.gui.tasks.pipeline.Pipeline` (a mixin: it uses the pipeline's
    state, results, cache, timers, ``_supersede``, ``_submit``, ``_start_explain`` and ``_update_busy``)."""

    #: The last purify job started, until it ends (superseded or not).
    _purify_job: Job | None = None
    #: A purification for the current settings waits for that (superseded) job to end: one runs at a time.
    _purify_queued = False

    def _purifying(self: Pipeline) -> bool:
        return self.runner.running(stage_slot(Stage.PURIFY)) is not None or self._purify_queued

    def _continue_purify(self: Pipeline) -> None:
        self._purify_timer.stop()
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        dcfg = self.state.defense_config()
        if not dcfg.enabled:
            return self._purify_off()
        if orig is None or adv is None:
            return self._update_busy()
        cached = self.cache.purified(orig.path, adv.config.key(), dcfg.key())
        if cached is not None:
            self._supersede(Stage.PURIFY)
            return self._show_purified(cached)
        self._start_purify()

    def _purify_off(self: Pipeline) -> None:
        self._supersede(Stage.PURIFY)
        message = "defense off — press D to turn it on"
        self.results.update(Row.PURIFIED, status=Status.OFF, result=None, progress=0.0, message=message)
        adv = self.results.result(Row.ADVERSARIAL)
        if adv is not None:
            self._tell_story(adv, None)
        self._start_explain()

    def _start_purify(self: Pipeline) -> None:
        self._supersede(Stage.PURIFY)
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        model, dcfg = self.state.classifier, self.state.defense_config()
        if orig is None or adv is None or model is None:
            return
        self.results.update(Row.PURIFIED, status=Status.BUSY, progress=0.0, message=dcfg.title)
        if self._purify_job is not None:
            # A superseded job is still running to its next cancel check (a purification of the image at
            # stride ≥ 4 has none inside): the new one starts when it ends, so the two never share the CPU
            # and a drag's many edits never pile up jobs. Superseding again drops this request.
            self._purify_queued = True
            return self._update_busy()
        job = self._submit(
            Stage.PURIFY,
            lambda ctx: stages.run_purify(model, orig, adv, dcfg, ctx.progress, ctx.cancel, ctx.partial),
            self._purify_done,
            self._show_purified_image,
        )
        self._purify_job = job
        job.finished.connect(lambda: self._purify_ended(job))

    def _purify_ended(self: Pipeline, job: Job) -> None:
        if self._purify_job is job:
            self._purify_job = None
            if self._purify_queued:
                self._start_purify()  # for the settings current now

    def _show_purified_image(self: Pipeline, res: PurifyResult) -> None:
        """The job's first part: its image is current at once; predictions, verdict and CAM follow."""
        self.results.update(Row.PURIFIED, status=Status.CURRENT, result=res, message="classifying…")

    def _purify_done(self: Pipeline, res: PurifyResult) -> None:
        orig, adv = self.results.stage(Row.ORIGINAL).result, self.results.result(Row.ADVERSARIAL)
        self.cache.put_purified(orig.path, adv.config.key(), res.defense.key(), res)
        self._show_purified(res)

    def _show_purified(self: Pipeline, res: PurifyResult) -> None:
        self.results.update(Row.PURIFIED, status=Status.CURRENT, result=res, message="", progress=1.0)
        self._tell_story(self.results.result(Row.ADVERSARIAL), res)
        self._start_explain()

    def _tell_story(self: Pipeline, adv: AttackResult, pur: PurifyResult | None) -> None:
        """The gallery's verdict story of the current image (none for an adversarial image made elsewhere:
        the gallery tells what the toolbar's attack does)."""
        if isinstance(adv.config, CachedAttack):
            return
        orig = self.results.result(Row.ORIGINAL)
        defense = pur.defense if pur is not None else self.state.defense_config()
        story = verdict_story(adv.judgement.verdict, pur.judgement.verdict if pur is not None else None)
        self.summary_changed.emit(orig.path, story, summary_key(adv.config, defense))

    def _on_defense_changed(self: Pipeline) -> None:
        if self.state.attack_defense_aware and self._cached_attack() is None:
            return self._on_attack_changed()  # an attack crafted through the defense must follow it
        self._supersede(Stage.PURIFY)
        if not self.state.defense_enabled:
            return self._purify_off()  # switching off needs no work: say so at once
        if self.results.result(Row.ADVERSARIAL) is None:
            return self._update_busy()
        self.results.mark_stale(Row.PURIFIED, "defense parameters changed")
        self._purify_timer.start()
        self._update_busy()
