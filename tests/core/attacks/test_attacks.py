"""rsdesk.core.attacks: agreement with torchattacks 3.5.1, constraints, bookkeeping, CW-L2, BPDA, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchattacks

from rsdesk.core.attacks import ATTACKS, BIM, BPDA, CWL2, FGSM, MIFGSM, create_attack
from rsdesk.core.defenses import JPEG, NoDefense
from rsdesk.core.progress import Cancelled, CancelToken


def _to_tensor(outcomes) -> torch.Tensor:
    return torch.stack([torch.from_numpy(o.adversarial).permute(2, 0, 1) for o in outcomes])


def _assert_matches_reference(ours: torch.Tensor, ref: torch.Tensor, alpha: float) -> None:
    """Equal up to rare gradient-sign flips (float rounding of near-zero gradients)."""
    assert ours.shape == ref.shape
    diff = (ours - ref).abs()
    assert (diff <= 1e-6).float().mean().item() >= 0.999, f"{(diff > 1e-6).float().mean():.4%} differ"
    assert diff.max().item() <= 2 * alpha + 1e-6


def _labels(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


# ----- agreement with torchattacks ----------------------------------------------------------------


def test_fgsm_matches_torchattacks(tiny_classifier, tiny_batch):
    labels = _labels(tiny_classifier, tiny_batch)
    ours = _to_tensor(FGSM(eps=8).run(tiny_classifier, tiny_batch, labels=labels))
    ref = torchattacks.FGSM(tiny_classifier, eps=8 / 255)(tiny_batch, labels)
    _assert_matches_reference(ours, ref, 8 / 255)


@pytest.mark.parametrize(("eps", "steps", "alpha"), [(8, 10, None), (4, 5, 2.0)])
def test_bim_matches_torchattacks(tiny_classifier, tiny_batch, eps, steps, alpha):
    labels = _labels(tiny_classifier, tiny_batch)
    attack = BIM(eps=eps, steps=steps, alpha=alpha)
    ours = _to_tensor(attack.run(tiny_classifier, tiny_batch, labels=labels))
    a = (alpha if alpha is not None else eps / steps) / 255
    ref = torchattacks.BIM(tiny_classifier, eps=eps / 255, alpha=a, steps=steps)(tiny_batch, labels)
    _assert_matches_reference(ours, ref, a)


def test_mifgsm_matches_torchattacks(tiny_classifier, tiny_batch):
    labels = _labels(tiny_classifier, tiny_batch)
    ours = _to_tensor(MIFGSM(eps=8, steps=10).run(tiny_classifier, tiny_batch, labels=labels))
    ref = torchattacks.MIFGSM(tiny_classifier, eps=8 / 255, alpha=0.8 / 255, steps=10, decay=1.0)(
        tiny_batch, labels
    )
    _assert_matches_reference(ours, ref, 0.8 / 255)


@pytest.mark.slow
def test_fgsm_matches_torchattacks_on_the_real_classifier(classifier, sample_image):
    x = classifier.to_tensor(sample_image)
    labels = torch.tensor([967])
    ours = _to_tensor(FGSM(eps=4).run(classifier, x, labels=labels))
    ref = torchattacks.FGSM(classifier, eps=4 / 255)(x, labels)
    _assert_matches_reference(ours, ref, 4 / 255)


def test_targeted_bim_matches_torchattacks(tiny_classifier, tiny_batch):
    targets = (_labels(tiny_classifier, tiny_batch) + 3) % 10
    ours = _to_tensor(BIM(eps=8, steps=10).run(tiny_classifier, tiny_batch, targets=targets))
    atk = torchattacks.BIM(tiny_classifier, eps=8 / 255, alpha=0.8 / 255, steps=10)
    atk.set_mode_targeted_by_label(quiet=True)
    _assert_matches_reference(ours, atk(tiny_batch, targets), 0.8 / 255)


def test_mifgsm_with_decay_zero_is_normalized_bim(tiny_classifier, tiny_batch):
    # With μ = 0 the momentum is the current normalized gradient: same signs as plain BIM.
    a = _to_tensor(MIFGSM(eps=6, steps=4, decay=0.0).run(tiny_classifier, tiny_batch))
    b = _to_tensor(BIM(eps=6, steps=4).run(tiny_classifier, tiny_batch))
    _assert_matches_reference(a, b, 1.5 / 255)


# ----- constraints and bookkeeping ----------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [FGSM(eps=8), BIM(eps=8, steps=5), MIFGSM(eps=8, steps=5), BIM(eps=8, steps=3, alpha=6)],
    ids=["fgsm", "bim", "mifgsm", "bim-large-alpha"],
)
def test_eps_ball_box_and_reported_numbers(tiny_classifier, tiny_batch, attack):
    # Push some pixels to the box edges so clipping matters.
    x = tiny_batch.clone()
    x[:, :, :4] = 0.0
    x[:, :, -4:] = 1.0
    outcomes = attack.run(tiny_classifier, x)
    adv = _to_tensor(outcomes)
    assert adv.dtype == torch.float32
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    delta = adv - x
    assert delta.abs().max().item() <= 8 / 255 + 1e-6
    assert delta.abs().max().item() > 4 / 255  # the attack did move the image
    with torch.no_grad():
        preds = tiny_classifier(adv).argmax(1)
        clean = tiny_classifier(x).argmax(1)
    for i, o in enumerate(outcomes):
        d = delta[i].flatten().double()
        assert o.adversarial.shape == (32, 32, 3)
        assert o.linf == pytest.approx(d.abs().max().item() * 255, rel=1e-5)
        assert o.l2 == pytest.approx(d.norm().item(), rel=1e-5)
        assert o.d == pytest.approx(d.norm().item() / x[i].double().norm().item(), rel=1e-5)
        assert o.predicted == int(preds[i])
        assert o.reference == int(clean[i])
        assert o.success == (o.predicted != o.reference)
        assert o.target is None
        assert o.iterations == (1 if isinstance(attack, FGSM) else attack.params["steps"])
        assert set(o.as_dict()) == {"success", "l2", "d", "linf", "iterations"}


def test_reference_label_is_true_label_when_given(tiny_classifier, tiny_batch):
    clean = _labels(tiny_classifier, tiny_batch)
    wrong = (clean + 1) % 10
    given = [int(wrong[0]), None, int(wrong[2]), None]
    outcomes = BIM(eps=2, steps=2).run(tiny_classifier, tiny_batch, labels=given)
    assert [o.reference for o in outcomes] == [int(wrong[0]), int(clean[1]), int(wrong[2]), int(clean[3])]
    for o in outcomes:
        assert o.success == (o.predicted != o.reference)
    as_tensor = BIM(eps=2, steps=2).run(tiny_classifier, tiny_batch, labels=wrong)
    assert [o.reference for o in as_tensor] == wrong.tolist()


def test_targeted_success_flags(tiny_classifier, tiny_batch):
    outcomes = BIM(eps=32, steps=20).run(tiny_classifier, tiny_batch, targets=7)
    assert [o.target for o in outcomes] == [7, 7, 7, 7]
    for o in outcomes:
        assert o.success == (o.predicted == 7)
    assert sum(o.success for o in outcomes) >= 1


def test_zero_eps_leaves_the_image(tiny_classifier, tiny_batch):
    outcomes = BIM(eps=0, steps=3).run(tiny_classifier, tiny_batch)
    assert torch.equal(_to_tensor(outcomes), tiny_batch)
    assert all(o.l2 == 0.0 and o.linf == 0.0 and not o.success for o in outcomes)


@pytest.mark.parametrize("cls", [BIM, MIFGSM, BPDA])
def test_progress_once_per_iteration(tiny_classifier, tiny_batch, cls):
    calls: list[float] = []
    kwargs = {"purify": NoDefense()} if cls is BPDA else {}
    cls(eps=4, steps=5, **kwargs).run(tiny_classifier, tiny_batch, progress=lambda f, _m: calls.append(f))
    assert calls == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_progress_fgsm_and_cw(tiny_classifier, tiny_batch):
    calls: list[float] = []
    FGSM(eps=4).run(tiny_classifier, tiny_batch, progress=lambda f, _m: calls.append(f))
    assert calls == [1.0]
    calls.clear()
    CWL2(steps=3, binary_steps=2).run(tiny_classifier, tiny_batch, progress=lambda f, _m: calls.append(f))
    assert calls == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0])


@pytest.mark.parametrize("name", ["bim", "mifgsm", "cw"])
def test_cancel_mid_run(tiny_classifier, tiny_batch, name):
    token = CancelToken()
    calls: list[float] = []

    def progress(fraction: float, _msg: str) -> None:
        calls.append(fraction)
        if len(calls) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        create_attack(name, steps=10).run(tiny_classifier, tiny_batch, progress=progress, cancel=token)
    assert len(calls) == 2


def test_cancel_before_fgsm(tiny_classifier, tiny_batch):
    with pytest.raises(Cancelled):
        FGSM().run(tiny_classifier, tiny_batch, cancel=lambda: True)


# ----- CW-L2 --------------------------------------------------------------------------------------


def test_cw_stays_in_box_and_reports_iterations(tiny_classifier, tiny_batch):
    outcomes = CWL2(c=10, steps=20, lr=0.05, binary_steps=2).run(tiny_classifier, tiny_batch)
    adv = _to_tensor(outcomes)
    assert adv.min() >= 0 and adv.max() <= 1
    for o in outcomes:
        assert o.iterations == 40
        if o.success:
            assert o.predicted != o.reference and o.l2 > 0
        else:
            # CW keeps the best successful image; with none found the image is returned unchanged.
            assert o.l2 == 0.0
    assert any(o.success for o in outcomes)


def test_cw_d_scaling_reaches_requested_distance(tiny_classifier, tiny_batch):
    x = 0.25 + 0.5 * tiny_batch  # mid-range pixels: no clipping at the box edges
    base = CWL2(c=10, steps=20, lr=0.05).run(tiny_classifier, x)
    scaled = CWL2(c=10, steps=20, lr=0.05, d=0.08).run(tiny_classifier, x)
    for b, s, xi in zip(base, scaled, x):
        if b.l2 == 0:  # failed: nothing to scale
            assert s.l2 == 0
            continue
        assert b.d < 0.08
        assert s.d == pytest.approx(0.08, rel=1e-3)
        delta_b = b.adversarial - xi.permute(1, 2, 0).numpy()
        delta_s = s.adversarial - xi.permute(1, 2, 0).numpy()
        tau = s.l2 / b.l2
        assert tau > 1
        np.testing.assert_allclose(delta_s, tau * delta_b, atol=1e-5)  # same direction, longer
    assert any(b.l2 > 0 for b in base)


def test_cw_d_scaling_never_shrinks(tiny_classifier, tiny_batch):
    x = 0.25 + 0.5 * tiny_batch
    base = CWL2(c=10, steps=20, lr=0.05).run(tiny_classifier, x)
    tiny_d = CWL2(c=10, steps=20, lr=0.05, d=1e-6).run(tiny_classifier, x)
    for b, s in zip(base, tiny_d):
        np.testing.assert_array_equal(s.adversarial, b.adversarial)  # τ ≥ 1: already past d


def test_cw_d_scaling_is_limited_by_clipping(tiny_classifier, tiny_batch):
    scaled = CWL2(c=10, steps=20, lr=0.05, d=1.5).run(tiny_classifier, tiny_batch)
    for s in scaled:
        if s.l2 > 0:
            assert s.d < 1.5
            assert s.adversarial.min() >= 0 and s.adversarial.max() <= 1
            assert (s.adversarial == 0).any() or (s.adversarial == 1).any()


@pytest.mark.slow
def test_cw_fools_the_real_classifier(classifier, sample_image):
    x = classifier.to_tensor(sample_image)
    o = CWL2(c=10, steps=10).run(classifier, x)[0]
    p = classifier.classify(o.adversarial)
    assert o.reference == 967
    assert o.success and o.predicted != 967 and p.index == o.predicted
    assert p.probs[967] < 0.5 * classifier.classify(sample_image).probs[967]
    assert 0 < o.d < 0.05  # a small L2 perturbation
    s = CWL2(c=10, steps=10, d=0.05).run(classifier, x)[0]
    assert s.d == pytest.approx(0.05, rel=1e-3)


@pytest.mark.slow
def test_targeted_bim_reaches_tabby(classifier, sample_image):
    o = BIM(eps=16, steps=10).run(classifier, classifier.to_tensor(sample_image), targets=281)[0]
    assert o.target == 281
    assert o.success and o.predicted == 281
    assert classifier.classify(o.adversarial).index == 281
    assert o.linf <= 16 + 1e-3
    assert o.reference == 967


# ----- BPDA ---------------------------------------------------------------------------------------


def test_bpda_needs_a_purifier(tiny_classifier, tiny_batch):
    with pytest.raises(ValueError, match="BPDA needs the defense"):
        BPDA(eps=4, steps=2).run(tiny_classifier, tiny_batch)


def test_bpda_with_identity_equals_bim(tiny_classifier, tiny_batch):
    a = _to_tensor(BPDA(purify=NoDefense(), eps=8, steps=5).run(tiny_classifier, tiny_batch))
    b = _to_tensor(BIM(eps=8, steps=5).run(tiny_classifier, tiny_batch))
    assert torch.equal(a, b)


def test_bpda_judges_success_through_the_defense(tiny_classifier, tiny_batch):
    jpeg = JPEG(quality=30)
    seen: list[np.ndarray] = []

    def purify(img: np.ndarray) -> np.ndarray:
        seen.append(img)
        return jpeg(img)

    attack = BPDA(purify=purify, eps=16, steps=4, eot=2)
    outcomes = attack.run(tiny_classifier, tiny_batch)
    # 4 steps × 2 EOT samples × 4 images for the gradients, then 4 for the final prediction
    assert len(seen) == 4 * 2 * 4 + 4
    adv = _to_tensor(outcomes)
    assert (adv - tiny_batch).abs().max() <= 16 / 255 + 1e-6
    purified = torch.stack([torch.from_numpy(jpeg(o.adversarial)).permute(2, 0, 1) for o in outcomes])
    with torch.no_grad():
        through_defense = tiny_classifier(purified).argmax(1)
    for o, p in zip(outcomes, through_defense.tolist()):
        assert o.predicted == p
        assert o.success == (p != o.reference)


# ----- parameters and registry --------------------------------------------------------------------


def test_registry_and_aliases():
    assert set(ATTACKS) == {
        "fgsm",
        "bim",
        "mifgsm",
        "cw",
        "pgd-l2",
        "mifgsm-l2",
        "apgd-ce",
        "apgd-dlr",
        "apgd-ce-l2",
        "apgd-dlr-l2",
        "bpda",
        "bpda-pgd-l2",
        "bpda-apgd-ce",
        "bpda-apgd-dlr",
        "bpda-apgd-ce-l2",
        "bpda-apgd-dlr-l2",
        "square",
        "square-l2",
    }
    assert create_attack("PGD_L2").name == "pgd-l2"
    assert isinstance(create_attack("MI-FGSM"), MIFGSM)
    assert isinstance(create_attack("cw_l2"), CWL2)
    assert isinstance(create_attack("mi"), MIFGSM)
    bim = create_attack("bim", eps="4", steps="8")
    assert bim.params == {"eps": 4.0, "steps": 8, "alpha": None}
    assert bim.describe() == "BIM (eps=4, steps=8)"
    assert create_attack("mifgsm").params["decay"] == 1.0


def test_invalid_attack_parameters():
    with pytest.raises(ValueError, match=r"ε \(/255\) must be within 0…255, got 300"):
        create_attack("fgsm", eps=300)
    with pytest.raises(ValueError, match=r"steps must be within 1…10000, got 0"):
        create_attack("bim", steps=0)
    with pytest.raises(ValueError, match="steps must be a whole number"):
        create_attack("bim", steps=2.5)
    with pytest.raises(ValueError, match=r"unknown attack 'deepfool'; choose one of fgsm, bim"):
        create_attack("deepfool")
    with pytest.raises(ValueError, match=r"FGSM: unknown parameter\(s\) steps"):
        create_attack("fgsm", steps=3)
    with pytest.raises(ValueError, match="c must be within"):
        create_attack("cw", c=0)


def test_traits_describe_every_attack():
    from rsdesk.core.attacks import LINF, RELATIVE_L2, attack_class

    for name, cls in ATTACKS.items():
        specs = {p.name for p in cls.PARAMS}
        assert cls.strength.param in specs and set(cls.MAIN_PARAMS) <= specs, name
        assert attack_class(name.upper()) is cls
    assert ATTACKS["cw"].strength is RELATIVE_L2 and ATTACKS["bim"].strength is LINF
    aware = [n for n, c in ATTACKS.items() if c.defense_aware]
    assert aware[0] == "bpda" and all(n.startswith(("bpda", "square")) for n in aware)
    assert [n for n, c in ATTACKS.items() if c.gradient_free] == ["square", "square-l2"]
    assert ATTACKS["pgd-l2"].strength is RELATIVE_L2 and ATTACKS["apgd-ce"].strength is LINF
    assert ATTACKS["bpda"].short_title == "BPDA (defense-aware)"
    assert ATTACKS["mifgsm"].short_title == "MI-FGSM"
    assert LINF.format(8) == "ε 8/255" and RELATIVE_L2.format(0.05) == "d 0.05"


def test_attack_summaries():
    assert BIM.summary(BIM().params) == "BIM ε 8/255, 10 steps"
    assert FGSM.summary({"eps": 4.0}) == "FGSM ε 4/255"
    assert CWL2.summary(CWL2(d=0.05).params) == "CW-L2 c 0.1, d 0.05, 100 steps"
    assert BPDA.summary(BPDA(steps=3).params) == "BPDA ε 8/255, 3 steps"


def test_scale_perturbation_reaches_d_exactly_or_at_least():
    from rsdesk.core.attacks.base import scale_perturbation

    g = torch.Generator().manual_seed(0)
    x = 0.25 + 0.5 * torch.rand(2, 3, 16, 16, generator=g)
    adv = x + 0.01 * torch.randn(2, 3, 16, 16, generator=g)
    adv[1] = x[1]  # an unperturbed image stays as it is

    def d(a):
        return ((a - x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)).tolist()

    small = d(adv)[0]
    exact = scale_perturbation(x, adv, small / 2, at_least_one=False)  # an L∞ attack measured in d
    assert d(exact)[0] == pytest.approx(small / 2, rel=1e-5) and d(exact)[1] == 0
    kept = scale_perturbation(x, adv, small / 2)  # CW-L2: τ ≥ 1, a perturbation past d is kept
    assert d(kept)[0] == pytest.approx(small, rel=1e-5)
    grown = scale_perturbation(x, adv, 2 * small)
    assert d(grown)[0] == pytest.approx(2 * small, rel=1e-4)
