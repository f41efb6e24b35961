"""Adversarial attacks in [0, 1] pixel space (spec §7): FGSM, BIM, MI-FGSM, CW-L2 and defense-aware BPDA,
and :data:`ATTACKS`, the registry the CLI, the window and the evaluations all read.

Every attack takes a batch (B×3×S×S at the classifier's input size), optional true labels and targets, a
progress callback and a cancel flag checked at every iteration. ε is given in /255 units. The relative L2
distance is ``d = ‖x' − x‖₂ / ‖x‖₂`` (spec, "Notation"). Attacks are gray-box (they see the classifier, not
the defense), except :class:`BPDA`, which approximates the purifier's gradient by the identity (Athalye,
Carlini & Wagner 2018) to show what a defense-aware attacker can do. What they share (the interface and its
traits, the outcome, the signed-gradient loop) is :mod:`rsdesk.core.attacks.base`.
"""

from __future__ import annotations

from rsdesk.core.attacks.base import LINF, RELATIVE_L2, Attack, AttackOutcome, Strength
from rsdesk.core.attacks.bpda import BPDA
from rsdesk.core.attacks.cw import CWL2
from rsdesk.core.attacks.fgsm import FGSM
from rsdesk.core.attacks.iterative import BIM, MIFGSM
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
