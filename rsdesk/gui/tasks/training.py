"""Background dictionary training: the core's ``train_dictionary`` as a job of the one runner, with the
runner's progress / cancel / failure conventions and a time-left estimate on top.

Training takes minutes on a full image folder, so it runs on a pool thread with the core's cooperative
cancel token; the job never touches a widget. One training at a time: a second start while one runs is
refused (it would double the CPU load and race on the result), not superseded — unlike a pipeline stage, a
training is long, deliberate work the user started and would not want thrown away by a second click.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rsdesk.core.io.datasets import find_images
from rsdesk.core.io.files import ensure_writable_destination
from rsdesk.core.progress import check_cancel
from rsdesk.core.sparse.dictionary_file import Dictionary, save_dictionary
from rsdesk.core.sparse.training import TrainingConfig, train_dictionary
from rsdesk.gui.models.settings import data_dir
from rsdesk.gui.tasks.runner import JobContext, JobRunner, SoleJob

_CORE_ETA = re.compile(r",?\s*~(\d+(?:\.\d+)?) s left")
#: The runner slot of the (only) training.
SLOT = "dictionary training"
#: No estimate before this much of the work is done, and this much time has passed: the first images and
#: batches say little about the rest (caches warm up, extraction and learning run at different rates).
ESTIMATE_AFTER_FRACTION = 0.05
ESTIMATE_AFTER_S = 1.0
#: How fast the shown time left follows a new estimate (seconds: an exponential time constant) ...
SMOOTHING_S = 4.0
#: ... and how much faster than the clock it may count down: a new estimate far below the last one is
#: approached at this speed, never jumped to (2:21 → 0:03 at 23 % reads as a broken clock).
FASTEST_COUNTDOWN = 3.0


def format_time_left(seconds: float | None) -> str:
    """``0:41 left``, ``1:02:03 left``, or an honest "estimating" before there is a rate to go on."""
    if seconds is None:
        return "estimating time left"
    s = max(0, round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return (f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}") + " left"


class TimeLeft:
    """A time-left estimate that reads like a clock: none until enough is done to go on, then the rate over
    all the work so far (or the core's own measure of its learning rate, where it gives one), smoothed, and
    counting down at most :data:`FASTEST_COUNTDOWN` times as fast as real time. ``clock`` is for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.start()

    def start(self) -> None:
        self._t0 = self.clock()
        self._shown: float | None = None
        self._at = self._t0

    def update(self, fraction: float, core_left: float | None = None) -> float | None:
        """The seconds left to show after a progress report (None: still estimating)."""
        now = self.clock()
        elapsed = now - self._t0
        if self._shown is None and (fraction < ESTIMATE_AFTER_FRACTION or elapsed < ESTIMATE_AFTER_S):
            return None
        raw = core_left if core_left is not None else elapsed / max(fraction, 1e-9) * (1.0 - fraction)
        if self._shown is None:
            self._shown, self._at = max(0.0, raw), now
            return self._shown
        dt = max(0.0, now - self._at)
        counted = max(0.0, self._shown - dt)  # what the last estimate says by now
        follow = 1.0 - math.exp(-dt / SMOOTHING_S)
        shown = counted + follow * (raw - counted)
        self._shown = max(0.0, shown, self._shown - FASTEST_COUNTDOWN * dt)
        self._at = now
        return self._shown


def dictionary_file_name(config: TrainingConfig, when: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    return f"dictionary-{stamp}-h{config.h:g}-{config.n_atoms}.npz"


def train_to_file(
    folder: Path, config: TrainingConfig, out: Path, ctx: JobContext
) -> tuple[Path, Dictionary]:
    """The job: walk ``folder`` (here, off the GUI thread: a big tree takes a while), train, then save
    atomically — unless cancelled, even during the last batch.

    Skipped images arrive as partial results (their messages); failures are re-worded for the window.
    """
    images = find_images([folder], ctx.cancel).files
    if not images:
        raise ValueError(f"no usable images in {folder} (no image files found)")
    try:
        d = train_dictionary(images, config, progress=ctx.progress, cancel=ctx.cancel, on_skip=ctx.partial)
    except ValueError as exc:
        text = str(exc)
        if text.startswith("no usable training images"):
            detail = text.removeprefix("no usable training images").strip()
            text = f"no usable images in {folder}" + (f" {detail}" if detail else "")
        raise ValueError(text) from exc
    except MemoryError as exc:
        raise ValueError("not enough memory: use fewer patches per image or fewer images") from exc
    check_cancel(ctx.cancel)  # a cancel during the last batch still means "do not save"
    return save_dictionary(out, d), d


class DictionaryTrainer(SoleJob, QObject):
    """Trains a dictionary from a folder of images in the background, one training at a time.

    Signals in the runner's shapes: ``started``, ``progress(fraction, text with time left)``,
    ``skipped(message)`` per unusable image, then one of ``finished(path, dictionary)``,
    ``failed(message, details)``, ``cancelled``.
    """

    progress = Signal(float, str)
    finished = Signal(object, object)
    failed = Signal(str, str)
    cancelled = Signal()
    skipped = Signal(str)
    #: emitted when a training really begins (not for a refused start)
    started = Signal()

    def __init__(self, runner: JobRunner | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner if runner is not None else JobRunner(self)
        self._init_sole_job()
        self._clock = TimeLeft()

    # ----- control ----------------------------------------------------------------------------------
    def start(self, folder: Path, config: TrainingConfig) -> None:
        """Begin training from the images in ``folder``; problems arrive through ``failed``."""
        if self.is_running():
            self._fail_later("training already running")
            return
        folder = Path(folder).expanduser()
        problem = self._check(folder, config)
        if problem:
            self._fail_later(problem)
            return
        out = data_dir() / "dictionaries" / dictionary_file_name(config)
        n = 2
        while out.exists():  # two trainings within one second must not overwrite each other
            out = out.with_name(f"{dictionary_file_name(config).removesuffix('.npz')}-{n}.npz")
            n += 1
        try:  # a folder the dictionary cannot be saved in is found now, not after minutes of training
            out.parent.mkdir(parents=True, exist_ok=True)
            ensure_writable_destination(out)
        except OSError as exc:
            self._fail_later(f"cannot save {out}: {exc.strerror or exc}" if exc.filename else str(exc))
            return
        job = self.runner.submit(
            "Dictionary training", lambda ctx: train_to_file(folder, config, out, ctx), SLOT
        )
        job.progress.connect(self._on_progress)
        job.partial.connect(lambda text: self.skipped.emit(str(text)))
        job.succeeded.connect(lambda r: self._on_succeeded(*r))
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.finished.connect(lambda j=job: self._alive.discard(j))
        self._job = job
        self._alive.add(job)
        self._clock.start()
        self._time_left = None
        self.started.emit()

    @staticmethod
    def _check(folder: Path, config: TrainingConfig) -> str | None:
        """What can be refused at once, without reading the folder (its walk runs in the job)."""
        try:
            config.validate()
        except ValueError as exc:
            return f"invalid training settings: {exc}"
        if not folder.exists():
            return f"folder not found: {folder}"
        if not folder.is_dir():
            return f"{folder} is not a folder"
        return None

    # ----- results (GUI thread) ----------------------------------------------------------------------
    def _estimate(self, fraction: float, message: str) -> tuple[float | None, str]:
        m = _CORE_ETA.search(message)  # the core measures its own learning rate where it can
        core_left = float(m.group(1)) if m else None
        return self._clock.update(fraction, core_left), _CORE_ETA.sub("", message)

    def _on_progress(self, fraction: float, message: str) -> None:
        if self._job is None:
            return
        self._time_left, text = self._estimate(fraction, message)
        self.progress.emit(fraction, f"{text} · {format_time_left(self._time_left)}")

    def _end(self) -> None:
        self._job = None
        self._time_left = None

    def _on_succeeded(self, path: Path, dictionary: Dictionary) -> None:
        self._end()
        self.finished.emit(path, dictionary)

    def _on_failed(self, message: str, details: str) -> None:
        self._end()
        self.failed.emit(message, details)

    def _on_cancelled(self) -> None:
        self._end()
        self.cancelled.emit()
