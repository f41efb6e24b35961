"""The gallery list: thumbnail, name, true class and the verdict story of every image brought in, with
multi-selection and drops of files and folders. A view of :class:`GalleryModel`."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.verdicts import Verdict
from rsdesk.gui.models.gallery import LabelRole, PathRole, SummaryCurrentRole, SummaryRole
from rsdesk.gui.widgets.drop import FileDropTarget

Index = QModelIndex | QPersistentModelIndex
#: a story that ends in one of these reads as good news (blue), anything else as bad (red)
_GOOD_ENDINGS = tuple(v.value for v in Verdict if v.good)


class GalleryDelegate(QStyledItemDelegate):
    """Thumbnail on the left; name, true class and the verdict story on the right."""

    def _thumb(self, option: QStyleOptionViewItem) -> int:
        return max(56, option.fontMetrics.height() * 4)

    def sizeHint(self, option: QStyleOptionViewItem, _index: Index) -> QSize:
        return QSize(200, self._thumb(option) + 8)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        p.save()
        if option.state & QStyle.StateFlag.State_Selected:
            p.fillRect(option.rect, option.palette.highlight())
            fg = option.palette.highlightedText().color()
        else:
            fg = option.palette.text().color()
        t = self._thumb(option)
        r = option.rect
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pm, QPixmap) and not pm.isNull():
            scaled = pm.scaled(
                t, t, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            p.drawPixmap(
                r.left() + 4 + (t - scaled.width()) // 2, r.top() + 4 + (t - scaled.height()) // 2, scaled
            )
        x = r.left() + t + 10
        lh = option.fontMetrics.height()
        text_rect = QRect(x, r.top() + 4, r.right() - x - 4, lh)
        bold = QFont(option.font)
        bold.setBold(True)
        p.setFont(bold)
        p.setPen(fg)
        fm = p.fontMetrics()
        p.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignLeft,
            fm.elidedText(index.data(), Qt.TextElideMode.ElideMiddle, text_rect.width()),
        )
        p.setFont(option.font)
        label = index.data(LabelRole)
        line2 = f"★ {imagenet_classes().name(label)}" if label is not None else "no true label"
        p.drawText(
            text_rect.translated(0, lh + 2),
            Qt.AlignmentFlag.AlignLeft,
            option.fontMetrics.elidedText(line2, Qt.TextElideMode.ElideRight, text_rect.width()),
        )
        summary = index.data(SummaryRole)
        if summary:
            good = summary.endswith(_GOOD_ENDINGS)
            if not index.data(SummaryCurrentRole):
                summary += " (other settings)"
                p.setPen(QColor(150, 150, 150))
            elif not option.state & QStyle.StateFlag.State_Selected:
                p.setPen(QColor(21, 101, 192) if good else QColor(198, 40, 40))
            p.drawText(
                text_rect.translated(0, 2 * (lh + 2)),
                Qt.AlignmentFlag.AlignLeft,
                option.fontMetrics.elidedText(summary, Qt.TextElideMode.ElideRight, text_rect.width()),
            )
        p.restore()


class GalleryView(FileDropTarget, QListView):
    """Multi-selection list of the gallery; files and folders dropped on it are announced."""

    files_dropped = Signal(list)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._filter: set[Path] | None = None
        self.setItemDelegate(GalleryDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setUniformItemSizes(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(False)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)

    def setModel(self, model: QAbstractItemModel | None) -> None:
        super().setModel(model)
        if model is not None:  # images imported while a filter is on are filtered too
            model.rowsInserted.connect(lambda _parent, first, last: self._apply_filter(first, last))

    def set_filter(self, paths: Collection[Path] | None) -> None:
        """Show only these images (None: all again), e.g. those behind a cell of an evaluation. Rows are
        hidden, not removed: the model, its row numbers and the selection stay as they are."""
        self._filter = None if paths is None else {Path(p).resolve() for p in paths}
        self._apply_filter(0, self.model().rowCount() - 1)

    def is_filtered(self) -> bool:
        return self._filter is not None

    def _apply_filter(self, first: int, last: int) -> None:
        keep = self._filter
        for row in range(first, last + 1):
            path = self.model().index(row, 0).data(PathRole)
            self.setRowHidden(row, keep is not None and Path(path).resolve() not in keep)

    def selected_paths(self) -> list[Path]:
        rows = sorted(i.row() for i in self.selectionModel().selectedRows())
        return [self.model().index(r, 0).data(PathRole) for r in rows]

    def paths_dropped(self, paths: list[Path]) -> None:
        self.files_dropped.emit(paths)
