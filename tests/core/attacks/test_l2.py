"""rsdesk.core.attacks.l2: PGD-L2 and MI-FGSM-L2 at a relative budget d — agreement with torchattacks'
PGDL2, every image within its own radius d·‖x‖₂, EOT averaging, progress and cancel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchattacks

from rsdesk.core.attacks._budget import l2_radii, project_l2
from rsdesk.core.attacks.base import RELATIVE_L2
from rsdesk.core.attacks.l2 import MIFGSML2, PGDL2, eot_gradient
from rsdesk.core.params import Param
from rsdesk.core.progress import Cancelled, CancelToken


def _to_tensor(outcomes) -> torch.Tensor:
    return torch.stack([torch.from_numpy(o.adversarial).permute(2, 0, 1) for o in outcomes])


def _labels(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


def _d(adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (adv - x).double().flatten(1).norm(dim=1) / x.double().flatten(1).norm(dim=1)


def _edgy(tiny_batch: torch.Tensor) -> torch.Tensor:
    """The tiny batch with pixels pushed to the box edges (clipping matters) and different norms."""
    x = tiny_batch.clone()
    x[:, :, :4] = 0.0
    x[:, :, -4:] = 1.0
    return x * torch.tensor([1.0, 0.8, 0.6, 0.9]).view(-1, 1, 1, 1)


# ----- budget -------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [0.002, 0.02, 0.1, 0.5])
@pytest.mark.parametrize(
    "make",
    [
        lambda d: PGDL2(d=d, steps=6),
        lambda d: PGDL2(d=d, steps=6, random_start=True, seed=3),
        lambda d: PGDL2(d=d, steps=3, alpha=2.0),  # steps larger than the ball: projection does the work
        lambda d: MIFGSML2(d=d, steps=6),
    ],
    ids=["pgd", "pgd-random-start", "pgd-large-alpha", "mifgsm"],
)
def test_every_image_within_its_own_budget(tiny_classifier, tiny_batch, d, make):
    x = _edgy(tiny_batch)
    outcomes = make(d).run(tiny_classifier, x)
    adv = _to_tensor(outcomes)
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    measured = _d(adv, x)
    assert measured.max().item() <= d + 1e-6
    assert [o.d for o in outcomes] == pytest.approx(measured.tolist(), rel=1e-6)
    # the attack did use its budget (box clipping can only take a little of it away)
    assert measured.min().item() > 0.5 * d
    # each image's own radius, not one ε for the batch: the absolute L2 distances differ with ‖x_i‖
    l2 = torch.tensor([o.l2 for o in outcomes])
    assert l2.max() / l2.min() > 1.3


def test_radii_and_projection():
    x = torch.full((2, 3, 4, 4), 0.5)
    x[1] *= 0.5
    eps = l2_radii(x, 0.1)
    assert eps.tolist() == pytest.approx([0.1 * 0.5 * 48**0.5, 0.1 * 0.25 * 48**0.5], rel=1e-6)
    delta = torch.zeros_like(x)
    delta[0, 0, 0, 0] = 10.0  # far outside the ball (and the box): scaled to the radius, then clipped
    delta[1, 0, 0, 0] = 0.01  # inside: kept as it is
    out = project_l2(x + delta, x, eps)
    assert out[0, 0, 0, 0].item() == pytest.approx(0.5 + eps[0].item(), rel=1e-6)
    assert out[1, 0, 0, 0].item() == pytest.approx(0.26, rel=1e-6)
    assert torch.equal(out[:, 1:], x[:, 1:])


def test_zero_budget_leaves_the_images(tiny_classifier, tiny_batch):
    for attack in (PGDL2(d=0, steps=3), MIFGSML2(d=0, steps=3)):
        assert torch.equal(_to_tensor(attack.run(tiny_classifier, tiny_batch)), tiny_batch)


# ----- agreement with torchattacks' PGDL2 ---------------------------------------------------------


@pytest.mark.parametrize(("d", "steps", "alpha"), [(0.05, 10, None), (0.01, 5, 0.4)])
def test_pgdl2_matches_torchattacks(tiny_classifier, tiny_batch, d, steps, alpha):
    # torchattacks takes one scalar ε: run it per image with that image's ε_i = d·‖x_i‖₂. Same order of
    # operations (step along ∇/‖∇‖₂, scale δ onto the ball, clip to the box).
    x = _edgy(tiny_batch)
    labels = _labels(tiny_classifier, x)
    ours = _to_tensor(PGDL2(d=d, steps=steps, alpha=alpha).run(tiny_classifier, x, labels=labels))
    frac = alpha if alpha is not None else 2.5 / steps
    for i in range(x.shape[0]):
        eps = d * x[i].norm().item()
        ref = torchattacks.PGDL2(tiny_classifier, eps=eps, alpha=frac * eps, steps=steps, random_start=False)(
            x[i : i + 1], labels[i : i + 1]
        )
        torch.testing.assert_close(ours[i : i + 1], ref, atol=1e-5, rtol=0)
        assert (ours[i] - x[i]).norm().item() > 0.5 * eps


def test_targeted_pgdl2_matches_torchattacks(tiny_classifier, tiny_batch):
    targets = (_labels(tiny_classifier, tiny_batch) + 3) % 10
    outcomes = PGDL2(d=0.3, steps=10).run(tiny_classifier, tiny_batch, targets=targets)
    ours = _to_tensor(outcomes)
    for i in range(tiny_batch.shape[0]):
        eps = 0.3 * tiny_batch[i].norm().item()
        atk = torchattacks.PGDL2(tiny_classifier, eps=eps, alpha=0.25 * eps, steps=10, random_start=False)
        atk.set_mode_targeted_by_label(quiet=True)
        ref = atk(tiny_batch[i : i + 1], targets[i : i + 1])
        torch.testing.assert_close(ours[i : i + 1], ref, atol=1e-5, rtol=0)
    assert [o.target for o in outcomes] == targets.tolist()
    assert sum(o.success for o in outcomes) >= 2


def test_random_start_matches_torchattacks_and_is_seeded(tiny_classifier, tiny_batch):
    x = tiny_batch[1:2]
    label = _labels(tiny_classifier, x)
    eps = 0.05 * x.norm().item()
    torch.manual_seed(7)
    ref = torchattacks.PGDL2(tiny_classifier, eps=eps, alpha=0.5 * eps, steps=5, random_start=True)(x, label)
    state = torch.random.get_rng_state()
    attack = PGDL2(d=0.05, steps=5, random_start=True, seed=7)
    ours = _to_tensor(attack.run(tiny_classifier, x, labels=label))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is left alone
    again = _to_tensor(attack.run(tiny_classifier, x, labels=label))
    assert torch.equal(ours, again)
    other = _to_tensor(
        PGDL2(d=0.05, steps=5, random_start=True, seed=8).run(tiny_classifier, x, labels=label)
    )
    assert not torch.equal(ours, other)


# ----- MI-FGSM-L2 ---------------------------------------------------------------------------------


def _mifgsm_l2_reference(model, x, label, eps, alpha, steps, mu):
    """Dong et al. (2018) in L2, written from the paper for one image."""
    adv, g = x.clone(), torch.zeros_like(x)
    for _ in range(steps):
        a = adv.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(a), label), a)
        g = mu * g + grad / grad.abs().sum()
        adv = adv + alpha * g / g.norm()
        delta = adv - x
        delta = delta * min(1.0, eps / delta.norm().item())
        adv = torch.clamp(x + delta, 0, 1).detach()
    return adv


@pytest.mark.parametrize("mu", [1.0, 0.5])
def test_mifgsm_l2_follows_the_paper(tiny_classifier, tiny_batch, mu):
    # In float64, so that a ReLU at its kink cannot flip between a batch of 4 and a batch of 1 (a copy: the
    # session's classifier stays float32).
    import copy

    model = copy.deepcopy(tiny_classifier).double()
    x = _edgy(tiny_batch).double()
    labels = _labels(model, x)
    ours, iters = MIFGSML2(d=0.05, steps=8, decay=mu).perturb(model, x, labels, None, None, None)
    assert iters == 8
    for i in range(x.shape[0]):
        eps = 0.05 * x[i].norm().item()
        ref = _mifgsm_l2_reference(model, x[i : i + 1], labels[i : i + 1], eps, eps / 8, 8, mu)
        torch.testing.assert_close(ours[i : i + 1], ref, atol=1e-12, rtol=0)
        assert (ours[i] - x[i]).norm().item() > 0.8 * eps


def test_mifgsm_l2_without_momentum_is_pgd_l2(tiny_classifier, tiny_batch):
    a = _to_tensor(MIFGSML2(d=0.05, steps=5, decay=0.0, alpha=0.3).run(tiny_classifier, tiny_batch))
    b = _to_tensor(PGDL2(d=0.05, steps=5, alpha=0.3).run(tiny_classifier, tiny_batch))
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


# ----- EOT ----------------------------------------------------------------------------------------


class _NoisyNet(torch.nn.Module):
    """A randomized model: fresh Gaussian noise on the input at every forward (like a randomized defense)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = torch.nn.Linear(48, 16)
        self.fc2 = torch.nn.Linear(16, 10)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        x = x + 0.5 * torch.randn_like(x)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class _EOTPGDL2(PGDL2):
    """How a defense-aware variant adds EOT: an ``eot`` parameter (read by ``Attack.eot``)."""

    PARAMS = (*PGDL2.PARAMS, Param("eot", "EOT samples", 1, 1, 100, integer=True))


