"""rsdesk.core.evaluate: accuracy sweeps over attack strengths and defenses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdesk.core.attacks import BIM, CWL2, FGSM
from rsdesk.core.defenses import JPEG, NoDefense
from rsdesk.core.evaluate import SweepResult, make_attack, sweep
from rsdesk.core.progress import Cancelled


@pytest.fixture(scope="module")
def images_and_labels(tiny_classifier, tiny_batch):
    images = [im.permute(1, 2, 0).numpy().copy() for im in tiny_batch]
    with torch.no_grad():
        labels = tiny_classifier(tiny_batch).argmax(1).tolist()
    return images, labels


def test_sweep_shapes_and_consistency(tiny_classifier, images_and_labels):
    images, labels = images_and_labels
    defenses = {"none": NoDefense(), "jpeg": JPEG(quality=50)}
    calls: list[float] = []
    res = sweep(
        tiny_classifier,
        images,
        labels,
        "fgsm",
        [2, 8],
        defenses,
        progress=lambda f, _m: calls.append(f),
    )
    assert isinstance(res, SweepResult)
    assert res.strengths == [0.0, 2.0, 8.0]
    assert res.defenses == ["none", "jpeg"]
    assert res.n_images == 4
    assert set(res.accuracy) == {"none", "jpeg"}
    for accs in res.accuracy.values():
        assert len(accs) == 3
        assert all(0.0 <= a <= 1.0 for a in accs)
        assert all(a * 4 == round(a * 4) for a in accs)  # fractions of 4 images
    assert len(res.attack_success) == 3
    # The labels are the clean predictions: everything is right without attack and without defense.
    assert res.accuracy["none"][0] == 1.0 and res.attack_success[0] == 0.0
    # "none" is the bare classifier, so its accuracy is exactly 1 − attack success at every strength.
    np.testing.assert_allclose(res.accuracy["none"], 1 - np.array(res.attack_success))
    assert res.accuracy["none"][2] < 1.0  # FGSM 8/255 fools this model at least once
    assert calls[-1] == 1.0 and calls == sorted(calls)
    assert res.seconds > 0
    d = res.as_dict()
    assert d["attack"] == "fgsm" and d["strengths"] == [0.0, 2.0, 8.0] and d["n_images"] == 4
    assert d["accuracy"] == res.accuracy


def test_sweep_matches_attacking_by_hand(tiny_classifier, images_and_labels, tiny_batch):
    images, labels = images_and_labels
    res = sweep(tiny_classifier, images, labels, "bim", [6], {"none": NoDefense()}, {"steps": 3})
    outcomes = BIM(eps=6, steps=3).run(tiny_classifier, tiny_batch, labels=labels)
    assert res.attack_success[1] == pytest.approx(np.mean([o.success for o in outcomes]))


def test_table_has_one_row_per_defense(tiny_classifier, images_and_labels):
    images, labels = images_and_labels
    defenses = {"No defense": NoDefense(), "JPEG compression (quality=50)": JPEG(quality=50)}
    res = sweep(tiny_classifier, images[:3], labels[:3], "fgsm", [4], defenses)
    lines = res.table().splitlines()
    assert len(lines) == 1 + 2
    assert lines[0].split() == ["defense", "clean", "ε", "4"]
    assert lines[1].startswith("No defense")
    assert lines[2].startswith("JPEG compression (quality=50)")
    assert lines[1].split()[-2] == f"{100 * res.accuracy['No defense'][0]:.1f}%"
    assert lines[2].split()[-1] == f"{100 * res.accuracy['JPEG compression (quality=50)'][1]:.1f}%"


def test_cw_table_uses_d():
    res = SweepResult("cw", [0.0, 0.05], ["none"], {"none": [1.0, 0.5]})
    assert res.table().splitlines()[0].split() == ["defense", "clean", "d", "0.05"]
    assert res.table().splitlines()[1].split() == ["none", "100.0%", "50.0%"]


def test_make_attack_sets_the_strength():
    fgsm = make_attack("fgsm", 6)
    assert isinstance(fgsm, FGSM) and fgsm.params["eps"] == 6
    cw = make_attack("cw", 0.1, steps=5)
    assert isinstance(cw, CWL2) and cw.params["d"] == 0.1 and cw.params["steps"] == 5


def test_non_positive_strengths_are_dropped_and_quantize_works(tiny_classifier, images_and_labels):
    images, labels = images_and_labels
    res = sweep(
        tiny_classifier, images, labels, "fgsm", [0, -1, 8], {"none": NoDefense()}, quantize_adversarial=True
    )
    assert res.strengths == [0.0, 8.0]
    assert all(0 <= a <= 1 for a in res.accuracy["none"])


def test_sweep_errors_and_cancel(tiny_classifier, images_and_labels):
    images, labels = images_and_labels
    with pytest.raises(ValueError, match="same, non-zero number of images and labels"):
        sweep(tiny_classifier, images, labels[:2], "fgsm", [4], {"none": NoDefense()})
    with pytest.raises(ValueError, match="same, non-zero number"):
        sweep(tiny_classifier, [], [], "fgsm", [4], {"none": NoDefense()})
    with pytest.raises(ValueError, match="unknown attack"):
        sweep(tiny_classifier, images, labels, "nope", [4], {"none": NoDefense()})
    with pytest.raises(Cancelled):
        sweep(tiny_classifier, images, labels, "fgsm", [4], {"none": NoDefense()}, cancel=lambda: True)


def test_bpda_sweep_attacks_through_each_defense(classifier, sample_image):
    import math

    from rsdesk.core.defenses import create_defense
    from rsdesk.core.evaluate import sweep

    defenses = {"none": create_defense("none"), "jpeg": create_defense("jpeg")}
    res = sweep(classifier, [sample_image], [967], "bpda", [16], defenses, attack_params={"steps": 3})
    assert res.strengths == [0.0, 16.0]
    assert res.accuracy["none"] == [1.0, 0.0]  # through no defense, BPDA is plain BIM: fooled
    assert res.accuracy["jpeg"][1] == 0.0  # and JPEG does not stop an attack that sees it
    assert math.isnan(res.attack_success[1])


def test_make_attack_goes_through_the_defense_for_a_defense_aware_attack():
    from rsdesk.core.attacks import BPDA
    from rsdesk.core.defenses import NoDefense

    defense = NoDefense()
    bpda = make_attack("bpda", 4, purify=defense, steps=2)
    assert isinstance(bpda, BPDA) and bpda.params["eps"] == 4 and bpda.purifier.purify is defense
    assert make_attack("fgsm", 4, purify=defense).params == {"eps": 4}  # gray-box: the defense is not used
