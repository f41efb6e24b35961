"""Bringing images in: expand folders, decode every file on a worker (thumbnail, classifier-size copy, true
label), add the good ones to the gallery as they arrive, and report every bad one in a single message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rsdesk.core.images import ImageError
from rsdesk.core.progress import check_cancel
from rsdesk.gui import jobs
from rsdesk.gui.dropping import expand_paths
from rsdesk.gui.gallery_model import GalleryItem, GalleryModel
from rsdesk.gui.qimage import to_qimage
from rsdesk.gui.workers import JobContext, JobRunner


class Importer(QObject):
    """Runs imports; ``finished(added paths, problems)`` once per request, after the last file."""

    finished = Signal(list, list)
    progress = Signal(float, str)

    def __init__(
        self,
        runner: JobRunner,
        gallery: GalleryModel,
        input_size: Callable[[], int],
        store: Callable[[tuple, object], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.gallery = gallery
        self.input_size = input_size
        self.store = store  # (path, size) → prepared image, so the first look at an image needs no reload
        self._running = 0

    def is_running(self) -> bool:
        return self._running > 0

    def import_paths(self, paths: list[Path]) -> None:
        """Import in the background: even listing a big folder tree never blocks the window."""
        paths = [Path(p) for p in paths]
        existing = frozenset(self.gallery.paths())
        size = self.input_size()

        def work(ctx: JobContext) -> None:
            files, problems = expand_paths(paths, ctx.cancel)
            for problem in problems:
                ctx.partial(problem)
            files = [f for f in files if f not in existing]
            csv_cache: dict[Path, dict[str, int]] = {}
            for i, path in enumerate(files):
                check_cancel(ctx.cancel)
                try:
                    ctx.partial(jobs.import_image(path, size, csv_cache))
                except (ImageError, OSError, ValueError) as exc:
                    ctx.partial(jobs.error_text(exc))
                ctx.progress((i + 1) / len(files), f"importing {path.name}")

        added: list[Path] = []
        problems: list[str] = []
        self._running += 1
        job = self.runner.submit("Import", work)
        job.partial.connect(lambda item: self._arrived(item, size, added, problems))
        job.progress.connect(self.progress)
        job.failed.connect(lambda m, _d: problems.append(m))
        job.finished.connect(lambda: self._done(added, problems))

    def _arrived(self, item: object, size: int, added: list[Path], problems: list[str]) -> None:
        if isinstance(item, str):
            problems.append(item)
            return
        assert isinstance(item, jobs.ImportedImage)
        if item.path in self.gallery:  # two imports of the same file raced
            return
        self.gallery.add(GalleryItem(item.path, to_qimage(item.thumbnail), item.true_label, item.size))
        self.store((item.path, size), item.prepared)
        added.append(item.path)

    def _done(self, added: list[Path], problems: list[str]) -> None:
        self._running -= 1
        self.finished.emit(added, problems)
