"""rsdesk.core.attacks.apgd: APGD-CE / APGD-DLR (L∞ and relative L2) through torchattacks — equal to a
direct ``torchattacks.APGD`` call with the same seed (one call per image in L2, each with its own radius),
within budget, seeded, progress and cancel, and it fools the real classifier."""

from __future__ import annotations

import pytest
import torch
import torchattacks

from rsdesk.core.attacks.apgd import APGDCE, APGDCEL2, APGDDLR, APGDDLRL2
from rsdesk.core.attacks.base import LINF, RELATIVE_L2
from rsdesk.core.progress import Cancelled, CancelToken

ALL = (APGDCE, APGDDLR, APGDCEL2, APGDDLRL2)


def _to_tensor(outcomes) -> torch.Tensor:
    return torch.stack([torch.from_numpy(o.adversarial).permute(2, 0, 1) for o in outcomes])


def _labels(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


def _scaled(tiny_batch: torch.Tensor) -> torch.Tensor:
    """The tiny batch at different brightness, so the images' norms (and L2 radii) differ."""
    return tiny_batch * torch.tensor([1.0, 0.5, 0.75, 0.3]).view(-1, 1, 1, 1)


def _params(cls, budget: float) -> dict:
    return {cls.strength.param: budget}


def _direct(cls, model, x, labels, budget, seed, **kw) -> torch.Tensor:
    """torchattacks' APGD called as its documentation says: one ε for the batch in L∞, one call per image
    with its own radius d·‖x_i‖₂ in L2."""
    steps, restarts = kw.get("steps", 100), kw.get("restarts", 1)
    if cls.strength is LINF:
        groups = [(slice(None), budget / 255)]
    else:
        radii = budget * x.flatten(1).norm(dim=1)
        groups = [(slice(i, i + 1), float(r)) for i, r in enumerate(radii)]
    out = x.clone()
    for part, eps in groups:
        atk = torchattacks.APGD(
            model, norm=cls.norm, eps=eps, steps=steps, n_restarts=restarts, seed=seed, loss=cls.loss
        )
        out[part] = atk(x[part], labels[part])
    return out


# ----- agreement with torchattacks ----------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_equals_a_direct_torchattacks_call(tiny_classifier, tiny_batch, cls):
    x = _scaled(tiny_batch)
    labels = _labels(tiny_classifier, x)
    budget = 4.0 if cls.strength is LINF else 0.03
    ours = _to_tensor(
        cls(**_params(cls, budget), steps=12, restarts=2, seed=5).run(tiny_classifier, x, labels=labels)
    )
    ref = _direct(cls, tiny_classifier, x, labels, budget, seed=5, steps=12, restarts=2)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert (ours != x).any()  # it did find adversarials (an image it does not fool comes back clean)


def test_targeted_is_refused_with_one_clear_message(tiny_classifier, tiny_batch):
    with pytest.raises(ValueError, match="runs untargeted"):
        APGDCE(steps=2).run(tiny_classifier, tiny_batch, targets=3)


# ----- budget -------------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [1.0, 4.0, 16.0])
@pytest.mark.parametrize("cls", [APGDCE, APGDDLR], ids=lambda c: c.name)
def test_linf_within_budget(tiny_classifier, tiny_batch, cls, eps):
    x = tiny_batch.clone()
    x[:, :, :4] = 0.0  # box edges: clipping matters
    outcomes = cls(eps=eps, steps=10).run(tiny_classifier, x)
    adv = _to_tensor(outcomes)
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max().item() <= eps / 255 + 1e-6
    assert max(o.linf for o in outcomes) <= eps + 1e-4


@pytest.mark.parametrize("d", [0.005, 0.03, 0.2])
@pytest.mark.parametrize("cls", [APGDCEL2, APGDDLRL2], ids=lambda c: c.name)
def test_l2_within_each_images_own_radius(tiny_classifier, tiny_batch, cls, d):
    x = _scaled(tiny_batch)
    outcomes = cls(d=d, steps=10).run(tiny_classifier, x)
    adv = _to_tensor(outcomes)
    assert adv.min() >= 0 and adv.max() <= 1
    radii = d * x.double().flatten(1).norm(dim=1)
    l2 = (adv - x).double().flatten(1).norm(dim=1)
    assert (l2 <= radii * (1 + 1e-6)).all()
    assert max(o.d for o in outcomes) <= d + 1e-6


def test_per_image_radius_is_honoured(tiny_classifier, tiny_batch):
    # Norms differ by up to 3×; a large d fools every image, each using (nearly) its own whole radius:
    # the largest L2 distance is well past the smallest image's radius, so ε is not one number.
    x = _scaled(tiny_batch)
    outcomes = APGDCEL2(d=0.2, steps=20).run(tiny_classifier, x)
    assert all(o.success for o in outcomes)
    radii = (0.2 * x.flatten(1).norm(dim=1)).tolist()
    assert max(o.l2 for o in outcomes) > 1.5 * min(radii)
    for o, r in zip(outcomes, radii):
        assert o.l2 <= r * (1 + 1e-6)
        assert o.d == pytest.approx(o.l2 / r * 0.2, rel=1e-5)


# ----- seed, progress, cancel, traits -------------------------------------------------------------


def test_seeded_and_leaves_the_callers_rng_alone(tiny_classifier, tiny_batch):
    state = torch.random.get_rng_state()
    a = _to_tensor(APGDCEL2(d=0.02, steps=5, seed=1).run(tiny_classifier, tiny_batch))
    assert torch.equal(torch.random.get_rng_state(), state)
    b = _to_tensor(APGDCEL2(d=0.02, steps=5, seed=1).run(tiny_classifier, tiny_batch))
    c = _to_tensor(APGDCEL2(d=0.02, steps=5, seed=2).run(tiny_classifier, tiny_batch))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_progress_counts_forwards(tiny_classifier, tiny_batch):
    calls: list[float] = []
    outcomes = APGDCE(eps=2, steps=5).run(tiny_classifier, tiny_batch, progress=lambda f, _m: calls.append(f))
    # the clean check, 1 initial gradient + 5 steps, then "done"
    assert calls == pytest.approx([1 / 7, 2 / 7, 3 / 7, 4 / 7, 5 / 7, 6 / 7, 1.0, 1.0])
    assert all(o.iterations == 5 for o in outcomes)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_cancel_mid_run(tiny_classifier, tiny_batch, cls):
    token = CancelToken()
    seen: list[float] = []

    def progress(fraction: float, _msg: str) -> None:
        seen.append(fraction)
        if len(seen) == 3:
            token.cancel()

    state = torch.random.get_rng_state()
    with pytest.raises(Cancelled):
        cls(steps=50).run(tiny_classifier, tiny_batch, progress=progress, cancel=token)
    assert len(seen) == 3
    assert torch.equal(torch.random.get_rng_state(), state)


def test_traits_iterations_and_params():
    assert [(c.name, c.title) for c in ALL] == [
        ("apgd-ce", "APGD-CE"),
        ("apgd-dlr", "APGD-DLR"),
        ("apgd-ce-l2", "APGD-CE-L2"),
        ("apgd-dlr-l2", "APGD-DLR-L2"),
    ]
    assert APGDCE.strength is LINF and APGDDLR.strength is LINF
    assert APGDCEL2.strength is RELATIVE_L2 and APGDDLRL2.strength is RELATIVE_L2
    assert (APGDCE.loss, APGDDLR.loss, APGDCEL2.norm, APGDCE.norm) == ("ce", "dlr", "L2", "Linf")
    for cls in ALL:
        p = cls().params
        assert p["steps"] == 100 and p["restarts"] == 1 and p["seed"] == 0
        assert set(cls.MAIN_PARAMS) <= set(p) and cls.strength.param in p
        assert cls.budget == "projection" and not cls.gradient_free
    assert APGDCE.iterations({"steps": 10, "restarts": 2, "eot": 3}) == 20
    assert APGDCE.iterations({"steps": 10, "restarts": 2, "eot": 3}, eot=True) == 60
    assert APGDCE.summary(APGDCE(steps=20).params) == "APGD-CE ε 8/255, 20 steps, restarts 1"
    assert APGDCEL2().params["d"] == 0.01


def test_a_model_must_be_a_module(tiny_batch):
    with pytest.raises(TypeError, match=r"nn\.Module"):
        APGDCE(steps=2).perturb(lambda x: x.flatten(1), tiny_batch, torch.zeros(4).long(), None, None, None)


# ----- the real classifier ------------------------------------------------------------------------


@pytest.mark.slow
def test_fools_the_undefended_classifier(classifier):
    from rsdesk.core.io.assets import resource_path
    from rsdesk.core.io.images import load_image

    names = ("coffee.jpg", "chelsea.jpg", "camera.jpg")
    x = classifier.to_tensor([classifier.prepare(load_image(resource_path("samples", n))) for n in names])
    outcomes = APGDCE(eps=2, steps=4).run(classifier, x)
    assert all(o.success for o in outcomes)
    assert max(o.linf for o in outcomes) <= 2 + 1e-4
    l2 = APGDCEL2(d=0.003, steps=4).run(classifier, x)
    assert all(o.success for o in l2) and max(o.d for o in l2) <= 0.003 + 1e-6
