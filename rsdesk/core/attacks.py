"""Adversarial attacks in [0, 1] pixel space (spec §7): FGSM, BIM, MI-FGSM, CW-L2 and defense-aware BPDA,
and :data:`ATTACKS`, the registry the CLI, the window and the evaluations all read.

Every attack takes a batch (B×3×S×S at the classifier's input size), optional true labels and targets, a
progress callback and a cancel flag checked at every iteration. ε is given in /255 units. The relative L2
distance is ``d = ‖x' − x‖₂ / ‖x‖₂`` (spec, "Notation"). Attacks are gray-box (they see the classifier, not
the defense), except :class:`BPDA`, which approximates the purifier's gradient by the identity (Athalye,
Carlini & Wagner 2018) to show what a defense-aware attacker can do. What they share (the interface and its
traits, the outcome, the signed-gradient loop) is :mod:`rsdesk.core.attack_base`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from rsdesk.core.attack_base import (
    ALPHA,
    EPS,
    LINF,
    RELATIVE_L2,
    STEPS,
    Attack,
    AttackOutcome,
    GradFn,
    Strength,
    loss_gradient,
    scale_perturbation,
    sign_iterations,
)
from rsdesk.core.classifier import Classifier
from rsdesk.core.params import Param, lookup
from rsdesk.core.progress import check_cancel, report

__all__ = [
    "ATTACKS",
    "BIM",
    "BPDA",
    "CWL2",
    "FGSM",
    "LINF",
    "MIFGSM",
    "RELATIVE_L2",
    "Attack",
    "AttackOutcome",
    "Strength",
    "attack_class",
    "create_attack",
]


class FGSM(Attack):
    name, title = "fgsm", "FGSM"

    PARAMS = (EPS,)
    MAIN_PARAMS = ("eps",)

    def perturb(self, model, x, ref, tgt, progress, cancel):  # noqa: ANN001, ANN201
        check_cancel(cancel)
        eps = self.params["eps"] / 255.0
        adv = torch.clamp(x + eps * loss_gradient(model, x, ref, tgt).sign(), 0.0, 1.0).detach()
        report(progress, 1.0, "done")
        return adv, 1


class BIM(Attack):
    name, title = "bim", "BIM"

    PARAMS = (EPS, STEPS, ALPHA)
    MAIN_PARAMS = ("eps", "steps")
    decay: float | None = None

    def _alpha(self) -> float:
        a = self.params.get("alpha")
        return (a if a is not None else self.params["eps"] / self.params["steps"]) / 255.0

    def gradient_fn(self, model: Classifier) -> GradFn:
        return lambda a, r, t: loss_gradient(model, a, r, t)

    def perturb(self, model, x, ref, tgt, progress, cancel):  # noqa: ANN001, ANN201
        steps = int(self.params["steps"])
        adv = sign_iterations(
            x,
            ref,
            tgt,
            self.gradient_fn(model),
            self.params["eps"] / 255.0,
            self._alpha(),
            steps,
            self.decay,
            progress,
            cancel,
        )
        return adv, steps


class MIFGSM(BIM):
    name, title = "mifgsm", "MI-FGSM"

    PARAMS = (EPS, STEPS, ALPHA, Param("decay", "momentum μ", 1.0, 0.0, 10.0))

    @property
    def decay(self) -> float:  # type: ignore[override]
        return float(self.params["decay"])


class CWL2(Attack):
    """Carlini & Wagner's L2 attack: tanh box, margin κ, Adam, binary search over c.

    With ``d`` set, the final perturbation is scaled by τ ≥ 1 until ‖δ‖₂/‖x‖₂ reaches d, as the paper does.
    """

    name, title = "cw", "CW-L2"
    strength = RELATIVE_L2
    MAIN_PARAMS = ("d", "c", "steps")

    PARAMS = (
        Param("c", "c", 0.1, 1e-6, 1e6, "weight of the misclassification term"),
        Param("kappa", "κ (margin)", 0.0, 0.0, 1000.0, "confidence margin; > 0 survives rounding better"),
        Param("steps", "steps", 100, 1, 100000, integer=True),
        Param("lr", "learning rate", 0.01, 1e-6, 10.0),
        Param("binary_steps", "binary search steps", 1, 1, 20, "searches over c", integer=True),
        Param("d", "target d = ‖δ‖₂/‖x‖₂", None, 0.0, 2.0, "scale δ by τ ≥ 1 to reach d", optional=True),
    )

    def _f(self, logits: torch.Tensor, ref: torch.Tensor, tgt: torch.Tensor | None) -> torch.Tensor:
        kappa = float(self.params["kappa"])
        cls = tgt if tgt is not None else ref
        onehot = F.one_hot(cls, logits.shape[1]).bool()
        real = logits[onehot]
        other = logits.masked_fill(onehot, -math.inf).amax(dim=1)
        if tgt is not None:
            return torch.clamp(other - real, min=-kappa)
        return torch.clamp(real - other, min=-kappa)

    def _succeeded(self, logits: torch.Tensor, ref: torch.Tensor, tgt: torch.Tensor | None) -> torch.Tensor:
        return (
            self._f(logits, ref, tgt) <= -float(self.params["kappa"]) + 1e-12
            if self.params["kappa"] > 0
            else (logits.argmax(1) == tgt if tgt is not None else logits.argmax(1) != ref)
        )

    def perturb(self, model, x, ref, tgt, progress, cancel):  # noqa: ANN001, ANN201
        b = x.shape[0]
        steps, n_bin = int(self.params["steps"]), int(self.params["binary_steps"])
        c = torch.full((b,), float(self.params["c"]), device=x.device)
        lower = torch.zeros(b, device=x.device)
        upper = torch.full((b,), math.inf, device=x.device)
        best = x.clone()
        best_l2 = torch.full((b,), math.inf, device=x.device)
        w0 = torch.atanh(torch.clamp(x * 2 - 1, -1 + 1e-6, 1 - 1e-6))
        total, done = steps * n_bin, 0
        for _ in range(n_bin):
            w = w0.clone().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=float(self.params["lr"]))
            found = torch.zeros(b, dtype=torch.bool, device=x.device)
            for _ in range(steps):
                check_cancel(cancel)
                adv = (torch.tanh(w) + 1) / 2
                logits = model(adv)
                l2sq = (adv - x).flatten(1).pow(2).sum(1)
                loss = (l2sq + c * self._f(logits, ref, tgt)).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    ok = self._succeeded(logits, ref, tgt)
                    better = ok & (l2sq.sqrt() < best_l2)
                    best = torch.where(better.view(-1, 1, 1, 1), adv.detach(), best)
                    best_l2 = torch.where(better, l2sq.sqrt(), best_l2)
                    found |= ok
                done += 1
                report(progress, done / total, f"step {done}/{total}")
            # binary search over c, per image
            upper = torch.where(found, torch.minimum(upper, c), upper)
            lower = torch.where(found, lower, torch.maximum(lower, c))
            c = torch.where(torch.isinf(upper), c * 10, (lower + upper) / 2)
        adv = best
        target_d = self.params.get("d")
        if target_d:
            adv = scale_perturbation(x, adv, float(target_d))
        return adv.detach(), done


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


#: Every attack, in menu order.
ATTACKS: dict[str, type[Attack]] = {cls.name: cls for cls in (FGSM, BIM, MIFGSM, CWL2, BPDA)}
_ALIASES = {"mi": "mifgsm", "cwl2": "cw", "cw2": "cw"}


def attack_class(name: str) -> type[Attack]:
    """The attack a name means (case, ``-`` and ``_`` ignored; ``mi``, ``cw_l2`` …); unknown → ValueError."""
    return lookup(ATTACKS, _ALIASES, name, "attack")


def create_attack(name: str, **params: object) -> Attack:
    """Build an attack by name (``fgsm``, ``bim``, ``mifgsm``, ``cw``, ``bpda``); unknown → ValueError.

    A defense-aware attack also takes ``purify=`` (the defense it attacks through).
    """
    return attack_class(name)(**params)
