"""Immutable, Qt-free snapshots of what the pipeline runs: an attack, a defense, a dictionary.

Each has a hashable ``key()``, so a result cached under it is never shown for different settings, and a
``create()`` that builds the core object. :class:`rsdesk.gui.state.AppState` hands these out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rsdesk.core.attacks import ATTACKS, Attack
from rsdesk.core.defenses import DEFENSES, Defense, RegionSparseDefense, create_defense
from rsdesk.core.dictionary import Dictionary
from rsdesk.core.labels import imagenet_classes
from rsdesk.core.params import Param

#: Attacks offered in the window, in menu order.
ATTACK_NAMES = ("fgsm", "bim", "mifgsm", "cw", "bpda")
#: Defenses offered in the window, in menu order ("none" is the D toggle, not a menu entry).
DEFENSE_NAMES = ("regionsparse", "jpeg", "squeeze", "tvm", "bilateral", "nlm")

Values = tuple[tuple[str, object], ...]


def param_specs(kind: str, name: str) -> tuple[Param, ...]:
    """The core's parameter specs of an attack (``kind="attack"``) or a defense."""
    return (ATTACKS if kind == "attack" else DEFENSES)[name].PARAMS


def strength_param(attack: str) -> str:
    """The parameter the strength slider drives: ε for L∞ attacks, d for CW-L2 (as in the paper)."""
    return "d" if attack == "cw" else "eps"


@dataclass(frozen=True)
class AttackConfig:
    """One attack, fully specified. ``defense_key`` is set only for BPDA, whose result depends on it."""

    name: str
    values: Values
    target: int | None = None
    defense_key: tuple | None = None

    @property
    def params(self) -> dict[str, object]:
        return dict(self.values)

    @property
    def title(self) -> str:
        return ATTACKS[self.name].title

    @property
    def defense_aware(self) -> bool:
        return self.name == "bpda"

    def key(self) -> tuple:
        return (self.name, self.values, self.target, self.defense_key)

    def create(self, purify: object = None) -> Attack:
        """Build the core attack; BPDA gets the defense's purify callable."""
        cls = ATTACKS[self.name]
        if self.defense_aware:
            return cls(purify=purify, **self.params)  # type: ignore[call-arg]
        return cls(**self.params)

    def describe(self) -> str:
        """A short human summary: ``BIM ε 8/255, 10 steps → tabby``."""
        p = self.params
        parts = []
        if "eps" in p:
            parts.append(f"ε {p['eps']:g}/255")
        if self.name == "cw":
            parts.append(f"c {p['c']:g}")
            if p.get("d"):
                parts.append(f"d {p['d']:g}")
        if "steps" in p and self.name != "fgsm":
            parts.append(f"{p['steps']} steps")
        text = f"{ATTACKS[self.name].title.split(' (')[0]} " + ", ".join(parts)
        if self.target is not None:
            text += f" → {imagenet_classes().name(self.target)}"
        return text


@dataclass(frozen=True)
class DefenseConfig:
    """One defense, fully specified; RegionSparse carries its dictionary (compared by ``dictionary_id``)."""

    name: str
    values: Values
    enabled: bool = True
    dictionary: Dictionary | None = field(default=None, compare=False, repr=False)
    dictionary_id: str = ""
    device: str = "cpu"

    @property
    def params(self) -> dict[str, object]:
        return dict(self.values)

    @property
    def title(self) -> str:
        return DEFENSES[self.name].title

    def key(self) -> tuple:
        return (self.name, self.values, self.enabled, self.dictionary_id)

    def create(self) -> Defense:
        """Build the core defense (cheap: the dictionary is already loaded)."""
        if self.name == "regionsparse":
            return RegionSparseDefense(dictionary=self.dictionary, device=self.device, **self.params)
        return create_defense(self.name, **self.params)

    def describe(self) -> str:
        return self.create().describe() if self.name != "regionsparse" else self._describe_rs()

    def _describe_rs(self) -> str:
        p = self.params
        return f"RegionSparse K {p['k']}, θ {p['theta']:g}, stride {p['stride']}"


@dataclass(frozen=True)
class DictionaryInfo:
    """The RegionSparse dictionary in use and where it came from (``path`` None: the bundled one)."""

    dictionary: Dictionary
    path: Path | None = None

    @property
    def ident(self) -> str:
        return str(self.path) if self.path else "bundled"

    @property
    def label(self) -> str:
        name = self.path.stem if self.path else "default"
        return f"{name} ({self.dictionary.n_atoms} atoms, h {self.dictionary.h:g})"
