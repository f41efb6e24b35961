"""The one plan builder: the command line's options, the Evaluate tab's form and the presets describe their
choices to it and get the same plan JSON, with the same keys for the same choices — so a run directory made
on one side is extended, not re-crafted, from the other.

Nothing here knows an attack or a defense by name: which strengths an attack takes comes from its strength
kind, whether it can be transferred from its ``defense_aware`` trait, which file a defense takes (the
dictionary) from its ``learned_file``, and a transfer source's short tag from the classifier registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rsdesk.core.attacks import ATTACKS, attack_class
from rsdesk.core.defenses import defense_class
from rsdesk.core.evaluation.plan import THREATS, PlanError
from rsdesk.core.models import source_tag

#: The one experiment a custom plan (options or form) holds.
CUSTOM_EXPERIMENT = {"name": "evaluate", "kind": "curves", "title": "Accuracy vs attack strength"}


def parse_strengths(text: str | None, what: str) -> tuple[float, ...]:
    """``"4, 12"`` (commas or semicolons) → ``(4.0, 12.0)``; a word that is not a number, or a negative or
    non-finite one, is a ValueError naming ``what`` (the option or field it was typed into)."""
    if text is None:
        return ()
    out = []
    for part in text.replace(";", ",").split(","):
        word = part.strip()
        if not word:
            continue
        try:
            value = float(word)
        except ValueError:
            raise ValueError(f"{what}: {word!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{what}: {word!r} is not a strength (a finite number ≥ 0)")
        out.append(value)
    return tuple(out)


def attack_key(name: str, source: str | None = None) -> str:
    """The plan key of an attack: its registry name, ``NAME@TAG`` when transferred from ``source``
    (``fgsm@lite2``; the tag is the classifier registry's short name for the source)."""
    cls = attack_class(name)
    if source is None or cls.defense_aware:
        return cls.name
    return f"{cls.name}@{source_tag(source)}"


def attack_spec(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    source: str | None = None,
    source_weights: str | None = None,
    measured_in: str | None = None,
) -> dict[str, Any]:
    """One attack entry's JSON: gray-box, or transferred from ``source``; ``measured_in`` a strength kind
    other than the attack's own (``"d"``: the paper's MI-FGSM, crafted at its ε then rescaled to each d)."""
    cls = attack_class(name)
    spec: dict[str, Any] = {"attack": cls.name, "params": dict(params or {})}
    if measured_in is not None:
        spec["strength"] = measured_in
    if source is not None and not cls.defense_aware:
        spec.update(source=source, source_weights=source_weights, threat="transfer")
    return spec


@dataclass(frozen=True)
class Choices:
    """What a user chose, in the words the options and the form share.

    ``strengths``: strength kind (``"linf"``, ``"d"``, …) → the values for every attack of that kind.
    ``threat``: ``graybox``; ``transfer`` (from ``source``: every attack that is not defense-aware);
    ``aware`` (adds BPDA, the registry's first defense-aware attack, when none is chosen).
    """

    attacks: tuple[str, ...]
    strengths: Mapping[str, Sequence[float]]
    defenses: tuple[str, ...]
    defense_params: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    steps: int | None = None  # every attack with a ``steps`` parameter; None: each attack's default
    threat: str = "graybox"
    source: str | None = None
    source_weights: str | None = None
    #: learned files by their plan key (``{"dictionary": "d.npz"}``), for every defense whose learned file it
    #: is; a file not given is that defense's default (RegionSparse: the bundled dictionary)
    files: Mapping[str, str | None] = field(default_factory=dict)
    quantize: bool = False
    protocol_all: bool = False
    precision: str = "fp32"  # of the attacks' gradient steps


def _attacks(choices: Choices) -> tuple[dict[str, Any], dict[str, list[float]]]:
    if choices.threat not in THREATS:
        raise PlanError(f"threat must be one of {', '.join(THREATS)}, got {choices.threat!r}")
    names = [attack_class(n).name for n in choices.attacks]
    if choices.threat == "aware" and not any(ATTACKS[n].defense_aware for n in names):
        # the threat model asks for one: BPDA, the registry's first (the others are chosen by name)
        names.append(next(n for n, cls in ATTACKS.items() if cls.defense_aware))
    if not names:
        raise PlanError("choose at least one attack")
    source = choices.source if choices.threat == "transfer" else None
    if choices.threat == "transfer" and not source:
        raise PlanError("a transfer attack needs a source classifier")
    attacks: dict[str, Any] = {}
    grid: dict[str, list[float]] = {}
    for name in dict.fromkeys(names):
        cls = ATTACKS[name]
        params = {}
        if choices.steps and any(p.name == "steps" for p in cls.PARAMS):
            params["steps"] = int(choices.steps)
        key = attack_key(name, source)
        attacks[key] = attack_spec(name, params, source=source, source_weights=choices.source_weights)
        grid[key] = list(choices.strengths.get(cls.strength.kind) or ())
        if not grid[key]:
            raise PlanError(f"{cls.short_title}: give at least one strength ({cls.strength.meaning})")
    return attacks, grid


def plan_from_choices(choices: Choices) -> dict[str, Any]:
    """The plan JSON for ``choices``: one experiment, every attack × its strengths × every defense (the
    undefended model is every experiment's reference row anyway). Unknown names are a ValueError."""
    attacks, grid = _attacks(choices)
    if not choices.defenses:
        raise PlanError("choose at least one defense (no defense is always the reference)")
    extra = set(choices.defense_params) - set(choices.defenses)
    if extra:
        raise ValueError(f"parameters given for a defense not chosen: {', '.join(sorted(extra))}")
    defenses: dict[str, Any] = {}
    for name in choices.defenses:
        spec: dict[str, Any] = {"defense": name, "params": dict(choices.defense_params.get(name, {}))}
        try:
            learned = defense_class(name).learned_file
        except ValueError:
            learned = None  # an unknown name: the plan's parser says so, naming the entry
        if learned is not None and choices.files.get(learned.option):
            spec[learned.option] = choices.files[learned.option]
        defenses[name] = spec
    data: dict[str, Any] = {
        "attacks": attacks,
        "defenses": defenses,
        "experiments": [{**CUSTOM_EXPERIMENT, "attacks": grid, "defenses": list(defenses)}],
    }
    if choices.quantize:
        data["quantize"] = True
    if choices.precision != "fp32":
        data["precision"] = choices.precision
    if choices.protocol_all:
        data["protocol"] = "all"
    return data


def with_learned_files(data: dict[str, Any], files: Mapping[str, str | None]) -> dict[str, Any]:
    """``data`` (a preset's or a plan file's JSON) with ``files`` (learned files by their plan key, as
    :class:`Choices` has them) given to every defense entry of that learned file that names none, so a
    preset run from the window uses the window's dictionary; entries naming their own (an ablation's) keep
    it. A copy; the plan's parser checks the files."""
    out = dict(data)
    out["defenses"] = {}
    for key, spec in (data.get("defenses") or {}).items():
        entry = dict(spec or {})
        try:
            learned = defense_class(str(entry.get("defense", key))).learned_file
        except ValueError:
            learned = None  # an unknown name: the plan's parser says so, naming the entry
        if learned is not None and files.get(learned.option) and entry.get(learned.option) is None:
            entry[learned.option] = files[learned.option]
        out["defenses"][key] = entry
    return out
