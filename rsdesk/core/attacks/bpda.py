"""BPDA (Athalye, Carlini & Wagner 2018): BIM whose gradients are taken through the defense, the backward
pass of the purifier approximated by the identity, with EOT over a randomized defense's draws."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from rsdesk.core.attacks.base import ALPHA, EPS, STEPS, GradFn, loss_gradient
from rsdesk.core.attacks.iterative import BIM
from rsdesk.core.models.classifier import Classifier
from rsdesk.core.params import Param


@dataclass
class _PurifierHandle:
    """Wraps a defense so BPDA can purify tensors (one image at a time, through numpy)."""

    purify: Callable[[np.ndarray], np.ndarray]
    calls: int = field(default=0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for img in x.detach().permute(0, 2, 3, 1).cpu().numpy():
            outs.append(torch.from_numpy(self.purify(img)).permute(2, 0, 1))
            self.calls += 1
        return torch.stack(outs).to(x.device, x.dtype)


class BPDA(BIM):
    """Defense-aware BIM: gradients are taken at the purified image (backward pass ≈ identity).

    ``eot`` > 1 averages gradients over several purifications (Expectation over Transformation), which
    matters for randomized defenses such as TVM. Success is judged through the defense.
    """

    name, title = "bpda", "BPDA (defense-aware BIM)"
    short_title = "BPDA (defense-aware)"
    defense_aware = True

    PARAMS = (
        EPS,
        STEPS,
        ALPHA,
        Param("eot", "EOT samples", 1, 1, 100, "purifications per gradient", integer=True),
    )

    def __init__(self, purify: Callable[[np.ndarray], np.ndarray] | None = None, **params: object) -> None:
        super().__init__(**params)
        self.purifier = _PurifierHandle(purify) if purify is not None else None

    def gradient_fn(self, model: Classifier) -> GradFn:
        if self.purifier is None:
            raise ValueError("BPDA needs the defense to attack; choose a defense first")
        purifier = self.purifier
        eot = int(self.params["eot"])

        def grad(a: torch.Tensor, r: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
            total = torch.zeros_like(a)
            for _ in range(eot):
                total += loss_gradient(model, purifier(a), r, t)
            return total / eot

        return grad

    def final_prediction(self, model: Classifier, adv: torch.Tensor) -> torch.Tensor:
        assert self.purifier is not None
        return model.probabilities(self.purifier(adv)).argmax(1)
