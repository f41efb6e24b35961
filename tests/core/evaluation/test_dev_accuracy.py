"""On the ImageNet dev images in ../shared (skipped without them): the classifier's preprocessing and the
default defense keep their measured accuracy (88 % and 75 % on all 100 images)."""

from __future__ import annotations

import numpy as np

from rsdesk.core.defenses import create_defense
from rsdesk.core.io.images import load_image
from rsdesk.core.io.labels import read_labels_csv


def _first(shared_dev, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    labels = read_labels_csv(shared_dev)
    names = sorted(labels)[:n]
    return [load_image(shared_dev / f) for f in names], np.array([labels[f] for f in names])


def test_clean_accuracy_and_regionsparse_clean_accuracy(shared_dev, classifier):
    # The floors: clean top-1 ≥ 85 %, clean top-1 through RegionSparse ≥ 70 %.
    imgs, y = _first(shared_dev, 100)
    prepared = [classifier.prepare(im) for im in imgs]
    clean = np.array([p.index for p in classifier.classify_many(prepared)])
    defense = create_defense("regionsparse")
    purified = [defense(im) for im in prepared]
    through = np.array([p.index for p in classifier.classify_many(purified)])
    assert (clean == y).mean() >= 0.85
    assert (through == y).mean() >= 0.70
