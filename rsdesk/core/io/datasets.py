"""Image sets on disk: the one folder walk, true labels per file, and loading a labelled set.

The command line, the window's importer, dictionary training and the evaluations all call these, so the same
folder always means the same images and the same labels, whichever part of RSDesk reads it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rsdesk.core.errors import ImageError
from rsdesk.core.io.files import require_regular_file
from rsdesk.core.io.images import is_image_file, load_image
from rsdesk.core.io.labels import read_labels_csv, true_label
from rsdesk.core.progress import CancelFn, check_cancel

PathLike = str | os.PathLike[str]

#: What the walk says of a given file that is plainly not an image (by its suffix).
NOT_AN_IMAGE = "not an image (RSDesk reads JPEG, PNG, BMP, TIFF, WebP, GIF and .npy)"


class FoundImages(NamedTuple):
    """Candidate image files (content is checked when each is decoded) and one line per problem."""

    files: list[Path]
    problems: list[str]


def _images_under(folder: Path, cancel: CancelFn | None) -> tuple[list[Path], list[str]]:
    """Image files under ``folder`` (sorted) and one line per entry named like an image that is not one.

    Hidden entries are skipped. Linked folders are not entered (as ``Path.rglob`` never did), so a link
    loop cannot make the walk endless; entries named like images are checked with ``stat`` only, so a
    named pipe, socket, device, folder, broken link or link loop is reported and never opened.
    """
    found: list[Path] = []
    problems: list[str] = []
    pending = [folder]
    seen = 0
    while pending:
        current = pending.pop()
        check_cancel(cancel)
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if current == folder:
                raise
            problems.append(f"{current.name}: the folder could not be read ({exc.strerror or exc})")
            continue
        for entry in entries:
            seen += 1
            if seen % 256 == 0:
                check_cancel(cancel)
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_real_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_real_dir = False
            if is_real_dir:
                pending.append(path)
            elif is_image_file(path):
                try:
                    found.append(require_regular_file(path, "image"))
                except ImageError as exc:
                    problems.append(str(exc))
    return sorted(found), problems


def find_images(
    paths: Iterable[PathLike], cancel: CancelFn | None = None, limit: int | None = None
) -> FoundImages:
    """Files stay as given; folders become their image files (sub-folders too, sorted, hidden ones skipped).

    A given file that is plainly not an image, is missing, or is not a regular file (a named pipe, a
    socket, a link loop: never opened, it could block forever) is a problem now; one that only looks like an
    image is checked when it is decoded. Other files inside a folder (labels.csv, notes) are expected and
    passed over. ``limit`` caps the files taken from one folder (the window's gallery), saying so.
    Duplicates are dropped, first occurrence kept. Big trees take a while: call it off the GUI thread.
    """
    files: list[Path] = []
    problems: list[str] = []
    for p in map(Path, paths):
        shown = p.name or p.resolve().name or str(p)  # "." and "/" have no name of their own
        if p.is_dir():
            try:
                found, inner = _images_under(p, cancel)
            except OSError as exc:
                problems.append(f"{shown}: the folder could not be read ({exc.strerror or exc})")
                continue
            problems.extend(inner)
            if not found:
                problems.append(f"{shown}: no image files in this folder")
            if limit is not None and len(found) > limit:
                problems.append(f"{shown}: only the first {limit} of {len(found)} images were taken")
                found = found[:limit]
            files.extend(found)
        elif p.exists() and not is_image_file(p):
            problems.append(f"{p.name}: {NOT_AN_IMAGE}")
        else:
            try:
                files.append(require_regular_file(p, "image"))
            except ImageError as exc:
                problems.append(str(exc))
    seen: set[Path] = set()
    unique = [f for f in files if not (f in seen or seen.add(f))]
    return FoundImages(unique, problems)


class LabelLookup:
    """The true class of image files: ``labels.csv`` beside them wins, then a synset in the file name.

    Each folder's ``labels.csv`` is read once per lookup object (one import, one command, one evaluation).
    A labels.csv that cannot be read is one line in ``problems`` (and passed to ``on_problem``) and its
    folder is treated as having none: the images still load, labelled by their names where they can be.
    """

    def __init__(self, on_problem: Callable[[str], None] | None = None) -> None:
        self._folders: dict[Path, dict[str, int]] = {}
        self._on_problem = on_problem
        self.problems: list[str] = []

    def __call__(self, path: PathLike) -> int | None:
        path = Path(path)
        labels = self._folders.get(path.parent)
        if labels is None:
            try:
                labels = read_labels_csv(path.parent)
            except ValueError as exc:
                labels = {}
                self.problems.append(f"{exc}; its labels were not used")
                if self._on_problem is not None:
                    self._on_problem(self.problems[-1])
            self._folders[path.parent] = labels
        return true_label(path, labels)


@dataclass
class LabelledSet:
    """Images with a known true class, in walk order; unlabelled files are counted, not loaded."""

    paths: list[Path] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unlabelled: int = 0

    def __len__(self) -> int:
        return len(self.images)


def load_labelled_set(
    inputs: Iterable[PathLike],
    limit: int | None = None,
    on_problem: Callable[[str], None] | None = None,
    cancel: CancelFn | None = None,
) -> LabelledSet:
    """Walk ``inputs``, keep the images whose true class is known, decode them; stop after ``limit``.

    Every unusable input is one line in ``problems`` (also passed to ``on_problem`` as it is found, so a
    command can print it at once) and the rest are still loaded.
    """
    out = LabelledSet()

    def problem(text: str) -> None:
        out.problems.append(text)
        if on_problem is not None:
            on_problem(text)

    found = find_images(inputs, cancel)
    for text in found.problems:
        problem(text)
    label_of = LabelLookup(problem)
    for path in found.files:
        if limit and len(out) >= limit:
            break
        check_cancel(cancel)
        label = label_of(path)
        if label is None:
            out.unlabelled += 1
            continue
        try:
            out.images.append(load_image(path))
        except ImageError as exc:
            problem(str(exc))
            continue
        out.paths.append(path)
        out.labels.append(label)
    return out
