"""What the L2, APGD and Square attacks share: each image's L2 radius from a relative budget d, the
projection onto an L2 ball, a seeded run that leaves torch's global RNG as it was, and the model wrapper
that gives progress and cancel to library attacks (torchattacks) that have no callbacks, and the
parameters they have in common (the budget d, the seed)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from rsdesk.core.attacks.base import LINF, Strength
from rsdesk.core.params import Param
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report


def l2_radii(x: torch.Tensor, d: float) -> torch.Tensor:
    """ε_i = d·‖x_i‖₂ per image, in [0, 1] pixel space (so every adversarial's ‖δ‖₂/‖x‖₂ ≤ d)."""
    return float(d) * x.detach().flatten(1).norm(dim=1)


def scalar_eps_calls(x: torch.Tensor, strength: Strength, value: float) -> list[tuple[slice, float]]:
    """How to run a torchattacks attack, which takes one scalar ε per call (its inner loop indexes the images
    still to fool, so a per-image ε tensor would not line up): L∞ ε (/255) is one call for the batch; a
    relative L2 budget d is one call per image with its own radius d·‖x_i‖₂ (the same search, and seed,
    that image would get as a batch of one)."""
    if strength.kind == LINF.kind:
        return [(slice(None), float(value) / 255.0)]
    return [(slice(i, i + 1), float(r)) for i, r in enumerate(l2_radii(x, value).tolist())]


def project_l2(adv: torch.Tensor, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Scale each δ = adv − x down (never up) onto its L2 ball of radius ``eps[i]``, then clip to [0, 1].

    Clipping only shrinks |δ| pixel by pixel, so the result stays within the ball."""
    delta = adv - x
    norms = delta.flatten(1).norm(dim=1)
    factor = torch.clamp(eps / norms.clamp_min(1e-12), max=1.0)
    return torch.clamp(x + delta * factor.view(-1, *[1] * (x.ndim - 1)), 0.0, 1.0)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with torch's RNG (CPU, and ``device`` if CUDA) seeded, then restore the caller's state.

    The libraries draw their random starts and squares from the global RNG: seeding it makes an
    attack repeatable (an evaluation resumed later crafts the same adversarial) without disturbing
    anyone else's random stream."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(int(seed))
        if devices:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(int(seed))
        yield


class CountingModel(nn.Module):
    """Wraps a model so every forward checks ``cancel`` and reports progress as forwards / ``expected``.

    torchattacks takes an ``nn.Module`` and no callbacks; counting their forward passes is the
    one hook they all go through. ``train()`` never reaches the wrapped model: torchattacks calls
    ``model.eval()`` before and ``model.train()`` after an attack when the model it was given reports
    training mode; this wrapper always reports eval mode and leaves the wrapped model's mode alone."""

    def __init__(
        self,
        model: nn.Module,
        expected: int,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
        label: str = "query",
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):  # as a plain attribute the libraries could not find its device
            raise TypeError(f"the attacked model must be a torch nn.Module, got {type(model).__name__}")
        self.model = model
        self.expected = max(1, int(expected))
        self.progress = progress
        self.cancel = cancel
        self.label = label
        self.calls = 0
        self.training = False  # set directly: nn.Module.train would recurse into the wrapped model

    def train(self, mode: bool = True) -> CountingModel:
        """Ignored: see the class docstring."""
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_cancel(self.cancel)
        out = self.model(x)
        self.calls += 1
        report(self.progress, self.calls / self.expected, f"{self.label} {self.calls}/{self.expected}")
        return out


#: The paper's relative L2 budget d = ‖δ‖₂/‖x‖₂; each image gets its own radius d·‖x‖₂ (:func:`l2_radii`).
D = Param(
    "d",
    "d = ‖δ‖₂/‖x‖₂",
    0.01,
    0.0,
    2.0,
    "relative L2 budget; each image's radius is d·‖x‖₂",
    symbol="d",
    positive=True,
)
#: Seeds the library's random start or search (see :func:`seeded`).
SEED = Param("seed", "random seed", 0, 0, 2**31 - 1, "same seed, same adversarial", integer=True)
