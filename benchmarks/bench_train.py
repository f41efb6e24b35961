"""Dictionary training: RSDesk's torch online learner vs scikit-learn's MiniBatchDictionaryLearning.

Same 60 000 patches (30 dev images × 2000, NLM h = 10, z-scored), 256 atoms, one epoch, both run here in
this process. Quality: mean relative OMP (K = 4) reconstruction error on held-out patches from 10 other
images. Also times the patch extraction (NLM on all cores) against a one-thread loop.

    python benchmarks/bench_train.py
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch
from _common import dev_images, emit, machine, print_table

from rsdesk.core.sparse.dictlearn import learn_atoms_torch, reconstruction_error
from rsdesk.core.sparse.training import TrainingConfig, learn_atoms_sklearn, patch_dataset


def main() -> None:
    torch.set_num_threads(2)
    print(machine())
    train_files, held_files = dev_images(30), dev_images(10, start=50)
    cfg = TrainingConfig(h=10, patch_size=8, patches_per_image=2000, n_atoms=256, seed=0)

    t = time.perf_counter()
    patches, _ = patch_dataset(train_files, cfg)
    t_parallel = time.perf_counter() - t
    cv2.setNumThreads(1)
    t = time.perf_counter()
    from rsdesk.core.sparse.training import _image_patches  # one image at a time, one thread: the baseline

    seeds = np.random.SeedSequence(0).spawn(len(train_files))
    for f, s in zip(train_files, seeds):
        _image_patches(f, cfg, s)
    t_serial = time.perf_counter() - t
    cv2.setNumThreads(-1)
    held, _ = patch_dataset(held_files, TrainingConfig(**{**cfg.__dict__, "seed": 1}))
    print(f"patches: {patches.shape[0]} train, {held.shape[0]} held out")

    t = time.perf_counter()
    ours = learn_atoms_torch(patches, 256, k=4, batch_size=cfg.batch_size, seed=0)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    ref = learn_atoms_sklearn(patches, cfg)
    t_ref = time.perf_counter() - t

    err_ours = reconstruction_error(ours, held, k=4)
    err_ref = reconstruction_error(ref, held, k=4)
    rng = np.random.default_rng(0)
    err_rand = reconstruction_error(rng.standard_normal((256, patches.shape[1])), held, k=4)
    print_table(
        ["step", "seconds", "held-out error (OMP K=4)"],
        [
            ["patch extraction, all cores", f"{t_parallel:.2f}", ""],
            ["patch extraction, 1 thread", f"{t_serial:.2f}", ""],
            ["RSDesk torch learner", f"{t_ours:.1f}", f"{err_ours:.4f}"],
            ["scikit-learn MiniBatchDictionaryLearning", f"{t_ref:.1f}", f"{err_ref:.4f}"],
            ["random dictionary", "", f"{err_rand:.4f}"],
        ],
    )
    print(
        f"speed-up vs scikit-learn: {t_ref / t_ours:.1f}x; error ratio ours/sklearn {err_ours / err_ref:.3f}"
    )
    emit(
        {
            "speedup_vs_sklearn": round(t_ref / t_ours, 2),
            "heldout_error_ratio": round(err_ours / err_ref, 4),
            "extraction_speedup": round(t_serial / t_parallel, 2),
        }
    )


if __name__ == "__main__":
    main()
