"""The defended pipeline as a differentiable model, for the defense-aware attacks (BPDA and its kin).

The forward pass always runs the real defense, image by image through numpy. The backward pass is a
*surrogate*: the identity (Athalye et al.'s BPDA: the gradient at the purified image is passed on unchanged),
or, where the defense offers one, the exact vector-Jacobian product of its linearization at the image (its
discrete choices held fixed; :mod:`rsdesk.core.sparse.linearized`). Attacks never import a defense: they are
handed a :class:`Purifier` built from its callables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rsdesk.core.models.classifier import Classifier
from rsdesk.core.models.registry import ClassifierSpec
from rsdesk.core.sparse.linearized import IDENTITY, LINEAR, Linearization

#: Let the defense decide: its exact linear surrogate where it offers one, else the identity.
AUTO = "auto"
#: What a plan or the window may ask for.
SURROGATES = (IDENTITY, LINEAR, AUTO)


def resolve_surrogate(requested: str, offered: tuple[str, ...], defense: str = "the defense") -> str:
    """The backward pass to use: ``auto`` → linear where offered, else identity; an explicit request must be
    one the defense offers (its :attr:`~rsdesk.core.defenses.base.Defense.surrogates`)."""
    if requested == AUTO:
        return LINEAR if LINEAR in offered else IDENTITY
    if requested not in (IDENTITY, LINEAR):
        raise ValueError(f"unknown surrogate {requested!r}; choose one of {', '.join(SURROGATES)}")
    if requested not in offered:
        raise ValueError(
            f"{defense} offers no {requested} surrogate (it offers {', '.join(offered) or 'none'})"
        )
    return requested


def _to_images(x: torch.Tensor) -> np.ndarray:
    """B×3×H×W tensor (any device, dtype or memory format) → B×H×W×3 float32 numpy."""
    return x.detach().permute(0, 2, 3, 1).to("cpu", torch.float32).numpy()


def _to_tensor(imgs: list[np.ndarray], like: torch.Tensor) -> torch.Tensor:
    """Purified H×W×3 images → a batch on ``like``'s device, in its dtype and memory format."""
    out = torch.from_numpy(np.stack(imgs).astype(np.float32, copy=False)).permute(0, 3, 1, 2)
    fmt = torch.channels_last if like.is_contiguous(memory_format=torch.channels_last) else None
    out = out.to(like.device, like.dtype)
    return out.contiguous(memory_format=fmt) if fmt is not None else out.contiguous()


@dataclass
class Purifier:
    """A defense as an attack sees it: ``purify`` (H×W×3 [0, 1] → the same), and ``linearize`` for the
    exact backward pass (None: identity backward). ``calls`` counts the images purified, forward passes
    of :class:`PurifierLayer` included."""

    purify: Callable[[np.ndarray], np.ndarray]
    linearize: Callable[[np.ndarray], Linearization] | None = None
    calls: int = 0

    @property
    def surrogate(self) -> str:
        """The backward pass this handle gives: "linear" or "identity"."""
        return LINEAR if self.linearize is not None else IDENTITY

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Purify a B×3×H×W batch (forward only, no gradient)."""
        outs = []
        for img in _to_images(x):
            outs.append(np.asarray(self.purify(img), dtype=np.float32))
            self.calls += 1
        return _to_tensor(outs, x)


class PurifierLayer(torch.autograd.Function):
    """The real defense forward; the purifier's surrogate backward (identity, or each image's exact VJP).

    Use as ``PurifierLayer.apply(x, purifier)``. With the linear surrogate the forward takes each image's
    purification from its :class:`Linearization` (the same pixels the defense returns), so no image is
    purified twice, and keeps it for the backward pass.
    """

    @staticmethod
    def forward(ctx, x, purifier):  # noqa: ANN001
        linear = purifier.linearize is not None and ctx.needs_input_grad[0]
        outs, lins = [], []
        for img in _to_images(x):
            if linear:
                lin = purifier.linearize(img)
                lins.append(lin)
                outs.append(lin.purified)
            else:
                outs.append(np.asarray(purifier.purify(img), dtype=np.float32))
            purifier.calls += 1
        ctx.lins = lins
        if lins:
            ctx.save_for_backward(x)
        return _to_tensor(outs, x)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001
        if not ctx.lins:
            return grad, None  # identity surrogate: BPDA's straight-through gradient
        (x,) = ctx.saved_tensors
        grads = []
        for xi, gi, lin in zip(x.detach(), grad, ctx.lins):
            # The VJP at the input in float32 (the point the defense linearized: the image it was given).
            xi = xi.to(torch.float32).requires_grad_(True)
            with torch.enable_grad():
                yi = lin.function(xi)
                (gx,) = torch.autograd.grad(yi, xi, gi.to(yi.dtype))
            grads.append(gx)
        return torch.stack(grads).to(grad.dtype), None


class DefendedModel(nn.Module):
    """``classifier(purify(x))`` as one model: attacks differentiate it like a classifier, the defense's
    surrogate standing in for its backward pass (see :class:`PurifierLayer`)."""

    def __init__(self, classifier: Classifier, purifier: Purifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.purifier = purifier

    @property
    def device(self) -> torch.device:
        return self.classifier.device

    @property
    def input_size(self) -> int:
        return self.classifier.input_size

    @property
    def spec(self) -> ClassifierSpec:
        return self.classifier.spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return self.classifier(PurifierLayer.apply(x, self.purifier))
        return self.classifier(self.purifier(x))  # no gradient wanted: no linearization either

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """Softmax probabilities of the defended pipeline (the classifier's checks included)."""
        return self.classifier.probabilities(self.purifier(x), batch_size)
