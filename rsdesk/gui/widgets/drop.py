"""Dropping files and folders on a widget: the local paths of a drag (what is inside a folder is the one
folder walk's job, :func:`rsdesk.core.io.datasets.find_images`, run by the importer)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent


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
