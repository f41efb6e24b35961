"""Adversarial attacks in [0, 1] pixel space (spec §7) and :data:`ATTACKS`, the registry the CLI, the window
and the evaluations all read:

- the paper's FGSM, BIM, MI-FGSM and CW-L2 (τ-scaled to a distance d, as the paper does);
- fixed-budget L2 attacks at d, each image within its own radius d·‖x‖₂ (:mod:`.l2`: PGD-L2, MI-FGSM-L2);
- APGD with the CE and DLR losses, L∞ and L2 (:mod:`.apgd`, through torchattacks);
- defense-aware attacks (:mod:`.bpda`): BIM, PGD-L2 and APGD whose gradients go through the defense with
  the identity or the defense's exact local linearization as its backward pass (BPDA), and the
  gradient-free Square (:mod:`.square`, through torchattacks), which queries the defended pipeline.

Every attack takes a batch (B×3×S×S at the classifier's input size), optional true labels and targets, a
progress callback and a cancel flag checked at every iteration. ε is given in /255 units. The relative L2
distance is ``d = ‖x' − x‖₂ / ‖x‖₂`` (spec, "Notation"). What they share (the interface and its traits, the
outcome, the signed-gradient loop) is :mod:`rsdesk.core.attacks.base`.
"""

from __future__ import annotations

from rsdesk.core.attacks.apgd import APGDCE, APGDCEL2, APGDDLR, APGDDLRL2
from rsdesk.core.attacks.base import LINF, RELATIVE_L2, Attack, AttackOutcome, Strength
from rsdesk.core.attacks.bpda import AWARE_ATTACKS, BPDA
from rsdesk.core.attacks.cw import CWL2
from rsdesk.core.attacks.fgsm import FGSM
from rsdesk.core.attacks.iterative import BIM, MIFGSM
from rsdesk.core.attacks.l2 import MIFGSML2, PGDL2
from rsdesk.core.params import lookup

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


#: Every attack, in menu order.
ATTACKS: dict[str, type[Attack]] = {
    cls.name: cls
    for cls in (
        FGSM,
        BIM,
        MIFGSM,
        CWL2,
        PGDL2,
        MIFGSML2,
        APGDCE,
        APGDDLR,
        APGDCEL2,
        APGDDLRL2,
        *AWARE_ATTACKS,
    )
}
_ALIASES = {"mi": "mifgsm", "cwl2": "cw", "cw2": "cw"}


def attack_class(name: str) -> type[Attack]:
    """The attack a name means (case, ``-`` and ``_`` ignored; ``mi``, ``cw_l2`` …); unknown → ValueError."""
    return lookup(ATTACKS, _ALIASES, name, "attack")


def create_attack(name: str, **params: object) -> Attack:
    """Build an attack by name (``fgsm``, ``bim``, ``pgd-l2``, ``apgd-ce``, ``bpda``, ``square`` …; see
    :data:`ATTACKS`); unknown → ValueError.

    A defense-aware attack also takes ``purify=`` (the defense it attacks through).
    """
    return attack_class(name)(**params)
