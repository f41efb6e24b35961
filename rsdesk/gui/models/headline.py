"""The Evaluate tab's headline: robust accuracy per defense and budget (:class:`HeadlineModel`), read from
summary.json's ``worst_case`` (``rsdesk.core.evaluation.worst_case``); nothing here counts rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt

from rsdesk.gui.models.evaluation import NA_FG, EvaluationResults, Index

#: what marks a headline cell where no defense-aware attack ran through that defense at that budget
UPPER_BOUND = "†"


def _pct_ci(c: Mapping[str, Any]) -> str:
    return f"{100 * c['accuracy']:.0f} ({100 * c['ci_low']:.0f}–{100 * c['ci_high']:.0f})"


class HeadlineModel(QAbstractTableModel):
    """The run's headline, read from summary.json's ``worst_case``: per defense (rows; sweep points are the
    frontier's), its clean accuracy and, per budget (columns), the worst case per image over every attack
    run — robust only if no attack at that budget fooled it — each with its 95 % interval."""

    def __init__(self, results: EvaluationResults, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.results = results
        self._columns: list[dict[str, Any]] = []
        self._rows: list[dict[str, Any]] = []
        results.summary_changed.connect(self._refresh)
        results.run_changed.connect(self._refresh)

    def _refresh(self) -> None:
        w = (self.results.summary or {}).get("worst_case") or {}
        columns = list(w.get("columns") or [])
        rows = [d for d in w.get("defenses") or [] if d.get("knob") is None]
        if (columns, rows) == (self._columns, self._rows):
            return
        self.beginResetModel()
        self._columns, self._rows = columns, rows
        self.endResetModel()

    def what(self) -> str:
        """What the numbers are (summary.json's own words)."""
        return str(((self.results.summary or {}).get("worst_case") or {}).get("what", ""))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or not self._rows else 1 + len(self._columns)

    def cell(self, index: Index) -> dict[str, Any] | None:
        """The headline cell at ``index`` (column 0: the defense's clean accuracy), or None."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        d = self._rows[index.row()]
        if index.column() == 0:
            return d["clean"]
        col = self._columns[index.column() - 1]
        return next(
            (c for c in d["budgets"] if (c["kind"], c["strength"]) == (col["kind"], col["strength"])), None
        )

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        c = self.cell(index)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if c is None or not c.get("n"):
            return "–" if role == Qt.ItemDataRole.DisplayRole and index.isValid() else None
        adaptive = index.column() == 0 or c.get("adaptive", True)
        if role == Qt.ItemDataRole.DisplayRole:
            return _pct_ci(c) + ("" if adaptive else f" {UPPER_BOUND}")
        if role == Qt.ItemDataRole.ToolTipRole:
            d = self._rows[index.row()]
            if index.column() == 0:
                return f"{d['title']}: {c['correct']} of {c['n']} images right when clean"
            col = self._columns[index.column() - 1]
            titles = self.results.summary.get("attacks", {}) if self.results.summary else {}
            names = ", ".join(str(titles.get(a, {}).get("title", a)) for a in c.get("attacks", []))
            text = (
                f"{d['title']} at {col['label']}: {c['correct']} of {c['n']} images robust under every "
                f"attack run ({names}); 95 % Wilson interval "
                f"{100 * c['ci_low']:.1f}–{100 * c['ci_high']:.1f} %"
                f"\nclean on the same images: {c['clean']['correct']} of {c['clean']['n']}"
            )
            if not adaptive:
                text += f"\n{UPPER_BOUND} no defense-aware attack ran through this defense: an upper bound"
            return text
        if role == Qt.ItemDataRole.ForegroundRole and not adaptive:
            return NA_FG
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Vertical and 0 <= section < len(self._rows):
            return str(self._rows[section]["title"])
        if orientation == Qt.Orientation.Horizontal and section == 0:
            return "clean"
        if orientation == Qt.Orientation.Horizontal and 0 < section <= len(self._columns):
            return str(self._columns[section - 1]["label"])
        return None
