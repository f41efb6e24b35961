"""Immutable, Qt-free snapshots of what the pipeline runs: an attack, a defense, a dictionary.

Each has a hashable ``key()``, so a result cached under it is never shown for different settings, and a
``create()`` that builds the core object through the core's one builder. Everything method-specific comes
from the core classes' traits (``defense_aware``, ``strength``, ``needs_dictionary``, ``identity``…): adding
an attack or a defense to the core's registry adds it to the window. :class:`AppState` hands these out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rsdesk.core.attacks import ATTACKS, Attack
from rsdesk.core.defenses import DEFENSES, Defense, create_defense
from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.params import Param
from rsdesk.core.sparse.dictionary_file import Dictionary


def attack_names() -> tuple[str, ...]:
    """The attacks the window offers, in menu order: every attack in the core's registry."""
    return tuple(ATTACKS)


def defense_names() -> tuple[str, ...]:
    """The defenses the window offers, in menu order; the identity ("no defense") is the D toggle instead."""
    return tuple(name for name, cls in DEFENSES.items() if not cls.identity)


Values = tuple[tuple[str, object], ...]


def param_specs(kind: str, name: str) -> tuple[Param, ...]:
    """The core's parameter specs of an attack (``kind="attack"``) or a defense."""
    return (ATTACKS if kind == "attack" else DEFENSES)[name].PARAMS


def param_spec(kind: str, name: str, param: str) -> Param:
    """The spec of one parameter of an attack or a defense (KeyError if it has no such parameter)."""
    return {p.name: p for p in param_specs(kind, name)}[param]


def summary_key(attack: AttackConfig, defense: DefenseConfig) -> tuple:
    """What an image's verdict story depends on: the attack, and the defense if it was on."""
    return (attack.key(), defense.key() if defense.enabled else None)


@dataclass(frozen=True)
class AttackConfig:
    """One attack, fully specified. ``defense_key`` is set only for a defense-aware attack (its result
    depends on the defense it was crafted through)."""

    name: str
    values: Values
    target: int | None = None
    defense_key: tuple | None = None
    #: of the gradient steps (the settings' "Attack gradients"); the verdict is always fp32's
    precision: str = "fp32"

    @property
    def params(self) -> dict[str, object]:
        return dict(self.values)

    @property
    def title(self) -> str:
        return ATTACKS[self.name].title

    @property
    def name_text(self) -> str:
        """The attack's name without its explanation in brackets: ``BPDA``."""
        return ATTACKS[self.name].plain_title

    @property
    def defense_aware(self) -> bool:
        return ATTACKS[self.name].defense_aware

    def key(self) -> tuple:
        return (self.name, self.values, self.target, self.defense_key, self.precision)

    def create(self, purify: object = None) -> Attack:
        """Build the core attack; a defense-aware one gets the defense's purify callable."""
        cls = ATTACKS[self.name]
        if cls.defense_aware:
            return cls(purify=purify, **self.params)  # type: ignore[call-arg]
        return cls(**self.params)

    def describe(self) -> str:
        """A short human summary: ``BIM ε 8/255, 10 steps → tabby``."""
        text = ATTACKS[self.name].summary(self.params)
        if self.precision != "fp32":
            text += f", {self.precision} gradients"
        if self.target is not None:
            text += f" → {imagenet_classes().name(self.target)}"
        return text


@dataclass(frozen=True)
class DefenseConfig:
    """One defense, fully specified; one that needs a dictionary carries it (compared by
    ``dictionary_id``)."""

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
        return create_defense(self.name, self.params, file=self.dictionary, device=self.device)

    def describe(self) -> str:
        """The panel subtitle: ``RegionSparse K 4, θ 1, stride 4``, ``JPEG compression (quality=75)``."""
        return DEFENSES[self.name].summary(self.params)


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