def test_eot_averages_the_gradient():
    net = _NoisyNet()
    x = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    ref = torch.tensor([3])

    def spread(eot: int) -> float:
        torch.manual_seed(1)
        grads = torch.stack([eot_gradient(net, x, ref, None, eot) for _ in range(40)])
        return grads.var(dim=0).mean().item()

    one, eight = spread(1), spread(8)
    assert one > 0
    assert eight / one == pytest.approx(1 / 8, rel=0.5)  # the variance of a mean of 8 draws


def test_eot_forwards_per_step():
    net = _NoisyNet()
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    attack = _EOTPGDL2(d=0.1, steps=4, eot=3)
    assert attack.eot == 3
    adv, iters = attack.perturb(net, x, torch.tensor([1, 2]), None, None, None)
    assert net.calls == 4 * 3 and iters == 4
    assert _d(adv, x).max().item() <= 0.1 + 1e-6
    assert _EOTPGDL2.iterations(attack.params, eot=True) == 12
    assert PGDL2.iterations(PGDL2(steps=7).params) == 7


# ----- progress, cancel, traits -------------------------------------------------------------------


@pytest.mark.parametrize("cls", [PGDL2, MIFGSML2])
def test_progress_and_cancel(tiny_classifier, tiny_batch, cls):
    calls: list[float] = []
    outcomes = cls(steps=5).run(tiny_classifier, tiny_batch, progress=lambda f, _m: calls.append(f))
    assert calls == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(o.iterations == 5 for o in outcomes)

    token = CancelToken()
    seen: list[float] = []

    def progress(fraction: float, _msg: str) -> None:
        seen.append(fraction)
        if len(seen) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        cls(steps=10).run(tiny_classifier, tiny_batch, progress=progress, cancel=token)
    assert len(seen) == 2


