"""rsdesk.core.attacks.surrogate: the defended pipeline runs the real defense forward and the chosen surrogate
backward (the identity, or each image's exact VJP)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rsdesk.core.attacks.surrogate import (
    AUTO,
    IDENTITY,
    LINEAR,
    SURROGATES,
    DefendedModel,
    Purifier,
    PurifierLayer,
    resolve_surrogate,
)
from rsdesk.core.defenses import Bilateral, create_defense


def _batch(n: int = 2, size: int = 32, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, size // 4, size // 4, generator=g)
    return F.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def regionsparse():
    return create_defense("regionsparse", stride=2)


def _handle(defense, linear: bool) -> Purifier:
    return Purifier(purify=defense, linearize=defense.linearize if linear else None)


def _vjps(defense, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Each image's VJP straight from its Linearization (the reference the layer must reproduce)."""
    out = []
    for xi, wi in zip(x, w):
        lin = defense.linearize(xi.permute(1, 2, 0).numpy())
        xr = xi.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(lin.function(xr), xr, wi)
        out.append(g)
    return torch.stack(out)


def test_resolve_surrogate():
    assert SURROGATES == (IDENTITY, LINEAR, AUTO) == ("identity", "linear", "auto")
    assert resolve_surrogate(AUTO, (IDENTITY, LINEAR)) == LINEAR
    assert resolve_surrogate(AUTO, (IDENTITY,)) == IDENTITY
    assert resolve_surrogate(IDENTITY, (IDENTITY, LINEAR)) == IDENTITY
    assert resolve_surrogate(LINEAR, (IDENTITY, LINEAR)) == LINEAR
    with pytest.raises(ValueError, match="JPEG compression offers no linear surrogate"):
        resolve_surrogate(LINEAR, (IDENTITY,), "JPEG compression")
    with pytest.raises(ValueError, match="unknown surrogate 'exact'"):
        resolve_surrogate("exact", (IDENTITY, LINEAR))


def test_purifier_runs_the_defense_per_image_forward_only():
    bil = Bilateral()
    p = Purifier(purify=bil)
    x = _batch(3).double()
    y = p(x)
    assert p.calls == 3 and p.surrogate == IDENTITY and y.dtype == torch.float64 and not y.requires_grad
    want = np.stack([bil(img) for img in x.permute(0, 2, 3, 1).float().numpy()])
    np.testing.assert_array_equal(y.permute(0, 2, 3, 1).float().numpy(), want)


def test_identity_backward_passes_the_gradient_unchanged():
    p = Purifier(purify=lambda img: np.round(img * 4) / 4)  # a step function: no gradient of its own
    x = _batch().requires_grad_(True)
    w = torch.randn(x.shape)
    y = PurifierLayer.apply(x, p)
    torch.testing.assert_close(y, torch.round(x.detach() * 4) / 4)
    (g,) = torch.autograd.grad((w * y).sum(), x)
    assert torch.equal(g, w)


@pytest.mark.parametrize("which", ["bilateral", "regionsparse"])
def test_linear_backward_is_each_images_exact_vjp(regionsparse, which):
    defense = regionsparse if which == "regionsparse" else Bilateral(d=5)
    p = _handle(defense, linear=True)
    x = _batch().requires_grad_(True)
    w = torch.randn(x.shape)
    y = PurifierLayer.apply(x, p)
    assert p.calls == 2
    want = np.stack([defense(img) for img in x.detach().permute(0, 2, 3, 1).numpy()])
    np.testing.assert_array_equal(y.detach().permute(0, 2, 3, 1).numpy(), want)  # the real defense forward
    (g,) = torch.autograd.grad((w * y).sum(), x)
    torch.testing.assert_close(g, _vjps(defense, x.detach(), w), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(g, w)  # not the identity


def test_defended_model_is_the_classifier_after_the_defense(tiny_classifier, regionsparse):
    p = _handle(regionsparse, linear=True)
    model = DefendedModel(tiny_classifier, p)
    assert (
        model.device == tiny_classifier.device
        and model.input_size == 32
        and model.spec is tiny_classifier.spec
    )
    x = _batch()
    purified = torch.from_numpy(np.stack([regionsparse(img) for img in x.permute(0, 2, 3, 1).numpy()]))
    purified = purified.permute(0, 3, 1, 2)
    with torch.no_grad():
        want = tiny_classifier(purified)
        torch.testing.assert_close(model(x), want)
    torch.testing.assert_close(model.probabilities(x), tiny_classifier.probabilities(purified))
    # The gradient of a loss through the model: the classifier's gradient at the purified image, pulled back
    # by each image's VJP.
    labels = torch.tensor([1, 7])
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xr), labels, reduction="sum"), xr)
    pr = purified.clone().requires_grad_(True)
    (gp,) = torch.autograd.grad(F.cross_entropy(tiny_classifier(pr), labels, reduction="sum"), pr)
    torch.testing.assert_close(g, _vjps(regionsparse, x, gp), rtol=1e-4, atol=1e-6)


def test_defended_model_without_a_gradient_never_linearizes(tiny_classifier):
    bil = Bilateral()

    def refuse(img):
        raise AssertionError("linearized without a gradient")

    model = DefendedModel(tiny_classifier, Purifier(purify=bil, linearize=refuse))
    x = _batch()
    with torch.no_grad():
        model(x.clone().requires_grad_(True))
    model(x)
    model.probabilities(x)
    assert model.purifier.calls == 6


def test_channels_last_and_float64_batches():
    bil = Bilateral(d=5)
    x = _batch().double().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    y = PurifierLayer.apply(x, _handle(bil, linear=True))
    assert y.dtype == torch.float64 and y.is_contiguous(memory_format=torch.channels_last)
    w = torch.randn(x.shape, dtype=torch.float64)
    (g,) = torch.autograd.grad((w * y).sum(), x)
    assert g.dtype == torch.float64
    torch.testing.assert_close(g.float(), _vjps(bil, x.detach().float(), w.float()), rtol=1e-5, atol=1e-6)
