"""What an evaluation runs: named attacks and defenses, and experiments that pair them at given strengths.

A plan is plain JSON (a file a user writes, a preset, or what the command line's options say), parsed here
into checked entries; the run directory's ``plan.json`` holds it back, complete, so a run can be repeated.

- An **attack entry** is one configured attack under one threat model: gray-box (crafted on the classifier
  under test, then shown to each defense), transfer (crafted on a ``source`` classifier) or defense-aware
  (its gradients go through each defense: BPDA, with EOT over a randomized defense's draws).
- A **defense entry** is one configured defense; ``"sweep": {"quality": [10, 30, 50]}`` expands it into one
  entry per knob value (keys ``jpeg[quality=10]`` …), the points of a robust-vs-clean frontier.
- An **experiment** names which attacks at which strengths meet which defenses, and how the run draws it
  (``curves`` like the paper's Fig. 5, ``bars`` like Fig. 4 and 8, ``frontier``, ``table`` like Table II).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from rsdesk.core.attacks import attack_class
from rsdesk.core.attacks.base import LINF, RELATIVE_L2, Strength
from rsdesk.core.defenses import RANDOM_DICTIONARY, defense_class
from rsdesk.core.params import resolve_params

T = TypeVar("T")

THREATS = ("graybox", "transfer", "aware")
KINDS = ("curves", "bars", "frontier", "table")
PROTOCOLS = ("correct-only", "all")
#: Dictionaries a defense entry may name instead of a file (the bundled ones, and noTR's random atoms).
NAMED_DICTIONARIES = ("bundled", "noIS", "noPN", RANDOM_DICTIONARY)


class PlanError(ValueError):
    """A plan that cannot run; the message names the entry and what is wrong."""


@dataclass(frozen=True)
class AttackEntry:
    """One attack, fully configured except its strength, under one threat model."""

    key: str
    name: str
    params: dict[str, Any]
    threat: str = "graybox"
    source: str | None = None
    source_weights: str | None = None
    #: an L∞ attack measured in d: its perturbation is scaled to reach ‖δ‖₂/‖x‖₂ = d (the paper's MI-FGSM)
    scale_to_d: bool = False

    @property
    def strength(self) -> Strength:
        """What the strengths of this entry mean (ε /255 or d)."""
        return RELATIVE_L2 if self.scale_to_d else attack_class(self.name).strength

    @property
    def scaled(self) -> bool:
        """Its strength d is reached by scaling one crafted perturbation (CW-L2 as the paper does, or an
        L∞ attack measured in d), so every d of an image shares one attack run."""
        return self.scale_to_d or attack_class(self.name).strength.param == "d"

    @property
    def title(self) -> str:
        cls = attack_class(self.name)
        return cls.short_title + (" (at d)" if self.scale_to_d else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "attack": self.name,
            "params": self.params,
            "threat": self.threat,
            "source": self.source,
            "source_weights": self.source_weights,
            "strength": self.strength.param if self.scale_to_d else None,
        }


@dataclass(frozen=True)
class DefenseEntry:
    """One defense with every parameter; ``group``/``knob`` place it on a frontier."""

    key: str
    name: str
    params: dict[str, Any]
    dictionary: str | None = None  # None: bundled; a name of NAMED_DICTIONARIES or a file
    group: str = ""
    knob: str | None = None
    knob_value: float | None = None

    @property
    def randomized(self) -> bool:
        """Whether repeated purifications of one input differ (its draws are seeded per row, EOT'd)."""
        return defense_class(self.name).randomized

    @property
    def identity(self) -> bool:
        """The undefended model's row."""
        return defense_class(self.name).identity

    @property
    def title(self) -> str:
        """``RegionSparse``; a sweep point ``RegionSparse k 4``; a named variant ``RegionSparse · noBS``."""
        base = defense_class(self.name).short_title
        if self.knob is not None:
            return f"{base} {self.knob} {self.knob_value:g}"
        if self.key != self.name:
            return f"{base} · {self.key}"
        if self.dictionary not in (None, "bundled"):
            named = self.dictionary in NAMED_DICTIONARIES
            base += f" [{self.dictionary if named else Path(str(self.dictionary)).stem}]"
        return base

    def as_dict(self) -> dict[str, Any]:
        out = {"defense": self.name, "params": self.params, "dictionary": self.dictionary}
        if self.knob is not None:  # one point of a sweep: plan.json keeps its place on the frontier
            out.update(group=self.group, knob=self.knob)
        return out


@dataclass(frozen=True)
class Experiment:
    """Attacks at their strengths × defenses, drawn as one figure or table."""

    name: str
    kind: str
    title: str
    strengths: dict[str, tuple[float, ...]]  # attack key → strengths (> 0; clean is always added)
    defenses: tuple[str, ...]
    limit: int | None = None  # only the first N counted images
    frontier: tuple[str, float] | None = None  # (attack key, strength) for kind "frontier"
    reference: dict[str, Any] = field(default_factory=dict)  # published numbers to print beside ours

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "title": self.title,
            "attacks": {k: list(v) for k, v in self.strengths.items()},
            "defenses": list(self.defenses),
            "limit": self.limit,
            "frontier": {"attack": self.frontier[0], "strength": self.frontier[1]} if self.frontier else None,
            "reference": self.reference,
        }


