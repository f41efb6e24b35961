"""Exporting the evaluation shown in the Evaluate tab: its figures as PNG (the core's matplotlib drawings,
the same as a run directory's ``figures/``), its tables as Markdown (the core's ``summary.md`` text) and its
cells as CSV for a spreadsheet. A plain function: the runner calls it on a worker (matplotlib takes a
second or more per figure, never on the GUI thread)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rsdesk.core.evaluation.figures import draw_figures
from rsdesk.core.evaluation.report import markdown
from rsdesk.core.io.files import atomic_write
from rsdesk.core.progress import CancelFn, check_cancel

CELL_COLUMNS = ("attack", "strength", "defense", "n", "correct", "accuracy", "ci_low", "ci_high")


def cells_csv(summary: Mapping[str, Any]) -> str:
    """One line per cell: attack, strength, defense, n, correct, accuracy and its 95 % interval."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CELL_COLUMNS)
    for c in summary.get("cells", []):
        w.writerow(["" if c.get(k) is None else c[k] for k in CELL_COLUMNS])
    return buf.getvalue()


def export_run(summary: Mapping[str, Any], folder: Path, cancel: CancelFn | None = None) -> list[Path]:
    """Write figures/*.png, summary.md and cells.csv into ``folder``; returns the files written.

    Every file is written atomically (complete or absent), and ``cancel`` (the window closing) is honoured
    between files, so a closed window stops the export after the file in progress."""
    folder = Path(folder)
    check_cancel(cancel)
    folder.mkdir(parents=True, exist_ok=True)
    written = draw_figures(summary, folder / "figures")
    for name, text in (("summary.md", markdown(summary)), ("cells.csv", cells_csv(summary))):
        check_cancel(cancel)
        written.append(atomic_write(folder / name, lambda fh, t=text: fh.write(t.encode("utf-8"))))
    return written
