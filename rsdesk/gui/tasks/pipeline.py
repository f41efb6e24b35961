"""The controller that runs the stages for the current image as superseding background jobs.

Stages, in the one direction data flows: ORIGINAL (load, classify) → ATTACK (attack, classify) → PURIFY
(purify: the image first, then classify; :mod:`.purify_stage`) → EXPLAIN (CAMs, activation profiles:
:class:`Explainer`). Each stage owns one slot of the job runner. A new request for a stage supersedes the
jobs of that stage and every later one (the runner cancels them and drops whatever they would still deliver)
and greys their rows (stale): a late result of a superseded job can never land on the panels. Results are
cached by everything they depend on (:class:`StageCache`); attack edits are debounced so a dragged slider
starts one attack, not fifty. An adversarial image made elsewhere (an evaluation's cache) can stand in for
the attack: :meth:`Pipeline.show_cached_adversarial`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from rsdesk.gui.models.configs import AttackConfig, summary_key
from rsdesk.gui.models.results import ResultsModel, Row, Status
from rsdesk.gui.models.stage_results import AttackResult, CachedAttack, OriginalResult
from rsdesk.gui.models.state import AppState
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.batch import BatchAttack
from rsdesk.gui.tasks.cache import StageCache
from rsdesk.gui.tasks.explainer import Explainer
from rsdesk.gui.tasks.purify_stage import (
    ATTACK_DEBOUNCE_MS,
    PURIFY_DEBOUNCE_MS,
    STAGE_TITLES,
    PurifyHooks,
    PurifyStage,
    Stage,
)
from rsdesk.gui.tasks.purify_stage import stage_slot as _slot
from rsdesk.gui.tasks.runner import Job, JobContext, JobRunner

__all__ = ["ATTACK_DEBOUNCE_MS", "PURIFY_DEBOUNCE_MS", "STAGE_TITLES", "Pipeline", "Stage"]


class Pipeline(QObject):
    """Runs and supersedes the stages for ``state.image``, writing into a :class:`ResultsModel`."""

    message = Signal(str, str, str)  # kind, text, details
    summary_changed = Signal(object, str, object)  # path, verdict story, the settings it holds for
    stage_finished = Signal(int, object)  # Stage, its result — only for results that were accepted
    explained = Signal()  # CAMs / activation profiles of the current rows changed
    busy_changed = Signal(bool)
    batch_progress = Signal(float, str)
    batch_finished = Signal()

    def __init__(
        self,
        state: AppState,
        results: ResultsModel,
        runner: JobRunner,
        label_of: Callable[[Path], int | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.results = results
        self.runner = runner
        self.label_of = label_of
        self.auto_attack = True
        self.cache = StageCache()
        self.explainer = Explainer(state, results, runner, _slot(Stage.EXPLAIN), self)
        self.explainer.done.connect(lambda r: self.stage_finished.emit(int(Stage.EXPLAIN), r))
        self.explainer.explained.connect(self.explained)
        self.explainer.failed.connect(lambda m, d: self.message.emit("error", f"CAM failed: {m}", d))
        self.explainer.finished.connect(self._update_busy)
        self.batch = BatchAttack(runner, self.cache, label_of, self)
        self.batch.stored.connect(self._batch_stored)
        self.batch.progress.connect(self.batch_progress)
        self.batch.message.connect(self.message)
        self.batch.finished.connect(self._batch_finished)
        self._pending_attack = False
        # An adversarial image made elsewhere, for this image (shown: it has been the current image since)
        self._cached_adv: tuple[Path, CachedAttack | str] | None = None  # a str: why none can be shown
        self._cached_shown = False
        self._busy = False
        self._attack_timer = self._timer(ATTACK_DEBOUNCE_MS, self._continue_attack)
        hooks = PurifyHooks(
            submit=partial(self._submit, Stage.PURIFY),
            supersede=partial(self._supersede, Stage.PURIFY),
            explain=self._start_explain,
            update_busy=self._update_busy,
            story=self.summary_changed.emit,
        )
        self.purify = PurifyStage(state, results, runner, self.cache, hooks, self)
        state.image_changed.connect(lambda _p: self.refresh())
        state.attack_changed.connect(self._on_attack_changed)
        state.defense_changed.connect(self._on_defense_changed)
        state.classifier_changed.connect(self._on_classifier_changed)

    def _timer(self, ms: int, slot: Callable[[], None]) -> QTimer:
        t = QTimer(self)
        t.setSingleShot(True)
        t.setInterval(ms)
        t.timeout.connect(slot)
        return t

    # ----- public requests ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Start over from the current image (cached stages are reused at once)."""
        if self._cached_adv is not None:
            if self._held() is not None:
                self._cached_shown = True
            elif self._cached_shown:
                self._cached_adv = None  # the user went on to another image: attacks as usual again
        self._supersede(Stage.ORIGINAL)
        self._attack_timer.stop()
        self.purify.hold()
        path, model = self.state.image, self.state.classifier
        for row in (Row.ADVERSARIAL, Row.PURIFIED):
            self.results.clear(row, "waiting for the original")
        if path is None:
            self.results.clear(Row.ORIGINAL, "drop images here, or File ▸ Open")
            return self._update_busy()
        if model is None:
            self.results.clear(Row.ORIGINAL, "loading the classifier…")
            return self._update_busy()
        cached = self.cache.original(path)
        if cached is not None:
            return self._show_original(cached)
        self.results.update(Row.ORIGINAL, status=Status.BUSY, result=None, message="loading…", progress=0.0)
        image = self.cache.image(path, model.input_size)
        label = self.label_of(path)
        self._submit(
            Stage.ORIGINAL,
            lambda ctx: stages.run_original(model, path, image, label, ctx.progress, ctx.cancel),
            self._original_done,
        )

    def attack_now(self) -> None:
        """Attack the current image now; a result of these very settings (shown or cached) shows at once."""
        self._cached_adv = None
        if self.results.result(Row.ORIGINAL) is None:
            self._pending_attack = True  # runs as soon as the original is classified
            return
        self._continue_attack(force=True)  # ▶ with nothing changed: no re-run, no panel greyed for seconds

    def attack_paths(self, paths: list[Path]) -> None:
        """Attack (and purify) every image in ``paths`` in one background job, filling the caches."""
        model = self.state.classifier
        if model is None or not paths:
            return
        self.batch.start(model, paths, self.state.attack_config(), self.state.defense_config())
        self._update_busy()

    def show_cached_adversarial(
        self,
        path: Path,
        adversarial: np.ndarray | None,
        attack_summary: str,
        name: str = "evaluation",
        defense_aware: bool = False,
    ) -> None:
        """Make ``adversarial`` (float32 H×W×3 at the classifier's input size, e.g. an evaluation's cached
        image; ValueError otherwise) the adversarial image of ``path``, subtitled ``attack_summary``, without
        running the attack (``defense_aware``: crafted through the defense): classified, purified, classified
        as usual, now or once ``path`` is current, until the user changes the image or the attack; exports
        name files after ``name``. None: there is none, no attack runs on ``path``, its panel says why."""
        made = None if adversarial is None else CachedAttack.of(adversarial, attack_summary, name)
        held = attack_summary if made is None else replace(made, defense_aware=defense_aware)
        self._cached_adv = (Path(path).resolve(), held)
        self._cached_shown = self._held() is not None
        if not self._cached_shown:
            return
        self._pending_attack = False
        self._attack_timer.stop()
        self._supersede(Stage.ATTACK)
        self._continue_attack()

    def cancel(self) -> None:
        """Stop the attack (and what follows it) and any batch; what was shown stays, greyed."""
        self.batch.cancel()
        attacking = self.runner.running(_slot(Stage.ATTACK)) is not None
        purifying = self.purify.running()
        self._attack_timer.stop()
        self.purify.hold()
        self._pending_attack = False
        if attacking:
            self._supersede(Stage.ATTACK)
            self.results.mark_stale(Row.ADVERSARIAL, "attack cancelled — press Attack (Ctrl+Enter)")
            self.results.mark_stale(Row.PURIFIED, "attack cancelled")
            self.message.emit("info", "Attack cancelled.", "")
        elif purifying:  # the attack result is still current; only the purification stops
            self._supersede(Stage.PURIFY)
            self.results.mark_stale(Row.PURIFIED, "purification cancelled — Ctrl+Enter runs it all again")
            self.message.emit("info", "Purification cancelled.", "")
        self._update_busy()

    def set_auto_attack(self, on: bool) -> None:
        self.auto_attack = bool(on)
        if on and self.results.stage(Row.ADVERSARIAL).status is not Status.CURRENT:
            self._continue_attack()

    def set_want_profiles(self, on: bool) -> None:
        """Activation profiles cost a forward pass per image: only computed while someone looks at them."""
        self.explainer.want_profiles = bool(on)
        if on:
            self._start_explain()

    def current_summary_key(self) -> tuple:
        """The settings a gallery story must have been made with to count as current."""
        return summary_key(self.state.attack_config(), self.state.defense_config())

    def cancellable(self) -> bool:
        """Whether there is an attack (or what follows it, or a batch) that Cancel would stop."""
        running = self.runner.running(_slot(Stage.ATTACK)) is not None or self.purify.running()
        return self.batch.is_running() or self._attack_timer.isActive() or running

    def is_idle(self) -> bool:
        return not self._busy_now()

    def stop(self) -> None:
        """Stop every timer and supersede every stage and the batch (window close; the session then shuts
        the shared runner down)."""
        self._attack_timer.stop()
        self.purify.hold()
        self._supersede(Stage.ORIGINAL)
        self.batch.cancel()

    # ----- superseding and jobs -------------------------------------------------------------------------
    def _supersede(self, first: Stage) -> None:
        for s in Stage:
            if s >= first:
                self.runner.supersede(_slot(s))
        if first <= Stage.PURIFY:
            self.purify.drop_queued()

    def _submit(
        self,
        stage: Stage,
        fn: Callable[[JobContext], object],
        on_result: Callable,
        on_partial: Callable | None = None,
    ) -> Job:
        job = self.runner.submit(STAGE_TITLES[stage], fn, _slot(stage))
        # A superseded job delivers none of these (the runner's rule), so each handler sees current work;
        # a partial result always arrives before the job's result.
        if on_partial is not None:
            job.partial.connect(on_partial)
        job.progress.connect(lambda f, m: self._on_progress(stage, f, m))
        job.succeeded.connect(lambda r: self._accept(stage, on_result, r))
        job.failed.connect(lambda m, d: self._on_failed(stage, m, d))
        job.finished.connect(self._update_busy)
        self._update_busy()
        return job

    def _accept(self, stage: Stage, on_result: Callable, result: object) -> None:
        on_result(result)
        self.stage_finished.emit(int(stage), result)
        self._update_busy()

    def _on_progress(self, stage: Stage, fraction: float, message: str) -> None:
        self.results.update(Row(int(stage)), progress=fraction, message=message)

    def _on_failed(self, stage: Stage, message: str, details: str) -> None:
        row = Row(int(stage))
        self.results.update(row, status=Status.FAILED, message=message, details=details, progress=0.0)
        for later in Row:
            if later > row:
                self.results.clear(later, f"{STAGE_TITLES[stage].lower()} failed")
        self.message.emit("error", f"{STAGE_TITLES[stage]} failed: {message}", details)
        self._update_busy()

    def _busy_now(self) -> bool:
        return (
            any(self.runner.running(_slot(s)) is not None for s in Stage)
            or self.batch.is_running()
            or self._attack_timer.isActive()
            or self.purify.pending()
        )

    def _update_busy(self) -> None:
        busy = self._busy_now()
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    # ----- stage: original --------------------------------------------------------------------------
    def _original_done(self, res: OriginalResult) -> None:
        self.cache.put_original(res.path, res)
        self.cache.put_image(res.path, res.image.shape[0], res.image)
        self._show_original(res)

    def _show_original(self, res: OriginalResult) -> None:
        self.results.update(Row.ORIGINAL, status=Status.CURRENT, result=res, message="", progress=1.0)
        if self._pending_attack:
            self._pending_attack = False
            return self._start_attack()
        self._continue_attack()

    # ----- stage: attack ----------------------------------------------------------------------------
    def _continue_attack(self, force: bool = False) -> None:
        """Show the cached attack for the current parameters, else attack (if automatic, or ``force``d)."""
        self._attack_timer.stop()
        orig = self.results.result(Row.ORIGINAL)
        if orig is None:
            return self._update_busy()
        if isinstance(why := self._held(), str):  # an evaluation's cell whose adversarial is not here
            self.results.clear(Row.ADVERSARIAL, why)
            self.results.clear(Row.PURIFIED, "no adversarial image")
            return self._update_busy()
        cached = self.cache.attack(orig.path, self._attack_config().key())
        if cached is not None:
            self._supersede(Stage.ATTACK)
            return self._show_attack(cached)
        if force or self.auto_attack or self._cached_attack() is not None:
            return self._start_attack()
        self.results.mark_stale(Row.ADVERSARIAL, "press Attack (Ctrl+Enter) to craft an adversarial image")
        self.results.mark_stale(Row.PURIFIED, "no adversarial image yet")
        self._start_explain()
        self._update_busy()

    def _start_attack(self) -> None:
        self._attack_timer.stop()
        self._supersede(Stage.ATTACK)
        orig = self.results.result(Row.ORIGINAL)
        model = self.state.classifier
        if orig is None or model is None:
            return
        cfg = self._attack_config()
        self.results.update(Row.ADVERSARIAL, status=Status.BUSY, progress=0.0, message=cfg.describe())
        self.results.mark_stale(Row.PURIFIED, "waiting for the adversarial image")
        dcfg = self.state.defense_config() if cfg.defense_aware else None

        def job(ctx: JobContext) -> AttackResult:
            if isinstance(cfg, CachedAttack):  # made elsewhere: only classified here
                return stages.run_cached_adversarial(model, orig, cfg, ctx.progress, ctx.cancel)
            return stages.run_attack(model, orig, cfg, dcfg, ctx.progress, ctx.cancel)

        self._submit(Stage.ATTACK, job, self._attack_done)

    def _held(self) -> CachedAttack | str | None:
        """What stands for the attack on the current image: an image made elsewhere, or why there is none."""
        held, image = self._cached_adv, self.state.image
        return held[1] if held is not None and image is not None and held[0] == image.resolve() else None

    def _cached_attack(self) -> CachedAttack | None:
        return held if isinstance(held := self._held(), CachedAttack) else None

    def _attack_config(self) -> AttackConfig | CachedAttack:
        return self._cached_attack() or self.state.attack_config()

    def _attack_done(self, res: AttackResult) -> None:
        orig = self.results.result(Row.ORIGINAL)
        self.cache.put_attack(orig.path, res.config.key(), res)
        self._show_attack(res)

    def _show_attack(self, res: AttackResult) -> None:
        self.results.update(Row.ADVERSARIAL, status=Status.CURRENT, result=res, message="", progress=1.0)
        self.purify.resume()

    def _on_attack_changed(self) -> None:
        # Whatever was computed with the old parameters is out of date from this moment on.
        self._cached_adv = None  # the user asks for an attack of their own
        self._supersede(Stage.ATTACK)
        orig = self.results.result(Row.ORIGINAL)
        if orig is None:
            return self._update_busy()
        how = "" if self.auto_attack else " — press Attack (Ctrl+Enter)"
        self.results.mark_stale(Row.ADVERSARIAL, "attack parameters changed" + how)
        self.results.mark_stale(Row.PURIFIED, "waiting for the adversarial image")
        if self.cache.attack(orig.path, self.state.attack_config().key()) is not None:
            return self._continue_attack()
        if self.auto_attack:
            self._attack_timer.start()
        self._update_busy()

    def _on_defense_changed(self) -> None:
        if self.state.attack_defense_aware and self._cached_attack() is None:
            return self._on_attack_changed()  # an attack crafted through the defense must follow it
        self.purify.defense_changed()

    def _start_explain(self) -> None:
        self.explainer.start()
        self._update_busy()

    # ----- classifier and batch ---------------------------------------------------------------------
    def _on_classifier_changed(self) -> None:
        self.cache.new_classifier()
        self.refresh()

    def _batch_stored(self, path: Path, story: str, key: tuple) -> None:
        self.summary_changed.emit(path, story, key)
        row = Row.PURIFIED if key[1] is not None else Row.ADVERSARIAL
        current = self.results.stage(row)
        if path == self.state.image and not current.current and key[0] == self.state.attack_config().key():
            self.refresh()

    def _batch_finished(self) -> None:
        self.batch_finished.emit()
        self._update_busy()
