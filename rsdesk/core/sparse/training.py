"""The RegionSparse dictionary: training (spec §1); the type, validation and ``.npz`` files without pickle
live in :mod:`rsdesk.core.sparse.dictionary_file` and are re-exported here.

Training: non-local-means smoothing with strength ``h`` (OpenCV) → random b×b×3 patches per image →
per-image z-score of every patch dimension (Patch Normalization, eq. 17) → online dictionary learning
(Mairal et al. 2009) with scikit-learn's ``MiniBatchDictionaryLearning``, one mini-batch at a time so
progress is reported and a cancel request is honoured between batches.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rsdesk.core.errors import ImageError
from rsdesk.core.io.images import load_image
from rsdesk.core.params import Param
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report, scaled
from rsdesk.core.sparse.dictionary_file import (
    Dictionary,
    validate_atoms,
)
from rsdesk.core.sparse.dictlearn import learn_atoms_torch
from rsdesk.core.sparse.filters import smooth_nlm
from rsdesk.core.sparse.patches import random_patches, zscore_columns


@dataclass(frozen=True)
class TrainingConfig:
    """Parameters of dictionary training (spec §1)."""

    h: float = 10.0
    patch_size: int = 8
    patches_per_image: int = 2000
    n_atoms: int = 256
    normalize: bool = True  # Patch Normalization; False is the "noPN" ablation
    seed: int = 0
    epochs: int = 1
    batch_size: int = 256
    alpha: float = 1.0  # sparsity penalty of scikit-learn's LARS coding step
    #: "torch": our online learner coding with Batch-OMP at ``train_k`` (fast); "sklearn": scikit-learn's
    #: MiniBatchDictionaryLearning with LARS-lasso coding (the reference implementation)
    learner: str = "torch"
    train_k: int = 4
    #: resize each training image so its shorter side is this many pixels (0: keep the original size);
    #: the classifier sees images at about this scale, so the atoms should too.
    resize_to: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first unusable value; the user-facing ranges are
        :data:`TRAINING_PARAMS`' (the dialog, the settings file and the CLI read the same ones)."""
        for spec in TRAINING_PARAMS:
            problem = training_range_problem(spec, getattr(self, spec.name))
            if problem:
                raise ValueError(problem)
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be at least 1")
        if self.learner not in ("torch", "sklearn"):
            raise ValueError(f"learner must be 'torch' or 'sklearn', got {self.learner!r}")
        if not 1 <= self.train_k <= self.n_atoms:
            raise ValueError(f"training sparsity must be 1…{self.n_atoms}, got {self.train_k}")


_TC = TrainingConfig()
#: The parameters a user sets for training, each range stated once: :meth:`TrainingConfig.validate`, the
#: Settings dialog's editors, the settings file's checks and ``rsdesk train-dictionary`` all read these.
TRAINING_PARAMS: tuple[Param, ...] = (
    Param(
        "h",
        "NLM strength h",
        _TC.h,
        0.0,
        100.0,
        "non-local-means smoothing before patch sampling (0: none)",
        symbol="h",
    ),
    Param("patch_size", "patch size", _TC.patch_size, 2, 32, "patches are b×b×3 pixels", integer=True),
    Param("n_atoms", "atoms", _TC.n_atoms, 2, 4096, "dictionary size", integer=True),
    Param(
        "patches_per_image",
        "patches per image",
        _TC.patches_per_image,
        1,
        10_000_000,
        "random patches sampled per image",
        integer=True,
    ),
)


def training_range_problem(spec: Param, value: object) -> str:
    """Why ``value`` is outside ``spec``'s range ("" if inside), named as the command line's option is
    (by its symbol where it has one: ``h``), so an error reads the same from the CLI and the window."""
    name = spec.symbol or spec.label
    lo, hi = (int(spec.minimum), int(spec.maximum)) if spec.integer else (spec.minimum, spec.maximum)
    try:
        ok = lo <= float(value) <= hi  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ok = False
    if ok:
        return ""
    if spec.integer:  # a count: "patch size must be 2…32"
        return f"{name} must be {lo}…{hi}, got {value}"
    return f"{name} must be within {lo:g}…{hi:g}, got {value}"


