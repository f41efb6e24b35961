"""The gallery: a list model of the images brought in, with thumbnails, true labels and each image's verdict
story (FOOLED → RECOVERED) once it has been attacked. Shown by :mod:`rsdesk.gui.views.gallery`.

Two files of the same name from different folders are shown with the shortest part of their folders that
tells them apart ("tench.jpg — dev/" and "tench.jpg — samples/"), so no two rows read the same."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QImage, QPixmap

from rsdesk.core.io.labels import imagenet_classes
from rsdesk.gui.widgets.qimage import to_qimage

Index = QModelIndex | QPersistentModelIndex

PathRole = Qt.ItemDataRole.UserRole + 1
LabelRole = Qt.ItemDataRole.UserRole + 2
SummaryRole = Qt.ItemDataRole.UserRole + 3
#: whether the summary was made with the current attack and defense settings
SummaryCurrentRole = Qt.ItemDataRole.UserRole + 4


def display_names(paths: Iterable[Path]) -> dict[Path, str]:
    """Each path's name as the gallery shows it: the file name, and where two or more paths share it, the
    shortest trailing part of its folder that no other of them ends in ("tench.jpg — dev/")."""
    by_name: dict[str, list[Path]] = {}
    for p in paths:
        by_name.setdefault(p.name, []).append(p)
    out: dict[Path, str] = {}
    for name, group in by_name.items():
        for p in group:
            out[p] = name if len(group) == 1 else f"{name} — {_tail(p, group)}"
    return out


def _tail(path: Path, group: list[Path]) -> str:
    parts = tail = path.parent.parts
    for k in range(1, len(parts) + 1):
        tail = parts[-k:]
        if not any(q != path and q.parent.parts[-k:] == tail for q in group):
            break
    return "/".join(tail).lstrip("/") + "/"


#: Pixmaps kept for painted rows (only visible rows are painted); older ones are made again when needed.
MAX_PIXMAPS = 256


@dataclass
class GalleryItem:
    path: Path
    thumbnail: QImage | np.ndarray  # a small uint8 array until the row is first painted
    true_label: int | None = None
    size: tuple[int, int] = (0, 0)
    summary: str = ""
    summary_key: object = None

    @property
    def label_name(self) -> str | None:
        return None if self.true_label is None else imagenet_classes().name(self.true_label)


class GalleryModel(QAbstractListModel):
    """The images of this session, in the order they came in (no duplicates)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[GalleryItem] = []
        self._rows: dict[Path, int] = {}
        self._pixmaps: dict[Path, QPixmap] = {}
        self._current_key: object = None
        self._cell_attacks: frozenset = frozenset()
        self._names: dict[Path, str] = {}

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._names.get(item.path, item.path.name)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(item)
        if role == Qt.ItemDataRole.ToolTipRole:
            w, h = item.size
            label = item.label_name or "unknown (no synset in the name, no labels.csv)"
            return f"{item.path}\n{w}×{h} px\ntrue class: {label}" + (
                f"\n{item.summary}" if item.summary else ""
            )
        if role == PathRole:
            return item.path
        if role == LabelRole:
            return item.true_label
        if role == SummaryRole:
            return item.summary
        if role == SummaryCurrentRole:
            return self.is_current(item.summary_key)
        return None

    def is_current(self, key: object) -> bool:
        """Whether a story made with ``key`` holds for the current settings: the toolbar's, or (the same
        defense) an adversarial image made elsewhere that the panels show for an evaluation's cell."""
        cur = self._current_key
        if key == cur:
            return True
        pair = isinstance(key, tuple) and isinstance(cur, tuple) and len(key) == len(cur) == 2
        return pair and key[0] in self._cell_attacks and key[1] == cur[1]

    def display_name(self, path: Path) -> str:
        """The name the gallery shows for ``path`` (told apart from others of the same file name)."""
        return self._names.get(path, path.name)

    def _pixmap(self, item: GalleryItem) -> QPixmap:
        """Made when a row is painted (only visible rows are), kept for the last :data:`MAX_PIXMAPS`: a
        thousand images dropped at once cost a thousand small arrays, not a thousand pixmaps."""
        pm = self._pixmaps.pop(item.path, None)
        if pm is None:
            thumb = item.thumbnail
            pm = QPixmap.fromImage(thumb if isinstance(thumb, QImage) else to_qimage(thumb))
        self._pixmaps[item.path] = pm  # most recently used last
        while len(self._pixmaps) > MAX_PIXMAPS:
            del self._pixmaps[next(iter(self._pixmaps))]
        return pm

    def add(self, item: GalleryItem) -> int:
        """Append an image (ignored if its path is already here); returns its row."""
        if item.path in self._rows:
            return self._rows[item.path]
        self.add_many([item])
        return self._rows[item.path]

    def add_many(self, items: list[GalleryItem]) -> list[GalleryItem]:
        """Append images in one insertion (one layout pass of the view, not one per image); those already
        here are skipped. Returns the items added."""
        new: list[GalleryItem] = []
        seen = set(self._rows)
        for item in items:
            if item.path not in seen:
                seen.add(item.path)
                new.append(item)
        if new:
            first = len(self._items)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for item in new:
                self._rows[item.path] = len(self._items)
                self._items.append(item)
            self.endInsertRows()
            self._rename({i.path.name for i in new})
        return new

    def _rename(self, names: Collection[str]) -> None:
        """Tell apart the rows named like ``names`` (a new file of the same name renames the others too)."""
        same = [i.path for i in self._items if i.path.name in names]
        for p, shown in display_names(same).items():
            if self._names.get(p, p.name) != shown:
                self._names[p] = shown
                idx = self.index(self._rows[p])
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DisplayRole])

    def __contains__(self, path: object) -> bool:
        return path in self._rows

    def row_of(self, path: Path) -> int | None:
        return self._rows.get(path)

    def item(self, row: int) -> GalleryItem:
        return self._items[row]

    def paths(self) -> list[Path]:
        return [i.path for i in self._items]

    def true_label(self, path: Path) -> int | None:
        row = self._rows.get(path)
        return None if row is None else self._items[row].true_label

    def set_summary(self, path: Path, text: str, key: object = None) -> None:
        """Record an image's verdict story and the settings it was made with."""
        row = self._rows.get(path)
        if row is not None:
            self._items[row].summary = text
            self._items[row].summary_key = key
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [SummaryRole, SummaryCurrentRole, Qt.ItemDataRole.ToolTipRole])

    def set_cell_attacks(self, keys: Collection[object]) -> None:
        """The attack keys of adversarial images made elsewhere (an evaluation's cells) that the panels show:
        a story recorded with one of them, and the current defense, is current (none: only the toolbar's)."""
        keys = frozenset(keys)
        if keys != self._cell_attacks:
            self._cell_attacks = keys
            if self._items:
                self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1), [SummaryCurrentRole])

    def set_current_key(self, key: object) -> None:
        """Settings changed: stories made with other settings are shown as such (greyed), not as current."""
        if key != self._current_key:
            self._current_key = key
            if self._items:
                self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1), [SummaryCurrentRole])
