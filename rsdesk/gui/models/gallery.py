"""The gallery: a list model of the images brought in, with thumbnails, true labels and each image's verdict
story (FOOLED → RECOVERED) once it has been attacked. Shown by :mod:`rsdesk.gui.views.gallery`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QImage, QPixmap

from rsdesk.core.labels import imagenet_classes

Index = QModelIndex | QPersistentModelIndex

PathRole = Qt.ItemDataRole.UserRole + 1
LabelRole = Qt.ItemDataRole.UserRole + 2
SummaryRole = Qt.ItemDataRole.UserRole + 3
#: whether the summary was made with the current attack and defense settings
SummaryCurrentRole = Qt.ItemDataRole.UserRole + 4


@dataclass
class GalleryItem:
    path: Path
    thumbnail: QImage
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

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.path.name
        if role == Qt.ItemDataRole.DecorationRole:
            pm = self._pixmaps.get(item.path)
            if pm is None:
                pm = self._pixmaps[item.path] = QPixmap.fromImage(item.thumbnail)
            return pm
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
            return item.summary_key == self._current_key
        return None

    def add(self, item: GalleryItem) -> int:
        """Append an image (ignored if its path is already here); returns its row."""
        if item.path in self._rows:
            return self._rows[item.path]
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self._rows[item.path] = row
        self.endInsertRows()
        return row

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

    def set_current_key(self, key: object) -> None:
        """Settings changed: stories made with other settings are shown as such (greyed), not as current."""
        if key != self._current_key:
            self._current_key = key
            if self._items:
                self.dataChanged.emit(self.index(0), self.index(len(self._items) - 1), [SummaryCurrentRole])
