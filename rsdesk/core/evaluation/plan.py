"""What an evaluation runs: named attacks and defenses, and experiments that pair them at given strengths.

A plan is plain JSON (a file a user writes, a preset, or what the command line's options say), parsed here
into checked entries; the run directory's ``plan.json`` holds it back, complete, so a run can be repeated.

- An **attack entry** is one configured attack under one threat model: gray-box (crafted on the classifier
  under test, then shown to each defense), transfer (crafted on a ``source`` classifier), defense-aware
  (its gradients go through each defense: BPDA, with EOT over a randomized defense's draws), and for rows
  judged by a classifier of their own (a model fine-tuned by ``rsdesk finetune``) black-box (crafted on the
  plan's classifier, shown to each row's own: the paper's Fig. 6) or extended gray-box (crafted on each
  row's own classifier: Fig. 7).
- A **defense entry** is one configured defense; ``"sweep": {"quality": [10, 30, 50]}`` expands it into one
  entry per knob value (keys ``jpeg[quality=10]`` …), the points of a robust-vs-clean frontier. An entry
  may name the classifier that judges it (``"classifier"``, ``"classifier_weights"``): a training-time
  defense is a row whose model was retrained (Table II's "FGSM Adversarial" is the undefended row with its
  own model).
- An **experiment** names which attacks at which strengths meet which defenses, and how the run draws it
  (``curves`` like the paper's Fig. 5, ``bars`` like Fig. 4 and 8, ``frontier``, ``table`` like Table II).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rsdesk.core.attacks import attack_class
from rsdesk.core.attacks.base import RELATIVE_L2, RESCALED, Strength
from rsdesk.core.defenses import defense_class
from rsdesk.core.defenses.base import DICTIONARY_OPTION

#: The plan file's format: written into every plan.json, checked on read (a plan without it is format 1).
PLAN_FORMAT = 1
THREATS = ("graybox", "transfer", "aware", "blackbox", "extended-graybox")
#: the threats whose adversarials are crafted once per defense row: through that row's defense ("aware"), or
#: on that row's own classifier ("extended-graybox"); the others craft once and show the result to every row
PER_ROW_THREATS = ("aware", "extended-graybox")
#: the threats that matter where a row has a retrained model: which classifier the attacker had
RETRAINED_THREATS = ("blackbox", "extended-graybox")
#: how tables and figures name each threat model
THREAT_TITLES = {
    "graybox": "gray-box",
    "transfer": "transfer",
    "aware": "defense-aware",
    "blackbox": "black-box",
    "extended-graybox": "extended gray-box",
}
KINDS = ("curves", "bars", "frontier", "table")
PROTOCOLS = ("correct-only", "all")
#: what the title of an entry whose strength is reached by rescaling (the paper's CW-L2) ends with
TAU_SCALED = ", τ-scaled as in the paper"


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
    #: a projected attack measured in d: its perturbation is scaled to reach ‖δ‖₂/‖x‖₂ = d (the paper's
    #: MI-FGSM at d)
    scale_to_d: bool = False

    @property
    def per_row(self) -> bool:
        """Crafted once per defense row (see :data:`PER_ROW_THREATS`), not once for every row."""
        return self.threat in PER_ROW_THREATS

    @property
    def strength(self) -> Strength:
        """What the strengths of this entry mean: its attack's strength kind, or d when measured in d."""
        return RELATIVE_L2 if self.scale_to_d else attack_class(self.name).strength

    @property
    def scaled(self) -> bool:
        """Its strength is reached by rescaling one crafted perturbation (an attack whose budget is
        :data:`RESCALED`, as the paper's CW-L2, or a projected one measured in d), so every strength of an
        image shares one attack run and the budget is reached, not bounded."""
        return self.scale_to_d or attack_class(self.name).budget == RESCALED

    @property
    def bounded(self) -> bool:
        """Every adversarial of this entry lies within its budget by construction (a projected attack
        measured in its own kind): the budget check holds it to that."""
        return not self.scaled

    @property
    def iterative(self) -> bool:
        """More than one gradient step: expected to be at least as strong as a single-step attack, and to
        drive the undefended model near 0 at its strongest setting."""
        return not attack_class(self.name).single_step

    def iterations(self, randomized_via: bool) -> int:
        """Gradient evaluations per image (the throughput's unit), from the attack's own rule."""
        return attack_class(self.name).iterations(self.params, randomized_via)

    @property
    def title(self) -> str:
        """``BIM``; a rescaled entry says so (``CW-L2, τ-scaled as in the paper``), so that a table never
        passes the paper's τ-scaled columns off as fixed-budget attacks at d."""
        cls = attack_class(self.name)
        title = cls.short_title + (" (at d)" if self.scale_to_d else "") + (TAU_SCALED if self.scaled else "")
        # the threats of retrained rows say which classifier the attacker had (Fig. 6 and Fig. 7)
        return title + (f" ({THREAT_TITLES[self.threat]})" if self.threat in RETRAINED_THREATS else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "attack": self.name,
            "params": self.params,
            "threat": self.threat,
            "source": self.source,
            "source_weights": self.source_weights,
            "strength": self.strength.kind if self.scale_to_d else None,
        }


