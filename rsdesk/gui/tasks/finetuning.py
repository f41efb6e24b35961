"""Fine-tuning the classifier in the background: the core's ``finetune`` as a job of the one runner, with
the runner's progress / cancel / failure conventions, a time-left estimate and each epoch's report.

A fine-tune takes minutes, so it runs on a pool thread with the core's cooperative cancel token and never
touches a widget: epoch reports and skipped images travel as the job's partial results, which the runner
delivers on the GUI thread. One fine-tune at a time: a second start while one runs is refused, not
superseded (like a dictionary training, it is long, deliberate work a second click must not throw away).
A cancel keeps the core's last epoch checkpoint, so the same start later resumes; the cancelled message says
from which epoch.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rsdesk.core.io.datasets import find_images
from rsdesk.core.io.files import ensure_writable_destination
from rsdesk.core.training.checkpoint import Checkpoint
from rsdesk.core.training.finetune import EpochReport, FinetuneConfig, FinetuneResult, finetune
from rsdesk.gui.models.settings import data_dir
from rsdesk.gui.tasks.runner import JobContext, JobRunner, SoleJob
from rsdesk.gui.tasks.training import format_time_left

#: The runner slot of the (only) fine-tune.
SLOT = "classifier fine-tuning"
#: ``failed``'s message for a refused second start (the running fine-tune goes on).
ALREADY_RUNNING = "fine-tuning already running"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def _run_key(folders: Sequence[Path], config: FinetuneConfig, out: Path) -> str:
    """What makes two starts "the same run" (the core resumes the one from the other)."""
    settings = asdict(config)
    settings.pop("device")  # a resume elsewhere is allowed
    if not config.adversarial:
        settings.pop("eps")  # only FGSM's ε
    text = json.dumps([str(out), settings, sorted(str(Path(f).expanduser()) for f in folders)], default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_output(config: FinetuneConfig, folders: Sequence[Path]) -> Path:
    """``data_dir()/models/efficientnet-lite0-regionsparse-bn-3ep-1a2b3c4d.pth``: readable, and the same
    for the same settings and folders, so running again finds the finished model or resumes the cancelled
    one, while other settings never overwrite it (the hash covers everything the name leaves out)."""
    adversarial = f"+{config.adversarial}{config.eps:g}" if config.adversarial else ""
    digest = _run_key(folders, config, Path())[:8]
    stem = f"{config.classifier}-{config.transform or 'clean'}{adversarial}-{config.train}-{config.epochs}ep"
    return data_dir() / "models" / f"{_UNSAFE.sub('_', stem)}-{digest}.pth"


def finetune_folders(
    folders: Sequence[Path], config: FinetuneConfig, out: Path, ctx: JobContext
) -> FinetuneResult:
    """The job: walk the folders (off the GUI thread: a big tree takes a while), then fine-tune.

    Partial results: one ``str`` per image left out, each :class:`EpochReport` as its epoch ends, and the
    result itself just before returning — a cancel that lands after the core saved the model still
    delivers the model.
    """
    ctx.progress(0.0, "looking for images")
    found = find_images(folders, ctx.cancel)
    for problem in found.problems:
        ctx.partial(problem)
    if not found.files:
        raise ValueError(f"no usable images in {', '.join(str(f) for f in folders)} (no image files found)")
    ctx.progress(0.0, f"loading {config.classifier}")
    try:
        result = finetune(
            found.files, config, out, progress=ctx.progress, cancel=ctx.cancel, on_epoch=ctx.partial,
            on_problem=ctx.partial,
        )  # fmt: skip
    except MemoryError as exc:
        raise ValueError("not enough memory: use fewer images or a smaller batch") from exc
    ctx.partial(result)
    return result


def _percent(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f}%"


def result_summary(result: FinetuneResult, transform_title: str | None = None) -> str:
    """One line for the window: the model file, and validation top-1 before → after (the kept epoch), clean
    and through the transform (its title from the result's metadata unless given)."""
    if transform_title is None:
        transform = result.metadata.get("transform")
        transform_title = transform.get("title") if isinstance(transform, dict) else None
    head = (
        f"Already done: {result.out.name} was made with these settings and images. "
        if result.already_done
        else f"Fine-tuned model saved: {result.out.name}. "
    )
    kept = next((r for r in result.reports if r.best), result.reports[-1] if result.reports else None)
    if kept is None or kept.val_clean is None:
        return head + "No validation images to compare (too few images to hold some back)."
    text = f"Validation top-1 on {kept.val_images} images, before → after (epoch {kept.epoch} kept): clean "
    text += f"{_percent(kept.val_clean_before)} → {_percent(kept.val_clean)}"
    if transform_title and kept.val_transformed is not None:
        text += f", through {transform_title} "
        text += f"{_percent(kept.val_transformed_before)} → {_percent(kept.val_transformed)}"
    return head + text + "."


class FineTuner(SoleJob, QObject):
    """Fine-tunes the classifier on folders of images in the background, one fine-tune at a time.

    Signals: ``started``, ``progress(fraction, text with time left)``, ``epoch(EpochReport)`` as each epoch
    ends, ``skipped(message)`` per image left out, then one of ``finished(FinetuneResult)``,
    ``failed(message, details)``, ``cancelled(message)`` (which says how running again resumes).
    """

    started = Signal()
    progress = Signal(float, str)
    epoch = Signal(object)
    skipped = Signal(str)
    finished = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal(str)

    def __init__(self, runner: JobRunner | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner if runner is not None else JobRunner(self)
        self._init_sole_job()
        self._key = ""
        self._out: Path | None = None
        self._result: FinetuneResult | None = None
        #: the last finished epoch of each run (by :func:`_run_key`) that was cancelled: where it resumes
        self._epochs_done: dict[str, int] = {}
        self._t0 = 0.0
        self._anchor: tuple[float, float] | None = None

    # ----- control ----------------------------------------------------------------------------------
    def start(self, folders: Sequence[Path], config: FinetuneConfig, out: Path | None = None) -> bool:
        """Begin fine-tuning on the images under ``folders`` into ``out`` (None: :func:`default_output`).

        False when refused (already running, bad settings, a folder or output that cannot work): the reason
        arrives through ``failed``, as every other outcome, after control returns to the event loop.
        """
        if self.is_running():
            self._fail_later(ALREADY_RUNNING)
            return False
        folders = [Path(f).expanduser() for f in folders]
        out = Path(out).expanduser() if out is not None else default_output(config, folders)
        problem = self._check(folders, config, out)
        if problem:
            self._fail_later(problem)
            return False
        job = self.runner.submit(
            "Classifier fine-tuning", lambda ctx: finetune_folders(folders, config, out, ctx), SLOT
        )
        job.progress.connect(self._on_progress)
        job.partial.connect(self._on_partial)
        job.succeeded.connect(self._on_succeeded)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.finished.connect(lambda j=job: self._alive.discard(j))
        self._job, self._key, self._out, self._result = job, _run_key(folders, config, out), out, None
        self._alive.add(job)
        self._t0, self._anchor, self._time_left = time.monotonic(), None, None
        self.started.emit()
        return True

    @staticmethod
    def _check(folders: Sequence[Path], config: FinetuneConfig, out: Path) -> str | None:
        """What can be refused at once, without reading a folder (the walk runs in the job)."""
        try:
            config.validate()
        except ValueError as exc:
            return f"invalid fine-tuning settings: {exc}"
        if not folders:
            return "choose at least one folder of images"
        for folder in folders:
            if not folder.exists():
                return f"folder not found: {folder}"
            if not folder.is_dir():
                return f"{folder} is not a folder"
        if out.suffix.lower() == ".json":
            return f"{out.name}: the model file cannot be a .json (its metadata goes beside it)"
        try:  # an output that cannot be written is found now, not after minutes of training
            out.parent.mkdir(parents=True, exist_ok=True)
            ensure_writable_destination(out)
        except OSError as exc:
            return f"cannot save {out}: {exc.strerror or exc}" if exc.filename else str(exc)
        return None

    def output(self) -> Path | None:
        """The model file of the running (or last started) fine-tune."""
        return self._out

    # ----- results (GUI thread) ----------------------------------------------------------------------
    def _estimate(self, fraction: float) -> float | None:
        """From the first report past 0 on (before it: reading images and loading the model, whose pace
        says nothing about the training's)."""
        now = time.monotonic()
        if fraction <= 0.0:
            return None
        if self._anchor is None:
            self._anchor = (now, fraction)
            return None
        t, f = self._anchor
        if fraction > f and now - t > 0.5:
            return (now - t) / (fraction - f) * (1.0 - fraction)
        return self._time_left

    def _on_progress(self, fraction: float, message: str) -> None:
        if self._job is None:
            return
        self._time_left = self._estimate(fraction)
        self.progress.emit(fraction, f"{message} · {format_time_left(self._time_left)}")

    def _on_partial(self, value: object) -> None:
        if isinstance(value, EpochReport):
            self._epochs_done[self._key] = value.epoch
            self.epoch.emit(value)
        elif isinstance(value, FinetuneResult):
            self._result = value
        else:
            self.skipped.emit(str(value))

    def _end(self) -> None:
        self._job = None
        self._time_left = None

    def _on_succeeded(self, result: FinetuneResult) -> None:
        self._end()
        self._epochs_done.pop(self._key, None)
        self.finished.emit(result)

    def _on_failed(self, message: str, details: str) -> None:
        self._end()
        self.failed.emit(message, details)

    def _on_cancelled(self) -> None:
        self._end()
        if self._result is not None:  # the cancel came after the model was saved: it is finished
            self._on_succeeded(self._result)
            return
        done = self._epochs_done.get(self._key, 0)
        if done:
            text = f"stopped after epoch {done}: run again to resume from epoch {done + 1}"
        elif self._out is not None and Checkpoint.beside(self._out, "").path.is_file():
            text = "no epoch finished in this run: run again to resume after the last saved epoch"
        else:
            text = "stopped before the first epoch finished: running again starts from epoch 1"
        self.cancelled.emit(text)
