"""The Evaluate tab's models: one run's plan, rows and summary (:class:`EvaluationResults`), the accuracy
table (:class:`CellTableModel`), the checks (:class:`ChecksModel`), and which images stand behind a cell;
the headline robust accuracy per defense is :mod:`.headline`'s.

Every number shown comes from ``rsdesk.core.evaluation.summary.summarize`` (run on a worker by
``tasks/evaluation``): nothing here counts rows into accuracies, so the tab, the CLI and scripts agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont

from rsdesk.core.evaluation.plan import PER_ROW_THREATS
from rsdesk.core.evaluation.rundir import RunDirectory, row_key
from rsdesk.core.evaluation.summary import experiment_view

Index = QModelIndex | QPersistentModelIndex
#: (attack key, strength, defense key), as in summary.json's cells
Cell = tuple[str, float, str]
#: the (attack, strength, defense) of a table cell
CellRole = Qt.ItemDataRole.UserRole + 1
#: Which images of a cell the gallery shows: (key, what the menu says).
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("recovered", "the defense recovers"),
    ("wrong", "the attack wins"),
    ("correct", "classified correctly"),
    ("all", "all counted images"),
)
#: a check's detail is cut here in the list (the tooltip holds all of it)
DETAIL_CHARS = 140
_FAILED_FG = QColor(183, 28, 28)
#: the grey of what has nothing to say: a check with nothing to check, a headline upper bound
NA_FG = QColor(110, 110, 110)


def identity_defenses(summary: Mapping[str, Any]) -> list[str]:
    """The run's "no defense" keys, by the defense's ``identity`` trait (recorded in the summary)."""
    return [k for k, d in summary.get("defenses", {}).items() if d.get("identity")]


def images_behind(
    summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], cell: Cell, outcome: str
) -> list[str]:
    """The ids of the counted images of ``cell`` with ``outcome``: "correct", "wrong", "all", or
    "recovered" (right through this defense, wrong without one; for the undefended row: right)."""
    attack, strength, defense = cell
    same = [
        r for r in rows if r["attack"] == attack and float(r["strength"]) == strength and int(r["counted"])
    ]
    mine = {r["file"]: bool(int(r["correct"])) for r in same if r["defense"] == defense}
    if outcome == "all":
        return sorted(mine)
    if outcome == "wrong":
        return sorted(f for f, ok in mine.items() if not ok)
    correct = {f for f, ok in mine.items() if ok}
    bare = identity_defenses(summary)
    if outcome == "recovered" and defense not in bare:
        fooled = {r["file"] for r in same if r["defense"] in bare and not int(r["correct"])}
        correct &= fooled
    return sorted(correct)


def strength_text(summary: Mapping[str, Any], attack: str, strength: float) -> str:
    """ "clean", "FGSM ε 12/255", "CW-L2 d 0.1"."""
    if strength == 0:
        return "clean"
    a = summary.get("attacks", {}).get(attack, {})
    return f"{a.get('title', attack)} {a.get('symbol', '')} {strength:g}{a.get('unit', '')}"


def cell_title(summary: Mapping[str, Any], cell: Cell) -> str:
    """ "JPEG compression at FGSM ε 12/255"."""
    d = summary.get("defenses", {}).get(cell[2], {})
    return f"{d.get('title', cell[2])} at {strength_text(summary, cell[0], cell[1])}"


class EvaluationResults(QObject):
    """One run directory as the tab sees it: plan.json, the rows read so far, and their summary."""

    run_changed = Signal()  # another run (or none): everything shown must start over
    summary_changed = Signal()  # new cells, checks and progress

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.run_json: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None
        self.have = 0
        self.need = 0
        self._rows: dict[tuple, dict[str, Any]] = {}
        self._ids_by_path: dict[Path, str] | None = None

    def reset(self, run_dir: Path | None) -> None:
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.run_json, self.summary, self.have, self.need = None, None, 0, 0
        self._rows, self._ids_by_path = {}, None
        self.run_changed.emit()

    def set_run_json(self, run_json: dict[str, Any]) -> None:
        self.run_json = run_json
        self._ids_by_path = None

    def add_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for r in rows:
            self._rows.setdefault(row_key(r), dict(r))

    def clear_rows(self) -> None:
        self._rows = {}

    def rows(self) -> list[dict[str, Any]]:
        """A snapshot of the rows (safe to hand to a worker: the row dicts are never changed)."""
        return list(self._rows.values())

    def row_count(self) -> int:
        return len(self._rows)

    def set_summary(self, summary: dict[str, Any], have: int, need: int) -> None:
        self.summary, self.have, self.need = summary, have, need
        self.summary_changed.emit()

    def image_paths(self, ids: Sequence[str]) -> list[Path]:
        """Where the images with these ids are (plan.json records their absolute paths)."""
        where = {i["id"]: Path(i["path"]) for i in (self.run_json or {}).get("images", [])}
        return [where[i] for i in ids if i in where]

    def image_id(self, path: Path) -> str | None:
        """The run's id of the image in ``path`` (None: not one of the run's images)."""
        if self._ids_by_path is None:
            images = (self.run_json or {}).get("images", [])
            self._ids_by_path = {Path(i["path"]).resolve(): str(i["id"]) for i in images}
        return self._ids_by_path.get(Path(path).resolve())

    def adversarial_file(self, cell: Cell, image_id: str) -> Path | None:
        """The cached adversarial image of ``image_id`` in ``cell`` (crafted through the defense when the
        attack is defense-aware); None for clean cells or without a run."""
        if self.run_dir is None or self.summary is None or cell[1] == 0:
            return None
        attack = self.summary.get("attacks", {}).get(cell[0], {})
        via = cell[2] if attack.get("threat") in PER_ROW_THREATS else None
        return RunDirectory(self.run_dir).adversarial_path(cell[0], cell[1], image_id, via)


class CellTableModel(QAbstractTableModel):
    """Accuracy (95 % interval) per attack × strength (rows, clean first) and defense (columns): a run has
    many strengths and few defenses, so the table grows down, where a narrow column has room."""

    def __init__(self, results: EvaluationResults, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.results = results
        self._levels: list[tuple[str, float]] = []  # rows: (attack, strength)
        self._defenses: list[str] = []  # columns
        self._cells: dict[Cell, dict[str, Any]] = {}
        self._experiment: str | None = None
        results.summary_changed.connect(self._refresh)
        results.run_changed.connect(self._refresh)

    def _refresh(self) -> None:
        s = self.results.summary or {}
        cells = {(c["attack"], float(c["strength"]), c["defense"]): c for c in s.get("cells", [])}
        view = experiment_view(s, self._experiment)
        defenses = view["defenses"] if self._experiment else list(s.get("defenses", {}))
        strengths: dict[str, set[float]] = {a: set(v) for a, v in view["strengths"].items()}
        if self._experiment is None:
            # the worst-case pseudo-attacks are the headline's (HeadlineModel), with no images to click
            shown = {a for a, info in s.get("attacks", {}).items() if not info.get("worst_case")}
            for a in shown:
                strengths.setdefault(a, set())
            for a, st, _d in cells:
                if st > 0 and a in shown:
                    strengths.setdefault(a, set()).add(st)
        first = next(iter(strengths), None)
        levels = ([(first, 0.0)] if first is not None else []) + [
            (a, st) for a, values in strengths.items() for st in sorted(values)
        ]
        if (levels, defenses) != (self._levels, self._defenses):
            self.beginResetModel()
            self._levels, self._defenses, self._cells = levels, defenses, cells
            self.endResetModel()
            return
        old, self._cells = self._cells, cells
        for key in {*old, *cells}:  # only the cells that changed are repainted
            if old.get(key) != cells.get(key) and (index := self.index_of(key)).isValid():
                self.dataChanged.emit(index, index)

    def set_experiment(self, name: str | None) -> None:
        """Rows and columns of this experiment only (None: every cell of the run)."""
        if name != self._experiment:
            self._experiment = name
            self._refresh()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._levels)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._defenses)

    def cell_at(self, index: Index) -> Cell | None:
        if not index.isValid():
            return None
        a, st = self._levels[index.row()]
        return (a, st, self._defenses[index.column()])

    def index_of(self, cell: Cell) -> QModelIndex:
        """The table index of a cell (clean cells of any attack map to the one clean row)."""
        a, st, d = cell
        row = 0 if st == 0 else next((i for i, c in enumerate(self._levels) if c == (a, st)), -1)
        col = self._defenses.index(d) if d in self._defenses else -1
        return self.index(row, col) if row >= 0 and col >= 0 else QModelIndex()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        cell = self.cell_at(index)
        if cell is None:
            return None
        c = self._cells.get(cell)
        if role == CellRole:
            return cell
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.DisplayRole:
            if not c or not c.get("n"):
                return "…"
            return f"{100 * c['accuracy']:.0f} ({100 * c['ci_low']:.0f}–{100 * c['ci_high']:.0f})"
        if role == Qt.ItemDataRole.ToolTipRole:
            title = cell_title(self.results.summary or {}, cell)
            if not c or not c.get("n"):
                return f"{title}: no result yet"
            return (
                f"{title}\n{c['correct']} of {c['n']} counted images correct = {100 * c['accuracy']:.1f} %\n"
                f"95 % Wilson interval {100 * c['ci_low']:.1f}–{100 * c['ci_high']:.1f} %\n"
                "Click: show these images in the gallery"
            )
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        s = self.results.summary or {}
        if orientation == Qt.Orientation.Vertical and 0 <= section < len(self._levels):
            return strength_text(s, *self._levels[section])
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._defenses):
            key = self._defenses[section]
            return str(s.get("defenses", {}).get(key, {}).get("title", key)).replace(" ", "\n", 1)
        return None


class ChecksModel(QAbstractListModel):
    """The run's checks, failed ones first, each marked by an icon and a word (readable in grayscale)."""

    MARKS: ClassVar[dict[bool | None, tuple[str, str]]] = {
        False: ("✖", "FAILED"),
        True: ("✔", "passed"),
        None: ("–", "n/a"),
    }

    def __init__(self, results: EvaluationResults, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.results = results
        self._checks: list[dict[str, Any]] = []
        results.summary_changed.connect(self._refresh)
        results.run_changed.connect(self._refresh)

    def _refresh(self) -> None:
        checks = list((self.results.summary or {}).get("checks", []))
        checks.sort(key=lambda c: {False: 0, True: 1, None: 2}[c.get("ok")])
        if checks == self._checks:
            return
        self.beginResetModel()
        self._checks = checks
        self.endResetModel()

    def failed(self) -> int:
        return sum(c.get("ok") is False for c in self._checks)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._checks)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._checks):
            return None
        c = self._checks[index.row()]
        icon, word = self.MARKS[c.get("ok")]
        if role == Qt.ItemDataRole.DisplayRole:
            detail = str(c.get("detail", ""))
            detail = detail if len(detail) <= DETAIL_CHARS else detail[: DETAIL_CHARS - 1] + "…"
            return f"{icon} {word}: {c['name']}\n     {detail}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{word}: {c['name']}\n{c.get('detail', '')}"
        if role == Qt.ItemDataRole.ForegroundRole:
            return _FAILED_FG if c.get("ok") is False else NA_FG if c.get("ok") is None else None
        if role == Qt.ItemDataRole.FontRole and c.get("ok") is False:
            font = QFont()
            font.setBold(True)
            return font
        return None
