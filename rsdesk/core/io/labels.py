"""ImageNet-1k class names and WordNet synsets (bundled in ``resources/imagenet_classes.tsv``), the true
label of an image file, and the one rule that turns typed text into a class."""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from rsdesk.core.io.assets import resource_path
from rsdesk.core.io.files import require_regular_file

_SYNSET_RE = re.compile(r"(n\d{8})")


@dataclass(frozen=True)
class ImageNetClasses:
    names: tuple[str, ...]
    synsets: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    def name(self, index: int) -> str:
        return self.names[index] if 0 <= index < len(self.names) else f"class {index}"

    def index_of_synset(self, synset: str) -> int | None:
        try:
            return self.synsets.index(synset)
        except ValueError:
            return None

    def search(self, text: str) -> list[int]:
        """Indices whose name, synset or number contains ``text`` (case-insensitive)."""
        t = text.strip().lower()
        if not t:
            return list(range(len(self.names)))
        return [
            i
            for i, (n, s) in enumerate(zip(self.names, self.synsets))
            if t in n.lower() or t == s or t == str(i)
        ]


@lru_cache(maxsize=1)
def imagenet_classes() -> ImageNetClasses:
    """The 1000 ImageNet classes in the standard index order."""
    names: list[str] = []
    synsets: list[str] = []
    with open(resource_path("imagenet_classes.tsv"), encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            synsets.append(row["synset"])
            names.append(row["name"])
    return ImageNetClasses(tuple(names), tuple(synsets))


def label_from_filename(path: str | Path) -> int | None:
    """The class index of an ImageNet synset in a file name (``n01440764_tench.JPEG`` → 0), if any."""
    m = _SYNSET_RE.search(Path(path).name)
    return imagenet_classes().index_of_synset(m.group(1)) if m else None


#: A labels.csv larger than this is not a list of labels (ImageNet's 50 000 validation images need 2 MB).
MAX_LABELS_BYTES = 32 * 1024 * 1024


def _labels_text(path: Path) -> str:
    """The text of a labels file, or one ValueError saying why it cannot be read as text."""
    label = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    require_regular_file(path, "labels file")  # a named pipe would block forever
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_LABELS_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{label}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_LABELS_BYTES:
        raise ValueError(f"{label}: too large for a labels file (over {MAX_LABELS_BYTES >> 20} MB)")
    if b"\0" in data:
        raise ValueError(f"{label}: not a text file (it holds binary data)")
    try:
        return data.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError as exc:
        raise ValueError(f"{label}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from exc


def read_labels_csv(folder: str | Path) -> dict[str, int]:
    """Read ``labels.csv`` beside images: columns ``file`` and ``class_index`` (or ``synset``).

    No file: an empty mapping. Rows without a file name, or whose class is not an ImageNet class, are
    dropped; a file listed with two different classes is left unlabelled (never guessed). A file that
    cannot be read as CSV text (binary, not UTF-8, too large, no ``file`` column, not a regular file)
    raises one ``ValueError`` naming it.
    """
    path = Path(folder) / "labels.csv"
    if not os.path.lexists(path):
        return {}
    text = _labels_text(path)
    label = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    out: dict[str, int] = {}
    conflicting: set[str] = set()
    classes = imagenet_classes()
    reader = csv.reader(io.StringIO(text, newline=""))
    columns: list[str] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank lines, before the header too
            if not columns:
                columns = [c.strip() for c in cells]
                if "file" not in columns or not {"class_index", "synset"} & set(columns):
                    raise ValueError(
                        f"{label}: needs a 'file' column and a 'class_index' or 'synset' column "
                        f"(found {', '.join(repr(c[:40]) for c in columns[:5])})"
                    )
                continue
            row = dict(zip(columns, cells))
            name = row.get("file", "").strip()
            idx = _row_class(row, classes) if name else None
            if idx is None:
                continue
            if out.get(name, idx) != idx:
                conflicting.add(name)
            out[name] = idx
    except csv.Error as exc:
        raise ValueError(f"{label}: not valid CSV near line {reader.line_num} ({exc})") from exc
    return {k: v for k, v in out.items() if k not in conflicting}


def _row_class(row: dict[str, str], classes: ImageNetClasses) -> int | None:
    """The class a labels.csv row names (``class_index`` first, then ``synset``), if it is a real one."""
    number = row.get("class_index", "").strip()
    if number:
        plain = number.isascii() and number.isdigit() and len(number) <= 6
        return int(number) if plain and int(number) < len(classes) else None
    synset = row.get("synset", "").strip()
    return classes.index_of_synset(synset) if synset else None


def true_label(path: str | Path, csv_labels: dict[str, int] | None = None) -> int | None:
    """The known true class of an image: ``labels.csv`` beside it wins, then a synset in its name."""
    path = Path(path)
    labels = csv_labels if csv_labels is not None else read_labels_csv(path.parent)
    if path.name in labels:
        return labels[path.name]
    return label_from_filename(path)


#: Text that asks for no target class at all.
UNTARGETED = "untargeted"
_NO_TARGET = ("", UNTARGETED, "none")


class ClassMatch(NamedTuple):
    """What typed text names: ``ok`` with the class index (None: untargeted), else a hint saying why not."""

    ok: bool
    index: int | None
    hint: str


def _match(text: str) -> tuple[int | None, int, str]:
    """(index, how many classes the text could mean, hint); the index is set only when exactly one is."""
    classes = imagenet_classes()
    t = " ".join(text.split())
    low = t.lower()
    if low in _NO_TARGET:
        return None, 1, ""
    head, _, rest = low.partition(" ")
    if head.isdigit():  # "281", an entry "281 tabby", or a completion "281 tabby n02123045"
        i = int(head)
        if i >= len(classes):
            return None, 0, f"no class {i}: class numbers run from 0 to {len(classes) - 1}"
        full = f"{classes.names[i]} {classes.synsets[i]}".lower()
        if full.startswith(rest):
            return i, 1, ""
    synset = classes.index_of_synset(low)
    if synset is not None:
        return synset, 1, ""
    exact = [i for i, n in enumerate(classes.names) if n.lower() == low]
    hits = exact or classes.search(low)
    if len(hits) == 1:
        return hits[0], 1, ""
    if hits:
        return None, len(hits), f"“{t}” matches {len(hits)} classes; pick one from the list"
    return None, 0, f"“{t}” is not an ImageNet class (type a name, a number 0–999 or a synset)"


def resolve_class(text: str) -> ClassMatch:
    """Interpret typed text as a class: a number, a name (exact, else a unique part of one), a synset, or
    "untargeted" / "none" / nothing. Names that fit several classes are refused, never guessed."""
    index, _candidates, hint = _match(text)
    return ClassMatch(not hint, index, hint)


def require_class(text: str) -> int | None:
    """:func:`resolve_class` for a command line: the index (None: untargeted), else a ValueError that says
    whether the text named no class or several."""
    index, candidates, hint = _match(text)
    if hint:
        raise ValueError(f"target class {text!r} is {'ambiguous' if candidates > 1 else 'unknown'}")
    return index
