"""The run directory, the evaluation's public contract (the GUI's Evaluate tab and users' scripts read it).

```
RUN_DIR/plan.json       everything needed to repeat the run (see manifest.describe_run)
RUN_DIR/results.csv     one row per (image, attack, strength, defense); strength 0 is the clean image
RUN_DIR/adversarials/   every adversarial image as exact float32 .npy, so adding a defense re-runs no attack
RUN_DIR/summary.json    accuracies with 95 % Wilson intervals and the checks; summary.md the same as tables
RUN_DIR/figures/        the figures (PNG)
```

``results.csv`` is appended and flushed to disk as each unit of work finishes, so a run killed at any
moment keeps what it finished; a torn last line (power loss mid-write) is dropped when the file is read
again and cut off before the next append. Every other file is written atomically.

This module keeps the directory's files; what plan.json records (the run's provenance) and how an existing
run is reopened are :mod:`.manifest`'s.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsdesk.core.io.files import atomic_write, remove_stale_temps, why_not_saved

#: The columns of results.csv, in order. Scripts may rely on these names.
COLUMNS = (
    "file",  # the image's id (its path under the folder it was found in)
    "true_index",
    "threat",  # graybox, transfer or aware ("clean" rows: the threat of their attack)
    "source",  # the classifier a transfer attack was crafted on; empty otherwise
    "attack",  # the plan's attack key
    "strength",  # ε (/255) or d; 0 = the clean image
    "defense",  # the plan's defense key
    "pred_index",  # the classifier's top-1 after the defense
    "correct",  # 1 when pred_index == true_index
    "counted",  # 1 when the summary counts this row under the run's protocol
    "l2",  # ‖x' − x‖₂ in [0, 1] pixel units (0 for clean rows)
    "linf",  # max |x' − x| in /255 units
    "d",  # ‖x' − x‖₂ / ‖x‖₂
    "in_range",  # 1 when the adversarial image is finite and inside [0, 1]
    "iterations",  # gradient evaluations the attack spent on this image
    "attack_seconds",  # this image's share of the attack's time (0 when read from the cache)
    "seconds",  # this row's share of attack + defense + classification time
    "classifier",  # the classifier that judged the row: name, or "name [weights file]" (a retrained model)
)
#: results.csv as runs before the per-row classifier wrote it: read, and appended to, in its own columns
#: (its rows were all judged by the run's classifier)
LEGACY_COLUMNS = COLUMNS[:-1]
_INT = {"true_index", "pred_index", "correct", "counted", "in_range", "iterations"}
_FLOAT = {"strength", "l2", "linf", "d", "attack_seconds", "seconds"}


@dataclass(frozen=True)
class ImageItem:
    """A labelled image of the run: its id in results.csv, where it is, its true class."""

    id: str
    path: str
    true_index: int


class RunDirError(ValueError):
    """A run directory that cannot be used (unreadable, or made by a different run)."""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+=@\-]", "_", text)[:120]


def row_key(row: Mapping[str, Any]) -> tuple[str, str, float, str]:
    """What identifies a row: (file, attack, strength, defense)."""
    return (str(row["file"]), str(row["attack"]), float(row["strength"]), str(row["defense"]))


class RunDirectory:
    """Reads and writes one run directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: results.csv's columns once known (:data:`COLUMNS`, or :data:`LEGACY_COLUMNS` for a run of before)
        self._columns: tuple[str, ...] | None = None

    @property
    def results_path(self) -> Path:
        return self.path / "results.csv"

    @property
    def plan_path(self) -> Path:
        return self.path / "plan.json"

    @property
    def figures_path(self) -> Path:
        return self.path / "figures"

    def create(self) -> None:
        """Make the folder (checking that it can be written) before any work starts."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: exists and is not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".rsdesk-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise RunDirError(
                f"{self.path}: cannot write the run directory ({exc.strerror or exc})"
            ) from None
        # a run killed in the middle of an atomic write leaves its hidden temporary file: ours to remove
        remove_stale_temps(self.path)

    # ----- plan.json, summary.json, summary.md -------------------------------------------------------
    def read_json(self, name: str) -> dict[str, Any] | None:
        p = self.path / name
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{p}: unreadable ({exc})") from None
        if not isinstance(data, dict):
            raise RunDirError(f"{p}: not a JSON object")
        return data

    def write_json(self, name: str, data: Mapping[str, Any]) -> Path:
        text = json.dumps(data, indent=1, allow_nan=False)
        return atomic_write(self.path / name, lambda fh: fh.write(text.encode("utf-8") + b"\n"))

    def write_text(self, name: str, text: str) -> Path:
        return atomic_write(self.path / name, lambda fh: fh.write(text.encode("utf-8")))

    # ----- results.csv -----------------------------------------------------------------------------
    def read_rows(self) -> list[dict[str, Any]]:
        """Every complete row; a torn or malformed line (a write cut short) is dropped."""
        return self.read_rows_since(0)[0]

    def read_rows_since(self, offset: int, max_bytes: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """The complete rows appended after byte ``offset`` (0: the start, header included) and the offset
        to pass next time; lets a viewer follow a growing file without reading it all again.

        Same rules as :meth:`read_rows`: a torn last line is left for a later call (the offset stops before
        it), a malformed line is dropped. An offset past the end of the file means the file was replaced:
        the returned offset is then 0 (smaller than the one given) and the caller starts over.
        ``max_bytes`` bounds one call's work (a long file is then read over several calls).
        """
        p = self.results_path
        try:
            with open(p, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size < offset:
                    return [], 0
                fh.seek(offset)
                raw = fh.read(size - offset if max_bytes is None else min(size - offset, max_bytes))
                while max_bytes and b"\n" not in raw and offset + len(raw) < size:  # a line > max_bytes
                    raw += fh.read(max_bytes)
        except FileNotFoundError:
            return [], 0
        end = raw.rfind(b"\n") + 1
        if end == 0:
            return [], offset
        reader = csv.reader(io.StringIO(raw[:end].decode("utf-8", errors="replace")))
        if offset == 0:
            header = tuple(next(reader, ()))
            if header not in (COLUMNS, LEGACY_COLUMNS):
                raise RunDirError(f"{p}: not an RSDesk results file (its columns differ)")
            self._columns = header
        columns = self._file_columns()
        rows: list[dict[str, Any]] = []
        for rec in reader:
            if len(rec) != len(columns):
                continue
            try:
                rows.append(_typed(dict(zip(columns, rec))))
            except ValueError:
                continue
        return rows, offset + end

    def _file_columns(self) -> tuple[str, ...]:
        """The columns results.csv was started with (a run of before has no ``classifier``): rows are
        appended in them, so one file never mixes two layouts."""
        columns = self._columns
        if columns is None:
            try:
                with open(self.results_path, encoding="utf-8", errors="replace") as fh:
                    header = tuple(next(csv.reader([fh.readline()]), ()))
            except OSError:
                header = ()
            columns = LEGACY_COLUMNS if header == LEGACY_COLUMNS else COLUMNS
            self._columns = columns
        return columns

    def append_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows and push them to disk before returning (a crash afterwards loses none of them).

        All or nothing: when the write fails (a full disk) or is interrupted, the file is cut back to what
        it held before, so results.csv never keeps half a batch; the ``OSError`` names the file. A torn
        line left by a power cut is removed here too, before the next append.
        """
        rows = list(rows)
        if not rows:
            return
        p = self.results_path
        try:
            new = not p.is_file() or p.stat().st_size == 0
            if not new:
                _cut_torn_tail(p)
        except OSError as exc:
            raise _not_saved(p, exc) from exc
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if new:
            w.writerow(COLUMNS)
            self._columns = COLUMNS
        columns = self._file_columns()
        for r in rows:
            w.writerow([_cell(r.get(c, "")) for c in columns])
        data = buf.getvalue().encode("utf-8")
        try:
            fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise _not_saved(p, exc) from exc
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except BaseException as exc:
                _truncate_quietly(fd, start)
                if isinstance(exc, OSError):
                    raise _not_saved(p, exc) from exc
                raise
        finally:
            os.close(fd)

    # ----- adversarial images ------------------------------------------------------------------------
    def adversarial_path(
        self, attack: str, strength: float | str, image_id: str, via: str | None = None
    ) -> Path:
        """Where one adversarial image is cached; ``via``: the defense a defense-aware attack went through;
        strength ``"base"``: an attack's unscaled result, before it is scaled to each d."""
        level = strength if isinstance(strength, str) else f"{strength:g}"
        parts = [_safe(attack)] + ([_safe(via)] if via else []) + [_safe(level)]
        return self.path.joinpath("adversarials", *parts, _safe(image_id.replace("/", "__")) + ".npy")

    def load_adversarial(self, path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
        """A cached image, or None when it is missing or not what this run would have written."""
        if not path.is_file():
            return None
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if arr.dtype != np.float32 or tuple(arr.shape) != tuple(shape):
            return None
        return arr

    def save_adversarial(self, path: Path, img: np.ndarray) -> None:
        arr = np.ascontiguousarray(img, dtype=np.float32)
        atomic_write(path, lambda fh: np.save(fh, arr, allow_pickle=False))


def is_run_directory(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder holding an evaluation run (plan.json and results.csv): a dropped folder
    of that shape is opened as a run, any other folder is imported as images."""
    p = Path(path)
    return p.is_dir() and (p / "plan.json").is_file() and (p / "results.csv").is_file()


def _not_saved(p: Path, exc: OSError) -> OSError:
    """The same words as every other failed save ("cannot save PATH: the disk is full"), errno kept."""
    err = OSError(f"cannot save {p}: {why_not_saved(exc)}")
    err.errno = exc.errno  # type: ignore[misc]
    return err


def _truncate_quietly(fd: int, size: int) -> None:
    """Cut an append that failed back off the file (best effort: the reader drops a torn line anyway)."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass


def _cut_torn_tail(p: Path) -> None:
    with open(p, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        back = min(size, 1 << 16)
        fh.seek(size - back)
        tail = fh.read(back)
        fh.truncate(size - back + tail.rfind(b"\n") + 1)


def _cell(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def _typed(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(row)
    out.setdefault("classifier", "")  # a run of before: judged by the run's classifier
    for c in _INT:
        out[c] = int(row[c])
    for c in _FLOAT:
        out[c] = float(row[c])
    return out
