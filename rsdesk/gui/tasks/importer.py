"""Bringing images in: walk the given files and folders (the core's one folder walk), decode every file on a
worker (thumbnail, classifier-size copy, true label), add the good ones to the gallery as they arrive, and
report every bad one in a single message at the end. Only regular files are opened (a named pipe would block
the worker for good), and Cancel ends an import at once, whatever its worker is doing."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rsdesk.core.errors import ImageError, error_text
from rsdesk.core.io.datasets import LabelLookup, find_images
from rsdesk.core.progress import check_cancel
from rsdesk.gui.models.gallery import GalleryItem, GalleryModel
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.runner import Job, JobContext, JobRunner

#: A dropped folder tree is cut off here (a message says so) rather than freezing on a whole disk.
MAX_FILES = 5000
#: Only the first images get their classifier-size copy now (the ones looked at first); the rest are
#: prepared when opened, so a thousand dropped images do not hold a thousand copies in memory.
PREPARED_FIRST = 16
#: Decoded images reach the gallery in batches at most this often (one insertion each, not one per file).
BATCH_S = 0.05


@dataclass(eq=False)
class _Request:
    """One import: what it added and what it could not use, until it ends (done or cancelled)."""

    job: Job
    size: int
    announce: bool
    added: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Importer(QObject):
    """Runs imports side by side; ``finished(added paths, problems)`` once per request, after the last file
    or on cancel, and one ``message`` saying what came in and what could not be used (never one per file).
    ``running_changed`` tells the window when Cancel applies."""

    finished = Signal(list, list)
    progress = Signal(float, str)
    message = Signal(str, str, str)  # kind, text, details
    running_changed = Signal(bool)

    def __init__(
        self,
        runner: JobRunner,
        gallery: GalleryModel,
        input_size: Callable[[], int],
        store: Callable[[Path, int, object], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.gallery = gallery
        self.input_size = input_size
        self.store = store  # (path, size, prepared image): the first look at an image needs no reload
        self._open: list[_Request] = []

    def is_running(self) -> bool:
        return bool(self._open)

    def import_paths(self, paths: list[Path], announce: bool = True) -> None:
        """Import in the background: even listing a big folder tree never blocks the window. With
        ``announce`` off, only problems are reported (the images the app opens with need no message)."""
        paths = [Path(p) for p in paths]
        existing = frozenset(self.gallery.paths())
        size = self.input_size()

        def work(ctx: JobContext) -> None:
            files, problems = find_images(paths, ctx.cancel, limit=MAX_FILES)
            if problems:
                ctx.partial(list(problems))
            files = [f for f in files if f not in existing]
            batch: list[object] = []
            label_of = LabelLookup(batch.append)  # a broken labels.csv joins the import's problems
            sent = time.monotonic()
            for i, path in enumerate(files):
                check_cancel(ctx.cancel)
                try:
                    # load_image refuses a pipe before opening it (core/files.require_regular_file)
                    batch.append(stages.import_image(path, size, label_of, prepare=i < PREPARED_FIRST))
                except (ImageError, OSError, ValueError) as exc:
                    batch.append(error_text(exc))
                if i == 0 or i == len(files) - 1 or time.monotonic() - sent >= BATCH_S:
                    ctx.partial(batch)  # one gallery insertion per batch: the window stays responsive
                    batch, sent = [], time.monotonic()
                ctx.progress((i + 1) / len(files), f"importing {path.name}")

        req = _Request(self.runner.submit("Import", work), size, announce)
        self._open.append(req)
        req.job.partial.connect(lambda item: self._arrived(req, item))
        req.job.progress.connect(self.progress)
        req.job.failed.connect(lambda m, _d: req.problems.append(m))
        req.job.finished.connect(lambda: self._end(req, cancelled=False))
        if len(self._open) == 1:
            self.running_changed.emit(True)

    def cancel(self) -> None:
        """Stop every import now: what arrived stays, the rest is dropped. The window does not wait for the
        workers: one stuck in a read that never returns is left behind, its late results ignored."""
        for req in list(self._open):
            req.job.supersede()
            self._end(req, cancelled=True)

    def _arrived(self, req: _Request, batch: list[object]) -> None:
        items: list[GalleryItem] = []
        for item in batch:
            if isinstance(item, str):
                req.problems.append(item)
            else:
                assert isinstance(item, stages.ImportedImage)
                items.append(GalleryItem(item.path, item.thumbnail, item.true_label, item.size))
                if item.prepared is not None:
                    self.store(item.path, req.size, item.prepared)
        # two imports of the same file may race: the gallery keeps the first
        req.added.extend(i.path for i in self.gallery.add_many(items))

    def _end(self, req: _Request, cancelled: bool) -> None:
        if req not in self._open:  # a cancelled import's worker ended later: it was reported already
            return
        self._open.remove(req)
        added, problems = req.added, req.problems
        if cancelled:
            text = f"Import cancelled: added {len(added)} image(s)"
            if problems:
                text += f"; {len(problems)} could not be used: {problems[0]}"
            self.message.emit(
                "warning" if problems else "info", text + ("" if problems else "."), "\n".join(problems)
            )
        elif problems:
            head = f"Added {len(added)} image(s); {len(problems)} could not be used"
            self.message.emit("warning" if added else "error", f"{head}: {problems[0]}", "\n".join(problems))
        elif added and req.announce:
            self.message.emit("info", f"Added {len(added)} image(s).", "")
        if not self._open:
            self.running_changed.emit(False)
        self.finished.emit(added, problems)