@dataclass
class Plan:
    """Everything an evaluation runs, checked; :meth:`as_dict` is the JSON a plan file holds."""

    attacks: dict[str, AttackEntry]
    defenses: dict[str, DefenseEntry]
    experiments: list[Experiment]
    protocol: str = "correct-only"
    seed: int = 0
    quantize: bool = False
    batch_size: int = 8

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "seed": self.seed,
            "quantize": self.quantize,
            "batch_size": self.batch_size,
            "attacks": {k: a.as_dict() for k, a in self.attacks.items()},
            "defenses": {k: d.as_dict() for k, d in self.defenses.items()},
            "experiments": [e.as_dict() for e in self.experiments],
        }

    @property
    def undefended(self) -> str:
        """The key of the no-defense entry (every parsed plan has one): the protocol's judge."""
        return next(k for k, d in self.defenses.items() if d.identity)

    def merged(self, other: Plan) -> Plan:
        """This plan with ``other``'s entries and experiments added (a run directory growing): the same key
        must mean the same configuration in both."""
        for mine, theirs, what in (
            (self.attacks, other.attacks, "attack"),
            (self.defenses, other.defenses, "defense"),
        ):
            for key, entry in theirs.items():
                if key in mine and mine[key] != entry:
                    raise PlanError(
                        f"{what} {key!r} is configured differently in this run directory; "
                        "give it another name or use a new --out"
                    )
        # an experiment of the same name is replaced where it stood; new ones come last
        experiments = {e.name: e for e in self.experiments} | {e.name: e for e in other.experiments}
        return replace(
            self,
            attacks={**self.attacks, **other.attacks},
            defenses={**self.defenses, **other.defenses},
            experiments=list(experiments.values()),
        )

    def needed(self) -> dict[tuple[str, float, str], int | None]:
        """(attack key, strength, defense key) → how many counted images it needs (None: all)."""
        out: dict[tuple[str, float, str], int | None] = {}
        for e in self.experiments:
            for akey, strengths in e.strengths.items():
                for s in strengths:
                    for dkey in e.defenses:
                        prev = out.get((akey, s, dkey), 0)
                        out[(akey, s, dkey)] = None if prev is None or e.limit is None else max(prev, e.limit)
        return out


_KEY = re.compile(r"^[A-Za-z0-9_.@+\-\[\]=]{1,80}$")