def _resize_shorter(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    if side <= 0 or min(h, w) == side:
        return img
    s = side / min(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return np.clip(cv2.resize(img, (round(w * s), round(h * s)), interpolation=interp), 0, 1)


def _image_patches(
    item: str | os.PathLike[str] | np.ndarray, config: TrainingConfig, seed: np.random.SeedSequence
) -> np.ndarray:
    """Load, smooth, sample and normalize one training image's patches (runs on a worker thread)."""
    img = item if isinstance(item, np.ndarray) else load_image(item, min_side=config.patch_size)
    img = _resize_shorter(np.asarray(img, dtype=np.float32), config.resize_to)
    if min(img.shape[:2]) < config.patch_size:
        raise ImageError("smaller than the patch size")
    smooth = smooth_nlm(img, config.h)
    p = random_patches(smooth, config.patch_size, config.patches_per_image, np.random.default_rng(seed))
    return zscore_columns(p) if config.normalize else p


def patch_dataset(
    images: Sequence[str | os.PathLike[str] | np.ndarray],
    config: TrainingConfig,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Smooth, sample and normalize patches from every usable image; returns (patches, skipped notes).

    Images are processed on all cores (OpenCV's NLM and the decoders release the GIL). Every image gets
    its own random stream spawned from the seed, so the result does not depend on the thread schedule.
    Unreadable or too-small images are skipped (``on_skip`` hears why) rather than ending the run.
    """
    seeds = np.random.SeedSequence(config.seed).spawn(len(images))
    parts: list[np.ndarray | None] = [None] * len(images)
    skipped: list[str] = []
    workers = max(1, min(len(images), os.cpu_count() or 1))
    done = n_patches = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rsdesk-patches") as pool:
        futures = {
            pool.submit(_image_patches, item, config, sd): i
            for i, (item, sd) in enumerate(zip(images, seeds))
        }
        try:
            for fut in as_completed(futures):
                check_cancel(cancel)
                i = futures[fut]
                try:
                    parts[i] = fut.result()
                    n_patches += len(parts[i])
                except ImageError as exc:
                    item = images[i]
                    name = f"image #{i}" if isinstance(item, np.ndarray) else Path(item).name
                    msg = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
                    skipped.append(msg)
                    if on_skip:
                        on_skip(msg)
                done += 1
                report(progress, done / len(images), f"image {done}/{len(images)}: {n_patches} patches")
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    kept = [p for p in parts if p is not None]
    if not kept:
        raise ValueError("no usable training images (" + "; ".join(skipped[:3]) + ")")
    return np.concatenate(kept), skipped


def learn_atoms_sklearn(
    patches: np.ndarray,
    config: TrainingConfig,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """Online dictionary learning with scikit-learn, one ``partial_fit`` per mini-batch."""
    from sklearn.decomposition import MiniBatchDictionaryLearning

    learner = MiniBatchDictionaryLearning(
        n_components=config.n_atoms,
        alpha=config.alpha,
        batch_size=config.batch_size,
        random_state=config.seed,
        fit_algorithm="lars",
        transform_algorithm="omp",
    )
    rng = np.random.default_rng(config.seed + 1)
    n = patches.shape[0]
    steps_per_epoch = max(1, int(np.ceil(n / config.batch_size)))
    total = steps_per_epoch * config.epochs
    step = 0
    t0 = time.perf_counter()
    for _ in range(config.epochs):
        order = rng.permutation(n)
        for s in range(0, n, config.batch_size):
            check_cancel(cancel)
            learner.partial_fit(patches[order[s : s + config.batch_size]])
            step += 1
            if step % 4 == 0 or step == total:
                left = (time.perf_counter() - t0) / step * (total - step)
                report(progress, step / total, f"batch {step}/{total}, ~{left:.0f} s left")
    return learner.components_.astype(np.float32)


def train_dictionary(
    images: Sequence[str | os.PathLike[str] | np.ndarray],
    config: TrainingConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    provenance: str = "",
    on_skip: Callable[[str], None] | None = None,
) -> Dictionary:
    """Train a RegionSparse dictionary from benign images (paths or arrays); seedable and cancellable."""
    config = config or TrainingConfig()
    config.validate()
    if not images:
        raise ValueError("no training images given")
    patches, skipped = patch_dataset(images, config, scaled(progress, 0.0, 0.2), cancel, on_skip)
    learn_progress = scaled(progress, 0.2, 1.0)
    if config.learner == "sklearn":
        atoms = learn_atoms_sklearn(patches, config, learn_progress, cancel)
    else:
        atoms = learn_atoms_torch(
            patches,
            config.n_atoms,
            k=config.train_k,
            batch_size=config.batch_size,
            epochs=config.epochs,
            seed=config.seed,
            progress=learn_progress,
            cancel=cancel,
        )
    n_used = len(images) - len(skipped)
    note = provenance or f"trained by RSDesk from {n_used} images"
    note += f"; {patches.shape[0]} patches, seed {config.seed}"
    return Dictionary(
        atoms=validate_atoms(atoms, config.patch_size),
        patch_size=config.patch_size,
        h=config.h,
        n_images=n_used,
        seed=config.seed,
        normalized=config.normalize,
        provenance=note,
    )
