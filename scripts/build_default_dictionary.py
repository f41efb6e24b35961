"""Rebuild ``resources/default_dictionary.npz``, ``resources/samples/`` and the ablation dictionaries
``resources/dictionaries/noIS.npz`` and ``noPN.npz`` from license-clean images.

The training images are natural photos that ship inside scikit-image and scikit-learn (licenses in
``resources/PROVENANCE.md``); none of them is a bundled sample image. Run from the repository root:

    pip install scikit-image && python scripts/build_default_dictionary.py

``--only default`` writes the default dictionary and the samples, ``--only ablations`` the paper's Fig. 4
ablation dictionaries: the same images, seed and settings as the default, except noIS skips the image
smoothing (h = 0) and noPN the patch normalization. Training is seeded, so the same library versions give
the same atoms.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from rsdesk.core.sparse.dictionary_file import save_dictionary
from rsdesk.core.sparse.training import TrainingConfig, train_dictionary

#: (loader module, function, license) — every image used to train the bundled dictionary.
TRAINING = [
    ("skimage", "hubble_deep_field", "NASA, public domain"),
    ("skimage", "brick", "CC0 (cc0textures.com)"),
    ("skimage", "grass", "CC0 (cc0textures.com)"),
    ("skimage", "gravel", "CC0 (cc0textures.com)"),
    ("skimage", "coins", "no known copyright restrictions (Brooklyn Museum)"),
    ("skimage", "retina", "CC0 (Wikimedia Commons)"),
    ("skimage", "immunohistochemistry", "no known copyright restrictions (CMMI)"),
    ("skimage", "clock", "public domain (Stefan van der Walt)"),
    ("skimage", "cell", "CC0"),
    ("sklearn", "china.jpg", "CC BY 2.0, danielbuechele on Flickr"),
    ("sklearn", "flower.jpg", "CC BY 2.0, vultilion on Flickr"),
]

#: bundled sample images: (skimage function, file name, license)
SAMPLES = [
    ("coffee", "coffee.jpg", "CC0, Rachel Michetti"),
    ("camera", "camera.jpg", "CC0, Lav Varshney"),
    ("chelsea", "chelsea.jpg", "CC0, Stefan van der Walt"),
    ("rocket", "rocket.jpg", "public domain, SpaceX"),
    ("astronaut", "astronaut.jpg", "public domain, NASA"),
]

#: scikit-learn's learner (the spec's reference) for the bundled file;
#: the app and the CLI train with the faster torch learner by default.
CONFIG = TrainingConfig(h=10.0, patch_size=8, patches_per_image=3000, n_atoms=256, seed=0, learner="sklearn")


def _as_rgb_float(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img[..., :3].astype(np.float32) / 255.0


def training_images() -> list[np.ndarray]:
    import skimage.data
    from sklearn.datasets import load_sample_image

    out = []
    for source, name, _ in TRAINING:
        img = getattr(skimage.data, name)() if source == "skimage" else load_sample_image(name)
        out.append(_as_rgb_float(img))
    return out


def write_samples(folder: Path) -> None:
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for func, fname, _ in SAMPLES:
        img = getattr(skimage.data, func)()
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        Image.fromarray(img[..., :3]).save(folder / fname, quality=95)


#: The paper's Fig. 4 ablations: (file stem, config, what differs from the default)
ABLATIONS = [
    ("noIS", dataclasses.replace(CONFIG, h=0.0), "no image smoothing (h 0)"),
    ("noPN", dataclasses.replace(CONFIG, normalize=False), "no patch normalization"),
]


def _progress(f: float, m: str) -> None:
    print(f"\r{100 * f:5.1f}% {m}".ljust(60), end="", flush=True)


def build(out: str | Path, config: TrainingConfig, label: str, images: list[np.ndarray]) -> None:
    torch.manual_seed(0)
    names = ", ".join(n for _, n, _ in TRAINING)
    t0 = time.perf_counter()
    # Unsmoothed or unnormalized patches make LARS drop degenerate regressors now and then; it copes, and
    # one line with the count reads better than a screen of identical warnings.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        d = train_dictionary(
            images,
            config,
            progress=_progress,
            provenance=f"{label}: {len(TRAINING)} license-clean photos from scikit-image and "
            f"scikit-learn ({names}); h {config.h:g}, {config.patches_per_image} patches per image",
        )
    print()
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if n := sum(issubclass(w.category, ConvergenceWarning) for w in caught):
        print(f"({n} scikit-learn LARS convergence warnings: degenerate active sets, regressors dropped)")
    save_dictionary(out, d)
    print(f"wrote {out} ({d.describe()}, normalized {d.normalized}) in {time.perf_counter() - t0:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="resources/default_dictionary.npz")
    ap.add_argument("--samples", default="resources/samples")
    ap.add_argument("--ablations-dir", default="resources/dictionaries")
    ap.add_argument(
        "--only",
        choices=("all", "default", "ablations"),
        default="all",
        help="default: the default dictionary and the samples; ablations: noIS.npz and noPN.npz",
    )
    args = ap.parse_args()
    images = training_images()
    if args.only in ("all", "default"):
        build(args.out, CONFIG, "RSDesk default", images)
        write_samples(Path(args.samples))
        print(f"wrote {args.samples}/")
    if args.only in ("all", "ablations"):
        folder = Path(args.ablations_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for stem, config, what in ABLATIONS:
            build(folder / f"{stem}.npz", config, f"RSDesk {stem} ablation ({what})", images)


if __name__ == "__main__":
    main()
