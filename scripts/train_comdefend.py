"""Train the bundled ComDefend weights: ``resources/comdefend.pth`` and its record ``comdefend.json``.

ComDefend's networks (:mod:`rsdesk.core.defenses.comdefend`) trained here, not the authors' weights, on the
same 11 license-clean photos as the bundled RegionSparse dictionary (``scripts/build_default_dictionary.py``,
licenses in ``resources/PROVENANCE.md``). Run from the repository root:

    pip install scikit-image && python scripts/train_comdefend.py

Seeded: the same library versions, processor kind and torch thread count (``--threads``, default 1)
give the same file. Interrupted, the same command
resumes after the last finished epoch (the checkpoint is ``resources/comdefend.pth.ckpt``). ``--measure``
only prints the PSNR of the current weights on the bundled sample images.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from build_default_dictionary import TRAINING, training_images

from rsdesk.core.defenses.comdefend import ComDefend
from rsdesk.core.io.assets import sample_image_paths
from rsdesk.core.io.images import load_image
from rsdesk.core.training.comdefend import ComDefendConfig, train_comdefend

#: The bundled weights' settings: the authors' σ 20 and λ 1e-4; Adam at 5e-4 falling on a cosine; 4500 steps
#: of 8 random 32×32 crops, computed in bfloat16 (AMX); stored as float16.
CONFIG = ComDefendConfig(
    epochs=21,
    steps=300,
    batch_size=8,
    patch_size=32,
    lr=5e-4,
    schedule="cosine",
    noise=20.0,
    lam=1e-4,
    seed=0,
    augment=True,
    half=True,
    bf16=True,
)


def _progress(f: float, m: str) -> None:
    print(f"\r{100 * f:5.1f}% {m}".ljust(60), end="", flush=True)


def measure(weights: Path) -> None:
    """PSNR of the purified bundled samples against the originals."""
    defense = ComDefend(defense_weights=weights)
    for path in sample_image_paths():
        img = load_image(path)
        out = defense.purify(img).purified
        psnr = 10 * np.log10(1.0 / np.mean((out.astype(np.float64) - img) ** 2))
        print(f"{path.name}: {img.shape[1]}×{img.shape[0]}, PSNR {psnr:.2f} dB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="resources/comdefend.pth")
    ap.add_argument("--measure", action="store_true", help="only measure the PSNR of --out on the samples")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1, as the bundled file was made)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if not args.measure:
        print(f"training on {len(TRAINING)} images with {torch.get_num_threads()} torch threads")
        t0 = time.perf_counter()
        result = train_comdefend(
            training_images(), out, CONFIG, progress=_progress, names=[n for _, n, _ in TRAINING]
        )
        print()
        print(f"{result.describe()} ({time.perf_counter() - t0:.0f} s)")
    measure(out)


if __name__ == "__main__":
    main()
