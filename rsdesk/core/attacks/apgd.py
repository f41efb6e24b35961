"""Auto-PGD (Croce & Hein, ICML 2020) through torchattacks' ``APGD`` (a port of AutoAttack's own code): the
step-size schedule, momentum and restarts of AutoAttack's white-box part, with the cross-entropy or the
DLR loss, in L∞ (ε in /255) or in L2 at a relative budget d (each image its own radius d·‖x‖₂).

Why torchattacks and not adv-lib (whose ``apgd`` takes a per-sample ε): adv-lib needs visdom, which exists
only as a source package whose build imports ``pkg_resources`` (gone from setuptools 81), so a fresh
``pip install`` of RSDesk would fail. torchattacks takes one ε per call, so the L2 attacks run one call per
image (each with its own radius); L∞ shares one ε and runs the batch at once.

torchattacks has no progress or cancel callbacks: the model it is given counts its forwards
(:class:`~rsdesk.core.attacks._budget.CountingModel`). It seeds torch's global RNG itself; the run is
wrapped so the caller's RNG is left as it was. As in AutoAttack, an image the attack does not fool is
returned unchanged, so its measured d or ε is 0. Untargeted only (AutoAttack's targeted attack is another
algorithm, APGD-T).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
import torchattacks

from rsdesk.core.attacks._budget import SEED, CountingModel, D, scalar_eps_calls, seeded
from rsdesk.core.attacks.base import EPS, LINF, PROJECTED, RELATIVE_L2, Attack
from rsdesk.core.models.classifier import Classifier
from rsdesk.core.params import Param
from rsdesk.core.progress import CancelFn, ProgressFn, report

_STEPS = Param(
    "steps",
    "steps",
    100,
    1,
    10000,
    "iterations per restart",
    integer=True,
    brief="{} steps",
)
_RESTARTS = Param(
    "restarts",
    "restarts",
    1,
    1,
    100,
    "random restarts for the images not yet fooled",
    integer=True,
    brief="restarts {}",
)


class _APGD(Attack):
    """APGD with the class's loss and norm; every adversarial is within budget by torchattacks' projection."""

    budget = PROJECTED
    loss: ClassVar[str] = "ce"
    norm: ClassVar[str] = "Linf"
    MAIN_PARAMS = ("eps", "steps")

    @classmethod
    def iterations(cls, params: Mapping[str, object], eot: bool = False) -> int:
        """Gradient steps of every restart, times the EOT samples of each where the defense is randomized."""
        steps = int(params.get("steps", 100) or 100)  # type: ignore[call-overload]
        restarts = int(params.get("restarts", 1) or 1)  # type: ignore[call-overload]
        return steps * restarts * (int(params.get("eot", 1) or 1) if eot else 1)  # type: ignore[call-overload]

    def perturb(
        self,
        model: Classifier,
        x: torch.Tensor,
        ref: torch.Tensor,
        tgt: torch.Tensor | None,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
    ) -> tuple[torch.Tensor, int]:
        if tgt is not None:
            raise ValueError(
                f"{self.plain_title} runs untargeted; for a target class use BIM, PGD-L2 or CW-L2"
            )
        steps, restarts, eot = int(self.params["steps"]), int(self.params["restarts"]), self.eot
        runs = scalar_eps_calls(x, self.strength, float(self.params[self.strength.param]))  # type: ignore[arg-type]
        # per call: the clean check, then per restart eot forwards for the first gradient and eot per step
        # (torchattacks stops restarting once every image of the call is fooled)
        counted = CountingModel(
            model, len(runs) * (1 + restarts * eot * (steps + 1)), progress, cancel, "forward"
        )
        seed = int(self.params["seed"])  # type: ignore[call-overload]
        atk = torchattacks.APGD(
            counted,
            norm=self.norm,
            eps=runs[0][1],
            steps=steps,
            n_restarts=restarts,
            seed=seed,
            loss=self.loss,
            eot_iter=eot,
        )
        atk.set_device(x.device)  # torchattacks guesses it from parameters(): a defended model may have none
        adv = x.clone()
        with seeded(seed, x.device):
            for part, eps in runs:
                atk.eps = eps
                adv[part] = atk(x[part], ref[part])
        report(progress, 1.0, "done")
        return adv.detach(), steps * restarts


class APGDCE(_APGD):
    name, title = "apgd-ce", "APGD-CE"
    strength = LINF
    loss = "ce"
    PARAMS = (EPS, _STEPS, _RESTARTS, SEED)


class APGDDLR(APGDCE):
    # DLR (Croce & Hein 2020): invariant to the logits' scale, so a defense that only rescales them
    # does not mask it.
    name, title = "apgd-dlr", "APGD-DLR"
    loss = "dlr"


class APGDCEL2(_APGD):
    name, title = "apgd-ce-l2", "APGD-CE-L2"
    strength = RELATIVE_L2
    norm = "L2"
    loss = "ce"
    MAIN_PARAMS = ("d", "steps")
    PARAMS = (D, _STEPS, _RESTARTS, SEED)


class APGDDLRL2(APGDCEL2):
    name, title = "apgd-dlr-l2", "APGD-DLR-L2"
    loss = "dlr"
