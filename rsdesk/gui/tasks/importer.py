"""Bringing images in: walk the given files and folders (the core's one folder walk), decode every file on a
worker (thumbnail, classifier-size copy, true label), add the good ones to the gallery as they arrive, and
report every bad one in a single message at the end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from rsdesk.core.datasets import LabelLookup, find_images
from rsdesk.core.errors import error_text
from rsdesk.core.images import ImageError
from rsdesk.core.progress import check_cancel
from rsdesk.gui.models.gallery import GalleryItem, GalleryModel
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.runner import JobContext, JobRunner
from rsdesk.gui.widgets.qimage import to_qimage

#: A dropped folder tree is cut off here (a message says so) rather than freezing on a whole disk.
MAX_FILES = 5000


class Importer(QObject):
    """Runs imports side by side; ``finished(added paths, problems)`` once per request, after the last file,
    and one ``message`` saying what came in and what could not be used."""

    finished = Signal(list, list)
    progress = Signal(float, str)
    message = Signal(str, str, str)  # kind, text, details

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
        self._running = 0

    def is_running(self) -> bool:
        return self._running > 0

    def import_paths(self, paths: list[Path], announce: bool = True) -> None:
        """Import in the background: even listing a big folder tree never blocks the window. With
        ``announce`` off, only problems are reported (the images the app opens with need no message)."""
        paths = [Path(p) for p in paths]
        existing = frozenset(self.gallery.paths())
        size = self.input_size()

        def work(ctx: JobContext) -> None:
            files, problems = find_images(paths, ctx.cancel, limit=MAX_FILES)
            for problem in problems:
                ctx.partial(problem)
            files = [f for f in files if f not in existing]
            label_of = LabelLookup()
            for i, path in enumerate(files):
                check_cancel(ctx.cancel)
                try:
                    ctx.partial(stages.import_image(path, size, label_of))
                except (ImageError, OSError, ValueError) as exc:
                    ctx.partial(error_text(exc))
                ctx.progress((i + 1) / len(files), f"importing {path.name}")

        added: list[Path] = []
        problems: list[str] = []
        self._running += 1
        job = self.runner.submit("Import", work)
        job.partial.connect(lambda item: self._arrived(item, size, added, problems))
        job.progress.connect(self.progress)
        job.failed.connect(lambda m, _d: problems.append(m))
        job.finished.connect(lambda: self._done(added, problems, announce))

    def _arrived(self, item: object, size: int, added: list[Path], problems: list[str]) -> None:
        if isinstance(item, str):
            problems.append(item)
            return
        assert isinstance(item, stages.ImportedImage)
        if item.path in self.gallery:  # two imports of the same file raced
            return
        self.gallery.add(GalleryItem(item.path, to_qimage(item.thumbnail), item.true_label, item.size))
        self.store(item.path, size, item.prepared)
        added.append(item.path)

    def _done(self, added: list[Path], problems: list[str], announce: bool) -> None:
        self._running -= 1
        if problems:
            head = f"Added {len(added)} image(s); {len(problems)} could not be used"
            self.message.emit("warning" if added else "error", f"{head}: {problems[0]}", "\n".join(problems))
        elif added and announce:
            self.message.emit("info", f"Added {len(added)} image(s).", "")
        self.finished.emit(added, problems)