def _checked(where: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, its ValueError said as a :class:`PlanError` that names the entry."""
    try:
        return fn(*args)
    except ValueError as exc:
        raise PlanError(f"{where}: {exc}") from None


def _check_key(key: str, what: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise PlanError(f"{what} name {key!r}: use letters, digits and _.-@+[]= (at most 80)")
    return key


def _strength_values(values: object, entry: AttackEntry, where: str) -> tuple[float, ...]:
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise PlanError(f"{where}: strengths must be a non-empty list of numbers")
    spec = entry.strength
    top = 2.0 if spec is RELATIVE_L2 else 255.0
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise PlanError(f"{where}: strength {v!r} is not a number") from None
        if not 0 < f <= top:
            unit = "d (‖δ‖₂/‖x‖₂)" if spec is RELATIVE_L2 else "ε in /255"
            raise PlanError(f"{where}: {entry.key} takes {unit} within (0, {top:g}], got {f:g}")
        out.append(f)
    return tuple(sorted(set(out)))


def _attack_entry(key: str, spec: Mapping[str, Any]) -> AttackEntry:
    where = f"attack {key!r}"
    cls = _checked(where, attack_class, str(spec.get("attack", key)))
    default = "aware" if cls.defense_aware else "transfer" if spec.get("source") else "graybox"
    threat = str(spec.get("threat") or default)
    if threat not in THREATS:
        raise PlanError(f"{where}: threat must be one of {', '.join(THREATS)}, got {threat!r}")
    if (threat == "aware") != cls.defense_aware:
        raise PlanError(f"{where}: only a defense-aware attack (bpda) runs under the 'aware' threat model")
    if threat == "transfer" and not spec.get("source"):
        raise PlanError(f"{where}: a transfer attack needs a source classifier")
    scale = spec.get("strength") == "d" and cls.strength is LINF
    if spec.get("strength") not in (None, "d", cls.strength.param):
        raise PlanError(f"{where}: strength must be 'd' or {cls.strength.param!r}")
    params = dict(spec.get("params") or {})
    if not scale:
        params.pop(cls.strength.param, None)  # the strength comes from the experiment
    resolved = _checked(where, resolve_params, cls.PARAMS, params, cls.title)
    if not scale:
        resolved.pop(cls.strength.param, None)
    return AttackEntry(
        key=_check_key(key, "attack"),
        name=cls.name,
        params=dict(resolved),
        threat=threat,
        source=spec.get("source"),
        source_weights=spec.get("source_weights"),
        scale_to_d=scale,
    )


def _defense_entries(key: str, spec: Mapping[str, Any]) -> list[DefenseEntry]:
    where = f"defense {key!r}"
    cls = _checked(where, defense_class, str(spec.get("defense", key)))
    params = dict(spec.get("params") or {})
    dictionary = spec.get("dictionary")
    if dictionary is not None and not cls.needs_dictionary:
        raise PlanError(f"{where}: {cls.title} takes no dictionary")
    named = dictionary in (None, *NAMED_DICTIONARIES)
    if cls.needs_dictionary and not named and not Path(dictionary).is_file():
        choices = ", ".join(NAMED_DICTIONARIES)
        raise PlanError(f"{where}: dictionary {dictionary!r} is neither a file nor one of {choices}")
    sweep = spec.get("sweep") or {}
    if len(sweep) > 1:
        raise PlanError(f"{where}: sweep one knob at a time")
    variants: list[tuple[str | None, Any]] = [(None, None)]
    if sweep:
        ((knob, values),) = sweep.items()
        if not isinstance(values, Sequence) or isinstance(values, str) or not values:
            raise PlanError(f"{where}: sweep {knob} needs a list of values")
        variants = [(knob, v) for v in values]
    out = []
    for knob, value in variants:
        values = {**params, **({knob: value} if knob else {})}
        # checked as the defense's constructor checks them, without building it (a dictionary defense
        # would load its dictionary here; each worker builds its own)
        resolved = _checked(where, resolve_params, cls.PARAMS, values, cls.title)
        vkey = key if knob is None else f"{key}[{knob}={value:g}]"
        knob = knob or spec.get("knob")  # read back from plan.json: a point of a sweep
        if knob is not None and knob not in resolved:
            raise PlanError(f"{where}: {cls.title} has no parameter {knob!r}")
        out.append(
            DefenseEntry(
                key=_check_key(vkey, "defense"),
                name=cls.name,
                params=dict(resolved),
                dictionary=dictionary,
                group=str(spec.get("group") or key),
                knob=knob,
                knob_value=None if knob is None else float(resolved[knob]),
            )
        )
    return out


def parse_plan(data: Mapping[str, Any]) -> Plan:
    """Check a plan's JSON and build its entries; the first problem found is a :class:`PlanError`."""
    if not isinstance(data, Mapping):
        raise PlanError("a plan is a JSON object with attacks, defenses and experiments")
    protocol = str(data.get("protocol", "correct-only"))
    if protocol not in PROTOCOLS:
        raise PlanError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    attacks: dict[str, AttackEntry] = {}
    for key, spec in (data.get("attacks") or {}).items():
        attacks[key] = _attack_entry(key, spec or {})
    defenses: dict[str, DefenseEntry] = {}
    groups: dict[str, list[str]] = {}
    for key, spec in (data.get("defenses") or {}).items():
        entries = _defense_entries(key, spec or {})
        groups[key] = [e.key for e in entries]
        defenses.update({e.key: e for e in entries})
    if not any(d.identity for d in defenses.values()):
        # the undefended model is every table's reference row and the protocol's judge
        defenses = {"none": DefenseEntry("none", "none", {}, group="none"), **defenses}
        groups["none"] = ["none"]
    experiments = [_experiment(e, attacks, groups) for e in data.get("experiments") or []]
    if not experiments:
        raise PlanError("the plan has no experiments")
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise PlanError("experiment names must differ")
    try:
        seed, batch = int(data.get("seed", 0)), int(data.get("batch_size", 8))
    except (TypeError, ValueError):
        raise PlanError("seed and batch_size must be whole numbers") from None
    if not 1 <= batch <= 256:
        raise PlanError(f"batch_size must be within 1…256, got {batch}")
    return Plan(attacks, defenses, experiments, protocol, seed, bool(data.get("quantize", False)), batch)


def _experiment(
    spec: Mapping[str, Any], attacks: dict[str, AttackEntry], groups: dict[str, list[str]]
) -> Experiment:
    name = _check_key(str(spec.get("name", "")), "experiment")
    where = f"experiment {name!r}"
    kind = str(spec.get("kind", "curves"))
    if kind not in KINDS:
        raise PlanError(f"{where}: kind must be one of {', '.join(KINDS)}")
    strengths: dict[str, tuple[float, ...]] = {}
    for akey, values in (spec.get("attacks") or {}).items():
        if akey not in attacks:
            raise PlanError(
                f"{where}: unknown attack {akey!r}; the plan defines {', '.join(attacks) or 'none'}"
            )
        strengths[akey] = _strength_values(values, attacks[akey], where)
    if not strengths:
        raise PlanError(f"{where}: no attacks")
    dkeys: list[str] = ["none"] if "none" in groups else []
    for dkey in spec.get("defenses") or []:
        if dkey not in groups:
            raise PlanError(f"{where}: unknown defense {dkey!r}; the plan defines {', '.join(groups)}")
        dkeys += [k for k in groups[dkey] if k not in dkeys]
    frontier = None
    if kind == "frontier":
        f = spec.get("frontier") or {}
        akey = f.get("attack", next(iter(strengths)))
        if akey not in strengths:
            raise PlanError(f"{where}: the frontier's attack must be one of the experiment's")
        frontier = (akey, float(f.get("strength", strengths[akey][-1])))
        if frontier[1] not in strengths[akey]:
            raise PlanError(f"{where}: the frontier's strength must be one of the experiment's")
    limit = spec.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise PlanError(f"{where}: limit must be a whole number ≥ 1")
    return Experiment(
        name,
        kind,
        str(spec.get("title") or name),
        strengths,
        tuple(dkeys),
        limit,
        frontier,
        dict(spec.get("reference") or {}),
    )
