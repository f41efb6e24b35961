"""Turning drops and file-dialog picks into local paths, and folders into the image files inside them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent

from rsdesk.core.images import is_image_file
from rsdesk.core.progress import CancelFn, check_cancel

#: A dropped folder tree is cut off here (a note says so) rather than freezing on a whole disk.
MAX_FILES = 5000


def local_paths(mime: QMimeData | None) -> list[Path]:
    """The local files and folders in a drag's MIME data (remote URLs are not ours to fetch)."""
    if mime is None or not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


class FileDropTarget:
    """Mixin for a QWidget that takes dropped local files and folders and hands them to
    :meth:`paths_dropped` (the widget must also call ``setAcceptDrops(True)``)."""

    def paths_dropped(self, paths: list[Path]) -> None:
        raise NotImplementedError

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.paths_dropped(paths)
        else:
            event.ignore()


def _images_under(folder: Path, cancel: CancelFn | None) -> list[Path]:
    found = []
    for i, q in enumerate(folder.rglob("*")):
        if i % 256 == 0:
            check_cancel(cancel)
        if (
            not any(part.startswith(".") for part in q.relative_to(folder).parts)
            and is_image_file(q)
            and q.is_file()
        ):
            found.append(q)
    return sorted(found)


def expand_paths(paths: list[Path], cancel: CancelFn | None = None) -> tuple[list[Path], list[str]]:
    """Files stay as given; folders become their image files (sub-folders too, sorted, hidden ones skipped).

    Returns (candidate files, problems): a file that is plainly not an image, or is missing, is a problem
    now; one that only looks like an image is checked when it is decoded. Other files inside a folder
    (labels.csv, notes) are expected and silently passed over. Runs on a worker (big trees take a while).
    """
    files: list[Path] = []
    problems: list[str] = []
    for p in paths:
        if p.is_dir():
            try:
                found = _images_under(p, cancel)
            except OSError as exc:
                problems.append(f"{p.name}: the folder could not be read ({exc.strerror or exc})")
                continue
            if not found:
                problems.append(f"{p.name}: no image files in this folder")
            if len(found) > MAX_FILES:
                problems.append(f"{p.name}: only the first {MAX_FILES} of {len(found)} images were taken")
                found = found[:MAX_FILES]
            files.extend(found)
        elif not p.exists():
            problems.append(f"{p.name}: file not found")
        elif not is_image_file(p):
            problems.append(f"{p.name}: not an image (RSDesk reads JPEG, PNG, BMP, TIFF, WebP, GIF and .npy)")
        else:
            files.append(p)
    seen: set[Path] = set()
    unique = [f for f in files if not (f in seen or seen.add(f))]
    return unique, problems
