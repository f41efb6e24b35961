"""The controller that runs the stages for the current image as superseding background jobs.

Stages, in the one direction data flows: ORIGINAL (load, classify) → ATTACK (attack, classify) → PURIFY
(purify, classify) → EXPLAIN (CAMs, activation profiles). Every stage has a generation counter. A new
request for a stage bumps its generation and every later one's, cancels their jobs and greys their rows
(stale); a job's result is accepted only if its generation is still the current one, so a late result of
a superseded job can never land on the panels. Results are cached by everything they depend on.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from rsdesk.gui import jobs
from rsdesk.gui.cache import LRU
from rsdesk.gui.results_model import ResultsModel, Row, Status
from rsdesk.gui.state import AppState
from rsdesk.gui.workers import Job, JobContext, JobRunner


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
PURIFY_DEBOUNCE_MS = 80


def summary_text(attack: jobs.AttackResult, purified: jobs.PurifyResult | None) -> str:
    """``FOOLED → RECOVERED``: the story of one image, for the gallery."""
    text = attack.judgement.verdict.value
    if purified is not None:
        text += " → " + purified.judgement.verdict.value
    return text


class Pipeline(QObject):
    """Runs and supersedes the stages for ``state.image``, writing into a :class:`ResultsModel`."""

    failed = Signal(str, str)  # message, details
    info = Signal(str)
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
        self.want_profiles = False
        self._gen = [0 for _ in Stage]
        self._jobs: list[Job | None] = [None for _ in Stage]
        self._batch: Job | None = None
        self._epoch = 0  # bumped when the classifier changes: keys every cached result
        self._pending_attack = False
        self._busy = False
        self.images: LRU = LRU(96)
        self._originals: LRU = LRU(256)
        self._attacks: LRU = LRU(128)
        self._purified: LRU = LRU(64)
        self._attack_timer = self._timer(ATTACK_DEBOUNCE_MS, self._continue_attack)
        self._purify_timer = self._timer(PURIFY_DEBOUNCE_MS, self._continue_purify)
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
        self._bump(Stage.ORIGINAL)
        self._attack_timer.stop()
        self._purify_timer.stop()
        path, model = self.state.image, self.state.classifier
        for row in (Row.ADVERSARIAL, Row.PURIFIED):
            self.results.clear(row, "waiting for the original")
        if path is None:
            self.results.clear(Row.ORIGINAL, "drop images here, or File ▸ Open")
            return self._update_busy()
        if model is None:
            self.results.clear(Row.ORIGINAL, "loading the classifier…")
            return self._update_busy()
        cached = self._originals.get(self._key(path))
        if cached is not None:
            return self._show_original(cached)
        self.results.update(Row.ORIGINAL, status=Status.BUSY, result=None, message="loading…", progress=0.0)
        image = self.images.get((path, model.input_size))
        label = self.label_of(path)
        self._submit(
            Stage.ORIGINAL,
            lambda ctx: jobs.run_original(model, path, image, label, ctx.progress, ctx.cancel),
            self._original_done,
        )

    def attack_now(self) -> None:
        """Attack the current image with the current parameters (re-runs even if a result is cached)."""
        if self.results.result(Row.ORIGINAL) is None:
            self._pending_attack = True  # runs as soon as the original is classified
            return
        self._start_attack()

    def cancel(self) -> None:
        """Stop the attack (and what follows it) and any batch; what was shown stays, greyed."""
        if self._batch is not None:
            self._batch.cancel()
        attacking, purifying = self._jobs[Stage.ATTACK] is not None, self._jobs[Stage.PURIFY] is not None
        self._attack_timer.stop()
        self._purify_timer.stop()
        self._pending_attack = False
        if attacking:
            self._bump(Stage.ATTACK)
            self.results.mark_stale(Row.ADVERSARIAL, "attack cancelled — press Attack (Ctrl+Enter)")
            self.results.mark_stale(Row.PURIFIED, "attack cancelled")
            self.info.emit("Attack cancelled.")
        elif purifying:  # the attack result is still current; only the purification stops
            self._bump(Stage.PURIFY)
            self.results.mark_stale(Row.PURIFIED, "purification cancelled — Ctrl+Enter runs it all again")
            self.info.emit("Purification cancelled.")
        self._update_busy()

    def set_auto_attack(self, on: bool) -> None:
        self.auto_attack = bool(on)
        if on and self.results.stage(Row.ADVERSARIAL).status is not Status.CURRENT:
            self._continue_attack()

    def set_want_profiles(self, on: bool) -> None:
        """Activation profiles cost a forward pass per image: only computed while someone looks at them."""
        self.want_profiles = bool(on)
        if on:
            self._start_explain()

    @staticmethod
    def summary_key(attack: object, defense: object) -> tuple:
        """What a gallery verdict story depends on: the attack, and the defense if it was on."""
        return (attack.key(), defense.key() if defense.enabled else None)

    def current_summary_key(self) -> tuple:
        return self.summary_key(self.state.attack_config(), self.state.defense_config())

    def cancellable(self) -> bool:
        """Whether there is an attack (or what follows it, or a batch) that Cancel would stop."""
        stages = (Stage.ATTACK, Stage.PURIFY)
        return self._batch is not None or self._attack_timer.isActive() or any(self._jobs[s] for s in stages)

    def is_idle(self) -> bool:
        return not self._busy_now()

    def shutdown(self, msecs: int = 10000) -> bool:
        """Cancel everything and wait for the worker threads (window close)."""
        self._attack_timer.stop()
        self._purify_timer.stop()
        self._bump(Stage.ORIGINAL)
        if self._batch is not None:
            self._batch.cancel()
        self.runner.cancel_all()
        return self.runner.wait(msecs)

    # ----- generations and jobs -------------------------------------------------------------------------
    def _key(self, path: Path, *more: object) -> tuple:
        return (str(path), self._epoch, *more)

    def _bump(self, first: Stage) -> None:
        for s in Stage:
            if s >= first:
                self._gen[s] += 1
                job = self._jobs[s]
                if job is not None:
                    job.cancel()
                    self._jobs[s] = None

    def _submit(self, stage: Stage, fn: Callable[[JobContext], object], on_result: Callable) -> None:
        gen = self._gen[stage]
        job = self.runner.submit(STAGE_TITLES[stage], fn)
        self._jobs[stage] = job
        job.progress.connect(lambda f, m: self._on_progress(stage, gen, f, m))
        job.succeeded.connect(lambda r: self._accept(stage, gen, on_result, r))
        job.failed.connect(lambda m, d: self._on_failed(stage, gen, m, d))
        job.finished.connect(self._update_busy)
        self._update_busy()

    def _current(self, stage: Stage, gen: int) -> bool:
        return gen == self._gen[stage]

    def _accept(self, stage: Stage, gen: int, on_result: Callable, result: object) -> None:
        if not self._current(stage, gen):
            return  # superseded: a newer request owns this stage
        self._jobs[stage] = None
        on_result(result)
        self.stage_finished.emit(int(stage), result)
        self._update_busy()

    def _on_progress(self, stage: Stage, gen: int, fraction: float, message: str) -> None:
        if self._current(stage, gen) and stage != Stage.EXPLAIN:
            self.results.update(Row(int(stage)), progress=fraction, message=message)

    def _on_failed(self, stage: Stage, gen: int, message: str, details: str) -> None:
        if not self._current(stage, gen):
            return
        self._jobs[stage] = None
        if stage == Stage.EXPLAIN:
            for row in Row:
                self.results.update(row, explaining=False)
        else:
            row = Row(int(stage))
            self.results.update(row, status=Status.FAILED, message=message, details=details, progress=0.0)
            for later in Row:
                if later > row:
                    self.results.clear(later, f"{STAGE_TITLES[stage].lower()} failed")
        self.failed.emit(f"{STAGE_TITLES[stage]} failed: {message}", details)
        self._update_busy()

    def _busy_now(self) -> bool:
        return (
            any(j is not None for j in self._jobs)
            or self._batch is not None
            or self._attack_timer.isActive()
            or self._purify_timer.isActive()
        )

    def _update_busy(self) -> None:
        busy = self._busy_now()
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    # ----- stage: original --------------------------------------------------------------------------
    def _original_done(self, res: jobs.OriginalResult) -> None:
        self._originals.put(self._key(res.path), res)
        self.images.put((res.path, res.image.shape[0]), res.image)
        self._show_original(res)

    def _show_original(self, res: jobs.OriginalResult) -> None:
        self.results.update(Row.ORIGINAL, status=Status.CURRENT, result=res, message="", progress=1.0)
        if self._pending_attack:
            self._pending_attack = False
            return self._start_attack()
        self._continue_attack()

    # ----- stage: attack ----------------------------------------------------------------------------
    def _continue_attack(self) -> None:
        """Show the cached attack for the current parameters, else attack (if automatic) or say how."""
        self._attack_timer.stop()
        orig = self.results.result(Row.ORIGINAL)
        if orig is None:
            return self._update_busy()
        cached = self._attacks.get(self._key(orig.path, self.state.attack_config().key()))
        if cached is not None:
            self._bump(Stage.ATTACK)
            return self._show_attack(cached)
        if self.auto_attack:
            return self._start_attack()
        self.results.mark_stale(Row.ADVERSARIAL, "press Attack (Ctrl+Enter) to craft an adversarial image")
        self.results.mark_stale(Row.PURIFIED, "no adversarial image yet")
        self._start_explain()
        self._update_busy()

    def _start_attack(self) -> None:
        self._attack_timer.stop()
        self._bump(Stage.ATTACK)
        orig = self.results.result(Row.ORIGINAL)
        model = self.state.classifier
        if orig is None or model is None:
            return
        cfg = self.state.attack_config()
        dcfg = self.state.defense_config() if cfg.defense_aware else None
        self.results.update(Row.ADVERSARIAL, status=Status.BUSY, progress=0.0, message=cfg.describe())
        self.results.mark_stale(Row.PURIFIED, "waiting for the adversarial image")
        self._submit(
            Stage.ATTACK,
            lambda ctx: jobs.run_attack(model, orig, cfg, dcfg, ctx.progress, ctx.cancel),
            self._attack_done,
        )

    def _attack_done(self, res: jobs.AttackResult) -> None:
        orig = self.results.result(Row.ORIGINAL)
        self._attacks.put(self._key(orig.path, res.config.key()), res)
        self._show_attack(res)

    def _show_attack(self, res: jobs.AttackResult) -> None:
        self.results.update(Row.ADVERSARIAL, status=Status.CURRENT, result=res, message="", progress=1.0)
        self._continue_purify()

    def _on_attack_changed(self) -> None:
        # Whatever was computed with the old parameters is out of date from this moment on.
        self._bump(Stage.ATTACK)
        if self.results.result(Row.ORIGINAL) is None:
            return self._update_busy()
        how = "" if self.auto_attack else " — press Attack (Ctrl+Enter)"
        self.results.mark_stale(Row.ADVERSARIAL, "attack parameters changed" + how)
        self.results.mark_stale(Row.PURIFIED, "waiting for the adversarial image")
        orig = self.results.result(Row.ORIGINAL)
        if self._attacks.get(self._key(orig.path, self.state.attack_config().key())) is not None:
            return self._continue_attack()
        if self.auto_attack:
            self._attack_timer.start()
        self._update_busy()

    # ----- stage: purify ----------------------------------------------------------------------------
    def _continue_purify(self) -> None:
        self._purify_timer.stop()
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        dcfg = self.state.defense_config()
        if not dcfg.enabled:
            return self._purify_off()
        if orig is None or adv is None:
            return self._update_busy()
        cached = self._purified.get(self._key(orig.path, adv.config.key(), dcfg.key()))
        if cached is not None:
            self._bump(Stage.PURIFY)
            return self._show_purified(cached)
        self._start_purify()

    def _purify_off(self) -> None:
        self._bump(Stage.PURIFY)
        message = "defense off — press D to turn it on"
        self.results.update(Row.PURIFIED, status=Status.OFF, result=None, progress=0.0, message=message)
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        if orig is not None and adv is not None:
            key = self.summary_key(adv.config, self.state.defense_config())
            self.summary_changed.emit(orig.path, summary_text(adv, None), key)
        self._start_explain()

    def _start_purify(self) -> None:
        self._bump(Stage.PURIFY)
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        model, dcfg = self.state.classifier, self.state.defense_config()
        if orig is None or adv is None or model is None:
            return
        self.results.update(Row.PURIFIED, status=Status.BUSY, progress=0.0, message=dcfg.title)
        self._submit(
            Stage.PURIFY,
            lambda ctx: jobs.run_purify(model, orig, adv, dcfg, ctx.progress, ctx.cancel),
            self._purify_done,
        )

    def _purify_done(self, res: jobs.PurifyResult) -> None:
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        self._purified.put(self._key(orig.path, adv.config.key(), res.defense.key()), res)
        self._show_purified(res)

    def _show_purified(self, res: jobs.PurifyResult) -> None:
        self.results.update(Row.PURIFIED, status=Status.CURRENT, result=res, message="", progress=1.0)
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        self.summary_changed.emit(
            orig.path, summary_text(adv, res), self.summary_key(adv.config, res.defense)
        )
        self._start_explain()

    def _on_defense_changed(self) -> None:
        if self.state.attack == "bpda":
            return self._on_attack_changed()  # a defense-aware attack must adapt to the new defense
        self._bump(Stage.PURIFY)
        if not self.state.defense_enabled:
            return self._purify_off()  # switching off needs no work: say so at once
        if self.results.result(Row.ADVERSARIAL) is None:
            return self._update_busy()
        self.results.mark_stale(Row.PURIFIED, "defense parameters changed")
        self._purify_timer.start()
        self._update_busy()

    # ----- stage: explain ---------------------------------------------------------------------------
    def _start_explain(self) -> None:
        self._bump(Stage.EXPLAIN)
        model = self.state.classifier
        targets = {}
        for row in Row:
            res = self.results.result(row)
            if res is not None and (res.cam is None or (self.want_profiles and res.profile is None)):
                targets[row.name] = res
        if model is None or not targets:
            self.explained.emit()
            return self._update_busy()
        for name in targets:
            self.results.update(Row[name], explaining=True)
        images = {name: res.image for name, res in targets.items()}
        want = self.want_profiles
        self._submit(
            Stage.EXPLAIN,
            lambda ctx: jobs.run_explain(model, images, want, ctx.progress, ctx.cancel),
            lambda out: self._explain_done(targets, out),
        )

    def _explain_done(self, targets: dict[str, object], out: jobs.ExplainResult) -> None:
        for name, res in targets.items():
            res.cam = out.cams.get(name, res.cam)
            res.profile = out.profiles.get(name, res.profile)
            row = Row[name]
            self.results.update(row, explaining=False)
            self.results.touch(row)
        self.explained.emit()

    # ----- classifier -------------------------------------------------------------------------------
    def _on_classifier_changed(self) -> None:
        self._epoch += 1
        self._originals.clear()
        self._attacks.clear()
        self._purified.clear()
        self.refresh()

    # ----- batch ------------------------------------------------------------------------------------
    def attack_paths(self, paths: list[Path]) -> None:
        """Attack (and purify) every image in ``paths`` in one background job, filling the caches."""
        model = self.state.classifier
        if model is None or not paths:
            return
        if self._batch is not None:
            self._batch.cancel()
        cfg, dcfg, epoch = self.state.attack_config(), self.state.defense_config(), self._epoch
        items = [
            jobs.BatchItem(
                p, self.images.get((p, model.input_size)), self.label_of(p), self._originals.get(self._key(p))
            )
            for p in paths
        ]

        def work(ctx: JobContext) -> tuple[int, int, int, int]:
            return jobs.run_batch(model, items, cfg, dcfg, ctx.progress, ctx.cancel, ctx.partial)

        job = self.runner.submit("Batch attack", work)
        self._batch = job
        job.partial.connect(lambda item: self._batch_item(epoch, cfg, dcfg, item))
        job.progress.connect(self.batch_progress.emit)
        job.succeeded.connect(lambda counts: self._batch_done(cfg, dcfg, counts))
        job.failed.connect(lambda m, d: self.failed.emit(f"Batch attack failed: {m}", d))
        job.cancelled.connect(lambda: self.info.emit("Batch attack cancelled."))
        job.finished.connect(lambda: self._batch_finished(job))
        self._update_busy()

    def _batch_item(self, epoch: int, cfg: object, dcfg: object, item: jobs.BatchOutcome) -> None:
        path, orig, atk, pur = item.path, item.original, item.attack, item.purified
        if epoch != self._epoch:
            return
        if item.error:
            self.failed.emit(f"{path.name}: {item.error}", "")
            return
        self._originals.put(self._key(path), orig)
        self._attacks.put(self._key(path, cfg.key()), atk)
        if pur is not None:
            self._purified.put(self._key(path, cfg.key(), dcfg.key()), pur)
        self.summary_changed.emit(path, summary_text(atk, pur), self.summary_key(cfg, dcfg))
        current = self.results.stage(Row.PURIFIED if pur is not None else Row.ADVERSARIAL)
        if path == self.state.image and not current.current and cfg.key() == self.state.attack_config().key():
            self.refresh()

    def _batch_done(self, cfg: object, dcfg: object, counts: tuple[int, int, int, int]) -> None:
        n, fooled, recovered, failed = counts
        text = f"Batch {cfg.describe()}: fooled {fooled}/{n}"
        if dcfg.enabled:
            text += f"; {dcfg.title} recovered {recovered}/{fooled}" if fooled else ""
        if failed:
            text += f"; {failed} image(s) failed"
        self.info.emit(text + ".")

    def _batch_finished(self, job: Job) -> None:
        if self._batch is job:
            self._batch = None
        self.batch_finished.emit()
        self._update_busy()
