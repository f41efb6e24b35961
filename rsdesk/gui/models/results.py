"""The results of the current image as a Qt list model: one row per stage (original, adversarial, purified).

The pipeline writes rows; the panel grid (and anything else, e.g. a test) reads them and listens to
``dataChanged``. Each row says not only *what* was computed but whether it is current, being recomputed
(busy), out of date (stale), failed, or switched off — so no view can show an old result as if current.
A current row may hold a result whose classification is still on its way (the purified image is shown
first): views show its image; ``result()`` hands out only complete results.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum, IntEnum

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex


class Row(IntEnum):
    ORIGINAL = 0
    ADVERSARIAL = 1
    PURIFIED = 2


ROW_TITLES = {Row.ORIGINAL: "Original", Row.ADVERSARIAL: "Adversarial", Row.PURIFIED: "Purified"}


class Status(Enum):
    EMPTY = "empty"  # nothing to show yet (message says why)
    BUSY = "busy"  # a worker is computing this stage
    CURRENT = "current"  # the result matches the current image and parameters
    STALE = "stale"  # an older result, kept greyed while it is out of date
    FAILED = "failed"
    OFF = "off"  # the stage is switched off (defense off)


@dataclass(frozen=True)
class StageState:
    status: Status = Status.EMPTY
    message: str = ""  # busy step, error text, or why the stage is empty/off/stale
    details: str = ""  # traceback of a failure
    progress: float = 0.0
    # jobs.OriginalResult / AttackResult / PurifyResult (compared by identity: they hold arrays)
    result: object | None = field(default=None, compare=False)
    explaining: bool = False  # the CAM of this result is being computed

    @property
    def current(self) -> bool:
        return self.status is Status.CURRENT

    @property
    def classified(self) -> bool:
        """Whether the result's predictions are in (False while only its image is)."""
        return self.result is not None and getattr(self.result, "prediction", None) is not None


StatusRole = Qt.ItemDataRole.UserRole + 1
ResultRole = Qt.ItemDataRole.UserRole + 2
StateRole = Qt.ItemDataRole.UserRole + 3


class ResultsModel(QAbstractListModel):
    """Three rows of :class:`StageState`; ``update(row, ...)`` replaces fields and emits ``dataChanged``."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows = [StageState() for _ in Row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        st = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{ROW_TITLES[Row(index.row())]}: {st.status.value}" + (
                f" — {st.message}" if st.message else ""
            )
        if role == StatusRole:
            return st.status
        if role == ResultRole:
            return st.result
        if role == StateRole:
            return st
        return None

    def stage(self, row: Row) -> StageState:
        return self._rows[row]

    def result(self, row: Row) -> object | None:
        """The row's result only if it is current and complete (what exports, reports and CAMs may use)."""
        st = self._rows[row]
        return st.result if st.current and st.classified else None

    def update(self, row: Row, **changes: object) -> None:
        old = self._rows[row]
        new = replace(old, **changes)  # type: ignore[arg-type]
        if new != old or new.result is not old.result:
            self._rows[row] = new
            idx = self.index(int(row))
            self.dataChanged.emit(idx, idx)

    def mark_stale(self, row: Row, message: str) -> None:
        """Keep a shown result but grey it out; rows with nothing shown just say why."""
        st = self._rows[row]
        if st.result is not None and st.status in (Status.CURRENT, Status.STALE, Status.BUSY):
            self.update(row, status=Status.STALE, message=message, progress=0.0, explaining=False)
        else:
            self.update(row, status=Status.EMPTY, message=message, progress=0.0, result=None)

    def clear(self, row: Row, message: str = "") -> None:
        self.update(
            row, status=Status.EMPTY, message=message, details="", progress=0.0, result=None, explaining=False
        )

    def touch(self, row: Row) -> None:
        """Announce that the row's result gained something (its CAM) without being replaced."""
        idx = self.index(int(row))
        self.dataChanged.emit(idx, idx)
