"""What every attack shares: the :class:`Attack` interface with its traits, the outcome of one attacked image,
the loss gradient and the signed-gradient loop (BIM, MI-FGSM and BPDA run the same one), and the ε, steps
and α parameters. The attacks themselves and their registry are :mod:`rsdesk.core.attacks`.

Images are batches in [0, 1] pixel space at the classifier's input size; ε is in /255 units; the relative
L2 distance is ``d = ‖x' − x‖₂ / ‖x‖₂`` (spec, "Notation").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from rsdesk.core.models.classifier import Classifier
from rsdesk.core.models.precision import gradient_model
from rsdesk.core.params import Param, format_params, resolve_params
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report
from rsdesk.core.verdicts import attack_success, batch_perturbation_stats


@dataclass
class AttackOutcome:
    """One attacked image and how the attack went."""

    adversarial: np.ndarray  # H×W×3 float32 in [0, 1], at the classifier's input size
    success: bool  # untargeted: prediction ≠ reference label; targeted: prediction = target
    l2: float  # ‖x' − x‖₂ in [0, 1] pixel units
    d: float  # ‖x' − x‖₂ / ‖x‖₂, the paper's "average L2 distance"
    linf: float  # max |x' − x| in /255 units
    iterations: int
    reference: int  # the label the attack moved away from (true label, else the clean prediction)
    predicted: int  # the classifier's top-1 on the adversarial image (through the defense for BPDA)
    target: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "success": self.success,
            "l2": round(self.l2, 6),
            "d": round(self.d, 6),
            "linf": round(self.linf, 4),
            "iterations": self.iterations,
        }


@dataclass(frozen=True)
class Strength:
    """A kind of attack budget: the norm it bounds, how it is written, the parameter of the attack it sets and
    the results.csv column that measures it. An attack declares one (:attr:`Attack.strength`); sweeps,
    sliders, table headings, the plan's limits and the budget check all read it."""

    kind: str  # "linf" (ε in /255), "d" (relative L2), "l2" (absolute L2): how plans and summaries name it
    param: str  # the attack's parameter this budget sets
    symbol: str
    unit: str  # appended to the value: "8/255"; "" for a plain number
    norm: str  # "linf" or "l2"
    #: the column of results.csv (and field of an outcome) that measures an adversarial in this budget
    measure: str
    #: the largest budget a plan may ask for
    maximum: float
    #: what a value means, in an error message: "ε in /255"
    meaning: str

    def format(self, value: float) -> str:
        """``ε 8/255``, ``d 0.05``."""
        return f"{self.symbol} {value:g}{self.unit}"


#: L∞ budget ε in 1/255 units (FGSM, BIM, MI-FGSM, BPDA).
LINF = Strength("linf", "eps", "ε", "/255", "linf", "linf", 255.0, "ε in /255")
#: The paper's relative L2 distance d = ‖δ‖₂ / ‖x‖₂ (CW-L2).
RELATIVE_L2 = Strength("d", "d", "d", "", "l2", "d", 2.0, "d (‖δ‖₂/‖x‖₂)")
#: An absolute L2 radius ‖δ‖₂ in [0, 1] pixel units (a 224×224×3 image has ‖x‖₂ of about 250).
ABSOLUTE_L2 = Strength("l2", "eps", "‖δ‖₂", "", "l2", "l2", 1000.0, "‖δ‖₂ in [0, 1] pixel units")

#: How an attack meets its budget: every iterate is projected into it (each adversarial is within budget by
#: construction) …
PROJECTED = "projection"
#: … or one perturbation is crafted, then rescaled to each budget (the paper's τ-scaled CW-L2: every budget
#: of an image shares one attack run, and the budget is reached, not bounded).
RESCALED = "rescale"


