"""ImageNet-1k class names and WordNet synsets (bundled in ``resources/imagenet_classes.tsv``), the true
label of an image file, and the one rule that turns typed text into a class."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from rsdesk.core.assets import resource_path

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


def read_labels_csv(folder: str | Path) -> dict[str, int]:
    """Read ``labels.csv`` beside images: columns ``file`` and ``class_index`` (or ``synset``)."""
    path = Path(folder) / "labels.csv"
    if not path.is_file():
        return {}
    out: dict[str, int] = {}
    classes = imagenet_classes()
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            name = (row.get("file") or "").strip()
            if not name:
                continue
            idx: int | None = None
            if (row.get("class_index") or "").strip().lstrip("-").isdigit():
                idx = int(row["class_index"])
            elif row.get("synset"):
                idx = classes.index_of_synset(row["synset"].strip())
            if idx is not None and 0 <= idx < len(classes):
                out[name] = idx
    return out


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
