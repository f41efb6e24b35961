"""Carlini & Wagner's L2 attack (2017), and the paper's τ-scaling of its perturbation to a relative L2
distance d."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from rsdesk.core.attacks.base import RELATIVE_L2, RESCALED, Attack, scale_perturbation
from rsdesk.core.params import Param
from rsdesk.core.progress import check_cancel, report


class CWL2(Attack):
    """Carlini & Wagner's L2 attack: tanh box, margin κ, Adam, binary search over c.

    With ``d`` set, the final perturbation is scaled by τ ≥ 1 until ‖δ‖₂/‖x‖₂ reaches d, as the paper does.
    """

    name, title = "cw", "CW-L2"
    strength = RELATIVE_L2
    budget = RESCALED
    MAIN_PARAMS = ("d", "c", "steps")
    SUMMARY = ("c", "d", "steps")

    PARAMS = (
        Param(
            "c", "c", 0.1, 1e-6, 1e6, "weight of the misclassification term", brief="c {:g}", positive=True
        ),
        Param("kappa", "κ (margin)", 0.0, 0.0, 1000.0, "confidence margin; > 0 survives rounding better"),
        Param("steps", "steps", 100, 1, 100000, integer=True, brief="{} steps"),
        Param("lr", "learning rate", 0.01, 1e-6, 10.0),
        Param("binary_steps", "binary search steps", 1, 1, 20, "searches over c", integer=True),
        Param(
            "d",
            "target d = ‖δ‖₂/‖x‖₂",
            None,
            0.0,
            2.0,
            "scale δ by τ ≥ 1 to reach d",
            optional=True,
            positive=True,
        ),
    )

    @classmethod
    def iterations(cls, params: Mapping[str, object], eot: bool = False) -> int:
        """Every optimizer step of every binary-search round."""
        return int(params["steps"]) * int(params["binary_steps"])  # type: ignore[call-overload]

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
