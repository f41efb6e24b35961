"""rsdesk.core.attacks.bpda: any attack made defense-aware by one mixin — the surrogate rule (identity,
linear where the defense offers it, auto), EOT, judging through the defense, Square's per-image queries —
and the same attacks through an evaluation run."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from rsdesk.core.attacks import ATTACKS, create_attack
from rsdesk.core.defenses import JPEG, Bilateral, NoDefense


def _adv(outcomes) -> torch.Tensor:
    return torch.stack([torch.from_numpy(o.adversarial).permute(2, 0, 1) for o in outcomes])


@pytest.mark.parametrize("name", [n for n, c in ATTACKS.items() if c.defense_aware])
def test_every_defense_aware_attack_needs_the_defense(tiny_classifier, tiny_batch, name):
    with pytest.raises(ValueError, match="needs the defense"):
        create_attack(name).run(tiny_classifier, tiny_batch[:1])


def test_auto_takes_the_linear_surrogate_only_where_the_defense_offers_it():
    bilateral = Bilateral(d=5)
    assert create_attack("bpda", purify=bilateral, surrogate="auto").surrogate == "linear"
    assert create_attack("bpda", purify=JPEG(), surrogate="auto").surrogate == "identity"
    assert create_attack("bpda", purify=bilateral).surrogate == "identity"  # the default is BPDA's own
    # a plain callable (a randomized defense's draws) offers the identity only
    assert create_attack("bpda-apgd-ce", purify=lambda img: img, surrogate="auto").surrogate == "identity"
    with pytest.raises(ValueError, match="JPEG compression"):
        create_attack("bpda", purify=JPEG(), surrogate="linear")


def test_linear_surrogate_moves_the_attack_differently_from_the_identity(tiny_classifier, tiny_batch):
    bilateral = Bilateral(d=5, sigma_color=40.0, sigma_space=5.0)
    runs = {
        s: create_attack("bpda", purify=bilateral, surrogate=s, eps=8, steps=3).run(
            tiny_classifier, tiny_batch
        )
        for s in ("identity", "linear")
    }
    lin, ident = _adv(runs["linear"]), _adv(runs["identity"])
    for adv in (lin, ident):
        assert (adv - tiny_batch).abs().max() <= 8 / 255 + 1e-6
    assert not torch.equal(lin, ident)  # the exact backward pass is not the identity
    # judged through the defense: the prediction is the classifier's on the purified adversarial
    purified = torch.stack(
        [torch.from_numpy(bilateral(o.adversarial)).permute(2, 0, 1) for o in runs["linear"]]
    )
    with torch.no_grad():
        assert tiny_classifier(purified).argmax(1).tolist() == [o.predicted for o in runs["linear"]]


def test_apgd_through_no_defense_is_the_gray_box_apgd(tiny_classifier, tiny_batch):
    aware = create_attack("bpda-apgd-ce", purify=NoDefense(), eps=4, steps=4).run(tiny_classifier, tiny_batch)
    gray = create_attack("apgd-ce", eps=4, steps=4).run(tiny_classifier, tiny_batch)
    assert torch.allclose(_adv(aware), _adv(gray), atol=1e-6)
    assert [o.predicted for o in aware] == [o.predicted for o in gray]


def test_pgd_l2_through_a_defense_stays_within_each_images_radius(tiny_classifier, tiny_batch):
    outs = create_attack("bpda-pgd-l2", purify=JPEG(quality=50), d=0.02, steps=3).run(
        tiny_classifier, tiny_batch
    )
    assert all(o.d <= 0.02 + 1e-6 for o in outs)


def test_square_queries_the_defended_pipeline_and_counts_per_image(tiny_classifier, tiny_batch):
    seen: list[int] = []
    jpeg = JPEG(quality=60)

    def purify(img: np.ndarray) -> np.ndarray:
        seen.append(1)
        return jpeg(img)

    outs = create_attack("square", purify=purify, eps=16, queries=20).run(tiny_classifier, tiny_batch)
    assert seen, "Square never looked through the defense"
    assert all(0 <= o.iterations <= 20 + 1 for o in outs)  # the initial stripes are a query too
    assert all(o.linf <= 16 + 1e-3 for o in outs)


def test_a_plan_runs_apgd_and_square_through_each_defense(tmp_path):
    from rsdesk.core.evaluation import run_evaluation
    from rsdesk.core.io.assets import resource_path

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(resource_path("samples", "coffee.jpg"), photos / "coffee.jpg")
    (photos / "labels.csv").write_text("file,class_index\ncoffee.jpg,967\n")
    plan = {
        "batch_size": 1,
        "attacks": {
            "bpda-apgd-ce": {"attack": "bpda-apgd-ce", "params": {"steps": 2, "surrogate": "auto"}},
            "square": {"attack": "square", "params": {"queries": 5}},
        },
        "defenses": {"none": {}, "bilateral": {}},
        "experiments": [
            {"name": "aware", "attacks": {"bpda-apgd-ce": [4], "square": [4]}, "defenses": ["bilateral"]}
        ],
    }
    out = tmp_path / "run"
    run_evaluation(plan, [photos], out)
    import csv

    with open(out / "results.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["attack"]]
    pairs = {(r["attack"], r["defense"]) for r in rows}
    assert pairs == {(a, d) for a in ("bpda-apgd-ce", "square") for d in ("none", "bilateral")}
    assert all(r["threat"] == "aware" for r in rows)
    assert all(float(r["linf"]) <= 4 + 1e-3 for r in rows)