class Attack(ABC):
    """Configure with keyword parameters (checked against :attr:`PARAMS`), then :meth:`run` on a batch.

    The class attributes are the attack's traits; the CLI, the window and the evaluations read them instead
    of testing an attack's name.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: the title without its explanation in brackets ("BPDA" of "BPDA (defense-aware BIM)"); derived
    plain_title: ClassVar[str] = ""
    #: the name in menus and tables, where the full title would be too long (default: ``plain_title``)
    short_title: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: the parameters a user tunes first (shown inline in the window; the rest behind ⚙)
    MAIN_PARAMS: ClassVar[tuple[str, ...]] = ()
    #: what "stronger" means for this attack (sweeps, the strength slider, table headings)
    strength: ClassVar[Strength] = LINF
    #: how it meets its budget: :data:`PROJECTED` (within it by construction) or :data:`RESCALED`
    budget: ClassVar[str] = PROJECTED
    #: one gradient step (FGSM): the checks expect an iterative attack to be at least as strong
    single_step: ClassVar[bool] = False
    #: crafted through the defense (takes ``purify=``), so its result depends on the defense
    defense_aware: ClassVar[bool] = False
    #: needs no gradient, only the defended pipeline's outputs (Square): the checks hold it to be no stronger
    #: than the gradient attacks at the same budget, else the gradients are masked
    gradient_free: ClassVar[bool] = False
    #: the parameters a one-line summary shows, in order (default: the strength, then every parameter with
    #: a ``brief``, in ``PARAMS`` order)
    SUMMARY: ClassVar[tuple[str, ...] | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.plain_title = cls.title.split(" (")[0]
        if "short_title" not in cls.__dict__:
            cls.short_title = cls.plain_title

    def __init__(self, **params: object) -> None:
        self.params = resolve_params(self.PARAMS, params, self.title)

    def describe(self) -> str:
        return f"{self.title} ({format_params(self.params)})"

    @property
    def eot(self) -> int:
        """Gradient samples averaged per step (Expectation over Transformation): the ``eot`` parameter of an
        attack that goes through a randomized defense, else 1. Every gradient attack reads it."""
        return int(self.params.get("eot", 1) or 1)  # type: ignore[call-overload]

    @classmethod
    def summary(cls, values: Mapping[str, object]) -> str:
        """A short line for a panel or a report: ``BIM ε 8/255, 10 steps``, ``CW-L2 c 0.1, d 0.05, …``.

        The strength is written by its kind; every other parameter by its :attr:`Param.brief` (those without
        one, and unset optional ones, are left out)."""
        specs = {p.name: p for p in cls.PARAMS}
        names = cls.SUMMARY or (cls.strength.param, *(p.name for p in cls.PARAMS if p.brief))
        parts = []
        for name in names:
            value = values.get(name)
            if value is None or name not in specs:
                continue
            if name == cls.strength.param:
                parts.append(cls.strength.format(float(value)))  # type: ignore[arg-type]
            elif specs[name].brief:
                parts.append(specs[name].brief.format(value))
        return f"{cls.plain_title} " + ", ".join(parts)

    @classmethod
    def iterations(cls, params: Mapping[str, object], eot: bool = False) -> int:
        """Gradient evaluations per image for these parameters (the throughput's unit, known before the
        attack runs): ``steps`` (1 without), times ``eot`` where the defense gone through is randomized."""
        steps = int(params.get("steps", 1) or 1)  # type: ignore[call-overload]
        return steps * (int(params.get("eot", 1) or 1) if eot else 1)  # type: ignore[call-overload]

    @abstractmethod
    def perturb(
        self,
        model: Classifier,
        x: torch.Tensor,
        labels: torch.Tensor,
        targets: torch.Tensor | None,
        progress: ProgressFn | None,
        cancel: CancelFn | None,
    ) -> tuple[torch.Tensor, int | Sequence[int]]:
        """Return the adversarial batch and the number of iterations used (one for the batch, or one per
        image)."""

    def run(
        self,
        model: Classifier,
        x: torch.Tensor,
        labels: Sequence[int | None] | torch.Tensor | None = None,
        targets: Sequence[int] | torch.Tensor | int | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        precision: str = "fp32",
    ) -> list[AttackOutcome]:
        """Attack a batch of [0, 1] images at the model's input size.

        ``labels``: the true class per image where known (None → the model's clean prediction).
        ``targets``: a class per image (or one for all) for a targeted attack; None for untargeted.
        ``precision``: of the gradient steps only (``"bf16"``: under bf16 autocast, where the device supports
        it, else a ValueError); the reference labels and the verdict are always the fp32 model's.
        """
        crafting = gradient_model(model, precision)  # checked before any work
        x = x.to(model.device).float()
        if labels is not None and len(labels) != x.shape[0]:
            raise ValueError(f"{len(labels)} labels for {x.shape[0]} images")
        ref = _reference_labels(model, x, labels)
        tgt = None
        if targets is not None:
            tgt = torch.as_tensor(targets, dtype=torch.long, device=x.device).reshape(-1)
            if tgt.numel() == 1:
                tgt = tgt.expand(x.shape[0]).clone()
            if tgt.numel() != x.shape[0]:
                raise ValueError(f"{tgt.numel()} targets for {x.shape[0]} images")
        adv, iters = self.perturb(crafting, x, ref, tgt, progress, cancel)
        predicted = self.final_prediction(model, adv)
        return _outcomes(x, adv, ref, tgt, predicted, iters)

    def final_prediction(self, model: Classifier, adv: torch.Tensor) -> torch.Tensor:
        return model.probabilities(adv).argmax(1)


def _reference_labels(
    model: Classifier, x: torch.Tensor, labels: Sequence[int | None] | torch.Tensor | None
) -> torch.Tensor:
    """The true labels where given, else the clean prediction: the forward pass only where one is missing
    (with every label known, as the evaluation and a labelled folder give them, it would be thrown away)."""
    if isinstance(labels, torch.Tensor):
        return labels.to(x.device).long()
    if labels is not None and all(lab is not None for lab in labels):
        return torch.tensor([int(lab) for lab in labels], dtype=torch.long, device=x.device)  # type: ignore[arg-type]
    with torch.no_grad():
        clean = model(x).argmax(1)
    if labels is None:
        return clean
    return torch.tensor(
        [int(c) if lab is None else int(lab) for lab, c in zip(labels, clean.tolist())], device=x.device
    )


def _outcomes(
    x: torch.Tensor,
    adv: torch.Tensor,
    ref: torch.Tensor,
    tgt: torch.Tensor | None,
    predicted: torch.Tensor,
    iters: int | Sequence[int],
) -> list[AttackOutcome]:
    """``iters``: one count for the batch, or one per image (Square's queries stop when an image falls)."""
    per_image = [int(iters)] * x.shape[0] if isinstance(iters, int) else [int(i) for i in iters]
    adv_np = adv.detach().cpu().numpy()  # one copy to the host serves the statistics and the outcomes
    l2, linf, d = batch_perturbation_stats(x.detach().cpu().numpy(), adv_np)
    out = []
    for i in range(x.shape[0]):
        t = None if tgt is None else int(tgt[i])
        ok = attack_success(int(predicted[i]), int(ref[i]), t)
        out.append(
            AttackOutcome(
                adversarial=adv_np[i].transpose(1, 2, 0).astype(np.float32),
                success=bool(ok),
                l2=float(l2[i]),
                d=float(d[i]),
                linf=float(linf[i]),
                iterations=per_image[i],
                reference=int(ref[i]),
                predicted=int(predicted[i]),
                target=t,
            )
        )
    return out


GradFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def loss_gradient(
    model: Classifier, x: torch.Tensor, ref: torch.Tensor, tgt: torch.Tensor | None
) -> torch.Tensor:
    """Gradient of the ascent objective: +CE(reference) untargeted, −CE(target) targeted."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = (
        -F.cross_entropy(logits, tgt, reduction="sum")
        if tgt is not None
        else F.cross_entropy(logits, ref, reduction="sum")
    )
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def _project(adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.clamp(torch.min(torch.max(adv, x - eps), x + eps), 0.0, 1.0)


def sign_iterations(
    x: torch.Tensor,
    ref: torch.Tensor,
    tgt: torch.Tensor | None,
    grad_fn: GradFn,
    eps: float,
    alpha: float,
    steps: int,
    decay: float | None,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> torch.Tensor:
    """The loop shared by BIM (``decay=None``) and MI-FGSM (momentum ``decay``), in ε-ball and [0, 1]."""
    adv = x.clone()
    momentum = torch.zeros_like(x)
    for i in range(steps):
        check_cancel(cancel)
        g = grad_fn(adv, ref, tgt)
        if decay is not None:
            # MI-FGSM (eq. 3): accumulate the L1-normalized gradient (mean |g| differs from ‖g‖₁ by a
            # constant factor, which the sign below ignores).
            g = g / g.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
            momentum = decay * momentum + g
            g = momentum
        adv = _project(adv + alpha * g.sign(), x, eps)
        report(progress, (i + 1) / steps, f"step {i + 1}/{steps}")
    return adv.detach()


def scale_perturbation(
    x: torch.Tensor, adv: torch.Tensor, d: float, at_least_one: bool = True
) -> torch.Tensor:
    """Scale each image's perturbation by τ so that ‖δ‖₂/‖x‖₂ reaches ``d``, then clip to [0, 1].

    ``at_least_one``: τ ≥ 1, as the paper does for CW-L2 (a perturbation already past d is kept). Without
    it the perturbation is also shrunk, which is how an L∞ attack is measured in d. An unperturbed image
    stays as it is. Clipping can leave d slightly below the request; the evaluation records the real d.
    """
    delta = adv - x
    cur = delta.flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1).clamp_min(1e-12)
    tau = float(d) / cur.clamp_min(1e-12)
    if at_least_one:
        tau = torch.clamp(tau, min=1.0)
    tau = torch.where(cur > 0, tau, torch.ones_like(tau))
    return torch.clamp(x + tau.view(-1, 1, 1, 1) * delta, 0.0, 1.0)


EPS = Param("eps", "ε (/255)", 8.0, 0.0, 255.0, "L∞ budget in 1/255 units", symbol="ε", positive=True)
STEPS = Param("steps", "steps", 10, 1, 10000, integer=True, brief="{} steps")
ALPHA = Param(
    "alpha",
    "step size (/255)",
    None,
    0.0,
    255.0,
    "default ε / steps",
    optional=True,
    symbol="α",
    positive=True,
)
