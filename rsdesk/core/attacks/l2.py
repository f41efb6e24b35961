"""Fixed-budget L2 attacks at a relative budget d: PGD-L2 (Madry et al. 2018) and MI-FGSM-L2 (Dong et al.
2018), each image within its own radius ε_i = d·‖x_i‖₂ by projection at every step.

Written here rather than called from torchattacks (``PGDL2``, which the tests compare against): torchattacks
takes one scalar ε for a batch, has no momentum L2 variant, no EOT and no progress or cancel; one loop
(:func:`l2_iterations`) serves both attacks.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from rsdesk.core.attacks._budget import SEED, D, l2_radii, project_l2, seeded
from rsdesk.core.attacks.base import (
    PROJECTED,
    RELATIVE_L2,
    STEPS,
    Attack,
    GradFn,
    loss_gradient,
)
from rsdesk.core.models.classifier import Classifier
from rsdesk.core.params import Param
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report


def eot_gradient(
    model: Classifier, x: torch.Tensor, ref: torch.Tensor, tgt: torch.Tensor | None, eot: int
) -> torch.Tensor:
    """The loss gradient averaged over ``eot`` forwards: a randomized model (a defense drawn afresh at each
    forward) is attacked in expectation (EOT, Athalye et al. 2018), not through one draw."""
    total = loss_gradient(model, x, ref, tgt)
    for _ in range(eot - 1):
        total += loss_gradient(model, x, ref, tgt)
    return total / eot if eot > 1 else total


def _per_image(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *[1] * (like.ndim - 1))


def l2_iterations(
    x: torch.Tensor,
    start: torch.Tensor,
    ref: torch.Tensor,
    tgt: torch.Tensor | None,
    grad_fn: GradFn,
    eps: torch.Tensor,
    alpha: torch.Tensor,
    steps: int,
    decay: float | None,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> torch.Tensor:
    """The loop shared by PGD-L2 (``decay=None``) and MI-FGSM-L2 (momentum ``decay``).

    Each step moves by ``alpha[i]`` along the L2-normalized gradient (or momentum), projects δ onto the ball
    of radius ``eps[i]`` and clips to [0, 1], the order torchattacks' ``PGDL2`` uses."""
    adv = start.clone()
    momentum = torch.zeros_like(x)
    for i in range(steps):
        check_cancel(cancel)
        g = grad_fn(adv, ref, tgt)
        if decay is not None:
            # Dong et al. (2018), eq. 6 (L2): accumulate the L1-normalized gradient.
            g = g / _per_image(g.abs().flatten(1).sum(1).clamp_min(1e-12), g)
            momentum = decay * momentum + g
            g = momentum
        g = g / _per_image(g.flatten(1).norm(dim=1).clamp_min(1e-12), g)
        adv = project_l2(adv + _per_image(alpha, x) * g, x, eps)
        report(progress, (i + 1) / steps, f"step {i + 1}/{steps}")
    return adv.detach()


class _L2Iterative(Attack):
    """An iterative L2 attack at relative budget d; subclasses set the step rule."""

    strength = RELATIVE_L2
    budget = PROJECTED
    MAIN_PARAMS = ("d", "steps")
    decay: ClassVar[float | None] = None
    #: the default step, as a fraction of each image's radius, is this over ``steps``
    alpha_numerator: ClassVar[float] = 1.0

    def _alpha_fraction(self) -> float:
        a = self.params.get("alpha")
        return float(a) if a is not None else self.alpha_numerator / int(self.params["steps"])  # type: ignore[call-overload]

    def gradient_fn(self, model: Classifier) -> GradFn:
        """The gradient each step follows: EOT-averaged over ``self.eot`` forwards of ``model``."""
        eot = self.eot
        return lambda a, r, t: eot_gradient(model, a, r, t, eot)

    def _start(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return x

    def perturb(
        self,
        model: Classifier,
        x: torch.Tensor,
        ref: torch.Tensor,
        tgt: torch.Tensor | None,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
    ) -> tuple[torch.Tensor, int]:
        steps = int(self.params["steps"])
        eps = l2_radii(x, float(self.params["d"]))
        adv = l2_iterations(
            x,
            self._start(x, eps),
            ref,
            tgt,
            self.gradient_fn(model),
            eps,
            self._alpha_fraction() * eps,
            steps,
            self.decay,
            progress,
            cancel,
        )
        return adv, steps


class PGDL2(_L2Iterative):
    """PGD in L2 (Madry et al. 2018): step α·ε_i along ∇/‖∇‖₂, optional random start in the ball."""

    name, title = "pgd-l2", "PGD-L2"
    alpha_numerator = 2.5  # Madry et al.: α = 2.5·ε / steps
    PARAMS = (
        D,
        STEPS,
        Param(
            "alpha",
            "step (× radius)",
            None,
            0.0,
            10.0,
            "step as a fraction of each image's radius; default 2.5 / steps",
            optional=True,
            symbol="α",
            positive=True,
        ),
        Param("random_start", "random start", False, help="start at a random point of the ball"),
        SEED,
    )

    def _start(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        if not self.params["random_start"]:
            return x
        # torchattacks' PGDL2 start (a Gaussian direction, a uniform radius in [0, ε]), drawn in the same
        # order from the seeded global RNG so a single image starts where torchattacks starts.
        with seeded(int(self.params["seed"]), x.device):  # type: ignore[call-overload]
            delta = torch.empty_like(x).normal_()
            n = _per_image(delta.flatten(1).norm(dim=1), x)
            r = torch.zeros_like(n).uniform_(0, 1)
        return torch.clamp(x + delta * r / n * _per_image(eps, x), 0.0, 1.0)


class MIFGSML2(_L2Iterative):
    """MI-FGSM in L2 (Dong et al., CVPR 2018): g ← μ·g + ∇/‖∇‖₁, step α·ε_i along g/‖g‖₂."""

    name, title = "mifgsm-l2", "MI-FGSM-L2"
    alpha_numerator = 1.0  # Dong et al.: α = ε / steps
    PARAMS = (
        D,
        STEPS,
        Param(
            "alpha",
            "step (× radius)",
            None,
            0.0,
            10.0,
            "step as a fraction of each image's radius; default 1 / steps",
            optional=True,
            symbol="α",
            positive=True,
        ),
        Param("decay", "momentum μ", 1.0, 0.0, 10.0),
    )

    @property
    def decay(self) -> float:  # type: ignore[override]
        return float(self.params["decay"])  # type: ignore[arg-type]
