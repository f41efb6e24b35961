"""Defense-aware attacks (Athalye, Carlini & Wagner 2018): the attack's model is the whole pipeline,
classifier ∘ defense. The forward pass runs the real defense; the backward pass through it is the
``surrogate`` the attacker chooses — the identity (BPDA as first published) or, where the defense offers
one, its exact local linearization (``linear``: RegionSparse and the bilateral filter with their discrete
choices held at the current image, :mod:`rsdesk.core.attacks.surrogate`). ``eot`` averages the gradient
over a randomized defense's draws (Expectation over Transformation). Square needs no gradient: it queries
the same pipeline.

One mixin, :class:`ThroughDefense`, makes any attack of the registry defense-aware; the classes below are
the ones the registry lists (``bpda`` is BIM through the defense).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from rsdesk.core.attacks.apgd import APGDCE, APGDCEL2, APGDDLR, APGDDLRL2
from rsdesk.core.attacks.base import ALPHA, EPS, STEPS, Attack
from rsdesk.core.attacks.iterative import BIM
from rsdesk.core.attacks.l2 import PGDL2
from rsdesk.core.attacks.square import SquareL2, SquareLinf
from rsdesk.core.attacks.surrogate import (
    IDENTITY,
    LINEAR,
    SURROGATES,
    DefendedModel,
    Purifier,
    resolve_surrogate,
)
from rsdesk.core.models.classifier import Classifier
from rsdesk.core.params import Param

EOT = Param(
    "eot",
    "EOT samples",
    1,
    1,
    100,
    "gradients averaged per step over a randomized defense's draws",
    integer=True,
)
SURROGATE = Param(
    "surrogate",
    "surrogate gradient",
    IDENTITY,
    help=(
        "the backward pass through the defense: identity (BPDA); linear (the defense's exact local "
        "linearization: RegionSparse, bilateral); auto (linear where the defense offers it)"
    ),
    choices=SURROGATES,
)


class ThroughDefense(Attack):
    """Mixin for a defense-aware attack: give it the defense as ``purify=`` (a
    :class:`~rsdesk.core.defenses.Defense`, or any callable H×W×3 → H×W×3 for a defense drawn afresh on each
    call). Its gradients (or queries) go through the defense, and success is judged through it.

    The surrogate rule lives here, once: ``auto`` takes the defense's linear surrogate where its
    ``surrogates`` trait offers one, ``linear`` where it does not is refused with the defense's name.
    """

    defense_aware = True

    def __init__(self, purify: Callable[[np.ndarray], np.ndarray] | None = None, **params: object) -> None:
        super().__init__(**params)
        self.surrogate = IDENTITY
        self.purifier: Purifier | None = None
        if purify is None:
            return
        requested = str(self.params.get("surrogate", IDENTITY))
        offered = tuple(getattr(purify, "surrogates", (IDENTITY,)))
        self.surrogate = resolve_surrogate(requested, offered, getattr(purify, "title", "this defense"))
        linearize = getattr(purify, "linearize", None) if self.surrogate == LINEAR else None
        self.purifier = Purifier(purify, linearize)

    def defended(self, model: Classifier) -> DefendedModel:
        """The pipeline the attacker sees: the classifier behind the defense."""
        if self.purifier is None:
            raise ValueError(f"{self.plain_title} needs the defense to attack; choose a defense first")
        return DefendedModel(model, self.purifier)

    def perturb(self, model, x, ref, tgt, progress, cancel):  # noqa: ANN001, ANN201
        return super().perturb(self.defended(model), x, ref, tgt, progress, cancel)  # type: ignore[safe-super]

    def final_prediction(self, model: Classifier, adv: torch.Tensor) -> torch.Tensor:
        return self.defended(model).probabilities(adv).argmax(1)

    def describe(self) -> str:
        text = super().describe()
        return text if self.purifier is None else f"{text} [{self.surrogate} backward]"


def _aware_params(base: type[Attack]) -> tuple[Param, ...]:
    return (*base.PARAMS, EOT, SURROGATE)


class BPDA(ThroughDefense, BIM):
    """BIM through the defense (the name the paper's readers know)."""

    name, title = "bpda", "BPDA (defense-aware BIM)"
    short_title = "BPDA (defense-aware)"
    PARAMS = (EPS, STEPS, ALPHA, EOT, SURROGATE)


class BPDAPGDL2(ThroughDefense, PGDL2):
    name, title = "bpda-pgd-l2", "BPDA·PGD-L2 (defense-aware)"
    PARAMS = _aware_params(PGDL2)


class BPDAAPGDCE(ThroughDefense, APGDCE):
    name, title = "bpda-apgd-ce", "BPDA·APGD-CE (defense-aware)"
    PARAMS = _aware_params(APGDCE)


class BPDAAPGDDLR(ThroughDefense, APGDDLR):
    name, title = "bpda-apgd-dlr", "BPDA·APGD-DLR (defense-aware)"
    PARAMS = _aware_params(APGDDLR)


class BPDAAPGDCEL2(ThroughDefense, APGDCEL2):
    name, title = "bpda-apgd-ce-l2", "BPDA·APGD-CE-L2 (defense-aware)"
    PARAMS = _aware_params(APGDCEL2)


class BPDAAPGDDLRL2(ThroughDefense, APGDDLRL2):
    name, title = "bpda-apgd-dlr-l2", "BPDA·APGD-DLR-L2 (defense-aware)"
    PARAMS = _aware_params(APGDDLRL2)


class Square(ThroughDefense, SquareLinf):
    """Square (L∞) on the defended pipeline: no gradient, so no surrogate can flatter or mislead it."""

    name = "square"


class SquareL2Aware(ThroughDefense, SquareL2):
    name = "square-l2"


#: The defense-aware attacks, in menu order.
AWARE_ATTACKS: tuple[type[Attack], ...] = (
    BPDA,
    BPDAPGDL2,
    BPDAAPGDCE,
    BPDAAPGDDLR,
    BPDAAPGDCEL2,
    BPDAAPGDDLRL2,
    Square,
    SquareL2Aware,
)
