"""What a fine-tune trains on: the decoded images with their targets, the held-out validation split, and
the defense outputs it trains through (computed once, or drawn per epoch for a randomized defense).

Kept apart from :mod:`.finetune` (the loop) so the rules that decide *which* images and *which* inputs a run
uses, and hence its fingerprint, live in one place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdesk.core.defenses import create_defense, defense_class
from rsdesk.core.defenses.regionsparse import RANDOM_DICTIONARY, dictionary_source
from rsdesk.core.errors import ImageError, error_text
from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.io.datasets import LabelLookup
from rsdesk.core.io.images import load_image
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report
from rsdesk.core.training.checkpoint import file_sha256

#: The defense parameter a randomized defense draws its randomness from (TVM's pixel mask); a fine-tune sets
#: it per image and epoch so that a run, and a resumed run, draws the same inputs.
SEED_PARAM = "seed"


@dataclass
class Sample:
    """One usable training image: where it came from, its content hash, the prepared pixels and its label."""

    path: Path
    name: str
    sha256: str
    image: np.ndarray  # H×W×3 float32 in [0, 1] at the classifier's input size
    label: int | None  # the true class (the caller's mapping, labels.csv, a synset); None: unknown or unused


def _label_from(labels: Mapping[str, int] | None, lookup: LabelLookup, path: Path) -> int | None:
    """The caller's mapping first (keyed by the path as given, resolved, or the file name), then the
    labelled-set rules the evaluation uses (``labels.csv`` beside the image, else a synset in its name)."""
    if labels:
        for key in (str(path), str(path.resolve()), path.name):
            if key in labels:
                return int(labels[key])
    return lookup(path)


def load_samples(
    files: Sequence[Path],
    prepare: Callable[[np.ndarray], np.ndarray],
    *,
    need_labels: bool,
    labels: Mapping[str, int] | None,
    on_problem: Callable[[str], None],
    cancel: CancelFn | None,
    progress: ProgressFn | None,
) -> list[Sample]:
    """Decode and prepare every file, in a canonical order (file name, then path), so the same images give
    the same run whatever order they were listed in. A bad image is one ``on_problem`` line and is skipped.
    Labels are looked up only with ``need_labels``; images without one are then skipped, named in one line."""
    lookup = LabelLookup(on_problem)
    ordered = sorted({Path(f) for f in files}, key=lambda p: (p.name, str(p)))
    out: list[Sample] = []
    unlabelled: list[str] = []
    for i, path in enumerate(ordered):
        check_cancel(cancel)
        report(progress, 0.0, f"reading images {i + 1}/{len(ordered)}")
        label = _label_from(labels, lookup, path) if need_labels else None  # (no labels.csv read otherwise)
        if need_labels and label is None:
            unlabelled.append(path.name)
            continue
        try:
            image = prepare(load_image(path))
            digest = file_sha256(path)
        except (ImageError, OSError) as exc:
            on_problem(error_text(exc))
            continue
        out.append(Sample(path, path.name, digest, np.ascontiguousarray(image, dtype=np.float32), label))
    if unlabelled:
        shown = ", ".join(unlabelled[:5]) + (
            f" and {len(unlabelled) - 5} more" if len(unlabelled) > 5 else ""
        )
        on_problem(
            f"{len(unlabelled)} image(s) have no label (labels.csv beside them or an ImageNet synset in the "
            f"name) and were skipped: {shown}"
        )
    return out


def split_validation(names: Sequence[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of the training and validation images: the ``round(fraction·n)`` names (at least one when
    there are two or more images and ``fraction`` > 0, never all) that rank first by SHA-256 of
    ``seed:name``. By name, not position, so the split does not depend on listing order or other files'
    content, and a new seed gives a new split."""
    n = len(names)
    n_val = 0 if fraction <= 0 or n < 2 else min(n - 1, max(1, round(fraction * n)))
    rank = sorted(range(n), key=lambda i: (hashlib.sha256(f"{seed}:{names[i]}".encode()).hexdigest(), i))
    return sorted(rank[n_val:]), sorted(rank[:n_val])


def learned_file_identity(name: str, file: str | None) -> dict[str, Any] | None:
    """Which learned file a defense is built from and its SHA-256 (None for a defense without one): for a
    RegionSparse dictionary the bundled default when ``file`` is None, a bundled ablation by its name,
    or noTR's random atoms (no file)."""
    cls = defense_class(name)
    if cls.learned_file is None:
        return None
    if cls.needs_dictionary:
        source = dictionary_source(file)
        if source == RANDOM_DICTIONARY:
            return {"file": None, "sha256": None, "note": "random unit-norm atoms, seed 0 (noTR)"}
        path = Path(source) if source is not None else default_dictionary_path()
    elif file is not None:
        path = Path(file)
    else:
        return {"file": None, "sha256": None, "note": "the defense's bundled default"}
    return {"file": str(path), "sha256": file_sha256(path) if path.is_file() else None}


def _derived_seed(*parts: object) -> int:
    """A seed in the defense's range (0 … 2³¹−2) from the parts, stable across processes and machines."""
    text = ":".join(str(p) for p in parts)
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16) % (2**31 - 1)


class Transform:
    """A defense applied to training images (H×W×3 float32 in [0, 1] → the same).

    A deterministic defense is built once. A randomized one with a ``seed`` parameter (TVM) is rebuilt
    with a seed derived from (run seed, its own seed value, epoch, image, kind) for every call, so each
    epoch draws new randomness and a rerun or resumed run draws the same; one without a seed parameter
    draws fresh randomness (such a run cannot be repeated exactly).
    """

    def __init__(
        self, name: str, params: Mapping[str, object], file: str | None, device: str, seed: int
    ) -> None:
        self.cls = defense_class(name)
        self.defense = create_defense(name, params, file=file, device=device)
        self.values = dict(self.defense.values)
        self.name, self.file, self.device, self.seed = self.cls.name, file, device, seed
        self.reseeded = self.cls.randomized and any(p.name == SEED_PARAM for p in self.cls.PARAMS)
        # for a reseeded one: keep the loaded learned file (if any) instead of reading it per call
        self._file_value = (
            getattr(self.defense, self.cls.learned_file.option, file) if self.cls.learned_file else file
        )

    @property
    def title(self) -> str:
        return self.cls.title

    def __call__(self, img: np.ndarray, key: tuple[object, ...]) -> np.ndarray:
        defense = self.defense
        if self.reseeded:
            s = _derived_seed(self.seed, self.values.get(SEED_PARAM), *key)
            defense = create_defense(
                self.name, {**self.values, SEED_PARAM: s}, file=self._file_value, device=self.device
            )
        return np.ascontiguousarray(defense(img), dtype=np.float32)

    def many(
        self,
        images: Sequence[np.ndarray],
        keys: Sequence[tuple[object, ...]],
        cancel: CancelFn | None = None,
        tick: Callable[[], None] | None = None,
    ) -> np.ndarray:
        """The defense's outputs of ``images`` stacked N×H×W×3 (``tick`` after each, for progress)."""
        out = []
        for img, key in zip(images, keys):
            check_cancel(cancel)
            out.append(self(img, key))
            if tick is not None:
                tick()
        return np.stack(out) if out else np.zeros((0, 1, 1, 3), np.float32)


def to_batch(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """N×H×W×3 numpy → N×3×H×W float tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous().to(device)
