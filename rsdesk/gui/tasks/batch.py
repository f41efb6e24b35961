"""Attack Selected: attack (and purify) many images in one background job, filling the stage cache as each
image is done, so stepping to any of them afterwards shows its results at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rsdesk.core.verdicts import verdict_story
from rsdesk.gui.models.configs import AttackConfig, DefenseConfig, summary_key
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.cache import StageCache
from rsdesk.gui.tasks.runner import JobContext, JobRunner

#: The runner slot of the batch: a new batch supersedes the running one.
SLOT = "batch attack"


class BatchAttack(QObject):
    """One batch at a time; reports each image as it is stored and a summary message at the end."""

    #: an image's results are in the cache: path, verdict story, the settings it holds for
    stored = Signal(object, str, object)
    progress = Signal(float, str)
    message = Signal(str, str, str)  # kind, text, details
    finished = Signal()

    def __init__(
        self,
        runner: JobRunner,
        cache: StageCache,
        label_of: Callable[[Path], int | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.cache = cache
        self.label_of = label_of

    def is_running(self) -> bool:
        return self.runner.running(SLOT) is not None

    def cancel(self) -> None:
        job = self.runner.running(SLOT)
        if job is not None:
            job.cancel()

    def start(self, model: object, paths: list[Path], cfg: AttackConfig, dcfg: DefenseConfig) -> None:
        """Attack every image in ``paths`` with ``cfg`` and purify it with ``dcfg`` (if on)."""
        epoch, cache, size = self.cache.epoch, self.cache, model.input_size
        label_of = self.label_of
        items = [stages.BatchItem(p, cache.image(p, size), label_of(p), cache.original(p)) for p in paths]

        def work(ctx: JobContext) -> stages.BatchCounts:
            return stages.run_batch(model, items, cfg, dcfg, ctx.progress, ctx.cancel, ctx.partial)

        job = self.runner.submit("Batch attack", work, SLOT)
        job.partial.connect(lambda item: self._store(epoch, cfg, dcfg, item))
        job.progress.connect(self.progress)
        job.succeeded.connect(lambda counts: self._done(cfg, dcfg, counts))
        job.failed.connect(lambda m, d: self.message.emit("error", f"Batch attack failed: {m}", d))
        job.cancelled.connect(lambda: self.message.emit("info", "Batch attack cancelled.", ""))
        job.finished.connect(self.finished)

    def _store(self, epoch: int, cfg: AttackConfig, dcfg: DefenseConfig, item: stages.BatchOutcome) -> None:
        if epoch != self.cache.epoch:  # made with a classifier that is gone
            return
        path, atk, pur = item.path, item.attack, item.purified
        if item.error:
            self.message.emit("error", f"{path.name}: {item.error}", "")
            return
        self.cache.put_original(path, item.original)
        self.cache.put_attack(path, cfg.key(), atk)
        if pur is not None:
            self.cache.put_purified(path, cfg.key(), dcfg.key(), pur)
        story = verdict_story(atk.judgement.verdict, pur.judgement.verdict if pur is not None else None)
        self.stored.emit(path, story, summary_key(cfg, dcfg))

    def _done(self, cfg: AttackConfig, dcfg: DefenseConfig, counts: stages.BatchCounts) -> None:
        c = counts
        text = f"Batch {cfg.describe()}: fooled {c.fooled}/{c.done - c.misclassified}"
        if c.misclassified:  # nothing to fool there: counted apart, as the panels say "misclassified"
            text += f" ({c.misclassified} misclassified before the attack)"
        if dcfg.enabled:
            text += f"; {dcfg.title} recovered {c.recovered}/{c.fooled}" if c.fooled else ""
            text += f"; defense beaten on {c.beaten}" if c.beaten else ""
        if c.failed:
            text += f"; {c.failed} image(s) failed"
        self.message.emit("info", text + ".", "")