def test_traits_and_params():
    for cls in (PGDL2, MIFGSML2):
        assert cls.strength is RELATIVE_L2 and cls.budget == "projection"
        assert {p.name for p in cls.PARAMS} >= {"d", "steps", "alpha"}
        assert cls().params["d"] == 0.01 and cls().params["steps"] == 10
    assert (PGDL2.name, PGDL2.title, MIFGSML2.name, MIFGSML2.title) == (
        "pgd-l2",
        "PGD-L2",
        "mifgsm-l2",
        "MI-FGSM-L2",
    )
    assert PGDL2().params["random_start"] is False and MIFGSML2().params["decay"] == 1.0
    assert PGDL2.summary(PGDL2(d=0.02).params) == "PGD-L2 d 0.02, 10 steps"
    with pytest.raises(ValueError, match="must be within 0…2"):
        PGDL2(d=3)


# ----- the real classifier ------------------------------------------------------------------------


@pytest.mark.slow
def test_accuracy_does_not_rise_with_d(classifier):
    from rsdesk.core.io.assets import resource_path
    from rsdesk.core.io.images import load_image

    names = ("coffee.jpg", "chelsea.jpg", "camera.jpg")
    x = classifier.to_tensor([classifier.prepare(load_image(resource_path("samples", n))) for n in names])
    accuracy = []
    for d in (0.0002, 0.001, 0.005):
        outcomes = PGDL2(d=d, steps=4).run(classifier, x)
        assert max(o.d for o in outcomes) <= d + 1e-6
        accuracy.append(sum(not o.success for o in outcomes) / len(outcomes))
    assert accuracy == sorted(accuracy, reverse=True)
    assert accuracy[-1] == 0.0  # d 0.005 (‖δ‖₂ ≈ 1) fools the undefended classifier on every image