@dataclass(frozen=True)
class DefenseEntry:
    """One defense with every parameter; ``group``/``knob`` place it on a frontier."""

    key: str
    name: str
    params: dict[str, Any]
    #: the value of its learned file (RegionSparse: its dictionary): None for the default, a name or a file
    file: str | None = None
    group: str = ""
    knob: str | None = None
    knob_value: float | None = None
    #: the classifier that judges this row and its weights file (None: the plan's classifier under test)
    classifier: str | None = None
    weights: str | None = None
    #: a title the plan gives the row (Table II's "RegionSparse + FGSM Adversarial"); "" derives one
    label: str = ""

    @property
    def own_model(self) -> bool:
        """Judged by a classifier of its own (a retrained model), not the plan's."""
        return self.classifier is not None or self.weights is not None

    @property
    def randomized(self) -> bool:
        """Whether repeated purifications of one input differ (its draws are seeded per row, EOT'd)."""
        return defense_class(self.name).randomized

    @property
    def identity(self) -> bool:
        """The undefended model's row."""
        return defense_class(self.name).identity

    @property
    def dictionary(self) -> str | None:
        """Its learned file where that is a RegionSparse dictionary (None: the bundled one, or none)."""
        return self.file if defense_class(self.name).needs_dictionary else None

    @property
    def knob_symbol(self) -> str | None:
        """The swept parameter's short symbol (``K``, ``q``), for a frontier's point labels."""
        if self.knob is None:
            return None
        return next((p.short for p in defense_class(self.name).PARAMS if p.name == self.knob), self.knob)

    @property
    def title(self) -> str:
        """``RegionSparse``; a sweep point ``RegionSparse k 4``; a named variant ``RegionSparse · noBS``."""
        if self.label:
            return self.label
        base = defense_class(self.name).short_title
        if self.knob is not None:
            return f"{base} {self.knob} {self.knob_value:g}"
        if self.key != self.name:
            return f"{base} · {self.key}"
        learned = defense_class(self.name).learned_file
        if learned is not None and self.file not in (None, learned.default_name):  # not the default file
            base += f" [{self.file if self.file in learned.names else Path(str(self.file)).stem}]"
        if self.own_model:
            base += f" · model {Path(self.weights).stem if self.weights else self.classifier}"
        return base

    def as_dict(self) -> dict[str, Any]:
        learned = defense_class(self.name).learned_file
        option = learned.option if learned is not None else DICTIONARY_OPTION  # plan.json's shape of old
        out = {"defense": self.name, "params": self.params, option: self.file}
        if self.knob is not None:  # one point of a sweep: plan.json keeps its place on the frontier
            out.update(group=self.group, knob=self.knob)
        if self.own_model:  # only then: a plan.json of before stays equal to today's
            out.update(classifier=self.classifier, classifier_weights=self.weights)
        if self.label:
            out["title"] = self.label
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
    #: of the attacks' gradient steps (:data:`rsdesk.core.models.precision.PRECISIONS`); verdicts stay fp32
    precision: str = "fp32"

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "protocol": self.protocol,
            "seed": self.seed,
            "quantize": self.quantize,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "attacks": {k: a.as_dict() for k, a in self.attacks.items()},
            "defenses": {k: d.as_dict() for k, d in self.defenses.items()},
            "experiments": [e.as_dict() for e in self.experiments],
        }

    @property
    def undefended(self) -> str:
        """The key of the no-defense entry judged by the plan's classifier (every parsed plan has one): the
        protocol's judge. An undefended row with a retrained model of its own is a defense, not the judge."""
        return next(k for k, d in self.defenses.items() if d.identity and not d.own_model)

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
