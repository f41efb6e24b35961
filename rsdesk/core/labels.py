"""ImageNet-1k class names and WordNet synsets, bundled in ``resources/imagenet_classes.tsv``."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

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
