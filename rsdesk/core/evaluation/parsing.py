"""A plan's JSON (a file, a preset, or what the builder made of the command line's or the form's choices)
checked into the entries of :mod:`rsdesk.core.evaluation.plan`; the first problem is a :class:`PlanError`
that names the entry. Parameters are checked against each method's specs without building it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rsdesk.core.attacks import ATTACKS, attack_class
from rsdesk.core.attacks.base import RELATIVE_L2, RESCALED
from rsdesk.core.attacks.surrogate import resolve_surrogate
from rsdesk.core.defenses import DEFENSES, defense_class, learned_file_value
from rsdesk.core.evaluation.plan import (
    KINDS,
    PLAN_FORMAT,
    PROTOCOLS,
    THREATS,
    AttackEntry,
    DefenseEntry,
    Experiment,
    Plan,
    PlanError,
)
from rsdesk.core.models.precision import DEFAULT_PRECISION, PRECISIONS
from rsdesk.core.models.registry import classifier_spec
from rsdesk.core.models.weights import card_classifier
from rsdesk.core.params import resolve_params

T = TypeVar("T")


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
    top = spec.maximum
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise PlanError(f"{where}: strength {v!r} is not a number") from None
        if not 0 < f <= top:
            raise PlanError(f"{where}: {entry.key} takes {spec.meaning} within (0, {top:g}], got {f:g}")
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
        aware = ", ".join(n for n, c in ATTACKS.items() if c.defense_aware)
        raise PlanError(f"{where}: only a defense-aware attack ({aware}) runs under the 'aware' threat model")
    if threat == "transfer" and not spec.get("source"):
        raise PlanError(f"{where}: a transfer attack needs a source classifier")
    if threat != "transfer" and spec.get("source"):
        raise PlanError(f"{where}: only a transfer attack has a source classifier (threat {threat!r})")
    # "strength": "d" measures a projected attack of another kind in d (its perturbation rescaled to each d)
    measured = spec.get("strength")
    own = {None, cls.strength.param, cls.strength.kind}
    if measured not in own and (measured != RELATIVE_L2.kind or cls.budget == RESCALED):
        raise PlanError(f"{where}: strength must be {RELATIVE_L2.kind!r} or {cls.strength.kind!r}")
    scale = measured not in own
    if cls.budget == RESCALED and cls.strength.kind != RELATIVE_L2.kind:
        raise PlanError(f"{where}: a rescaled attack is measured in d, not {cls.strength.kind}")
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
    learned = cls.learned_file
    file = _checked(where, learned_file_value, cls.name, spec)
    if learned is not None and file is not None and file not in learned.names and not Path(file).is_file():
        choices = ", ".join(learned.names)
        raise PlanError(f"{where}: {learned.title} {file!r} is neither a file nor one of {choices}")
    classifier, weights = _row_model(where, spec)
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
                file=file,
                group=str(spec.get("group") or key),
                knob=knob,
                knob_value=None if knob is None else float(resolved[knob]),
                classifier=classifier,
                weights=weights,
                label=str(spec.get("title") or ""),
            )
        )
    return out


def _row_model(where: str, spec: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The classifier that judges a row (a retrained model): its name (from the entry, else the card
    ``rsdesk finetune`` wrote beside the weights, else None: the plan's) and its weights file."""
    weights = spec.get("classifier_weights")  # not "weights": a learned defense may call its file so
    classifier = spec.get("classifier")
    if spec.get("retrained") and weights is None:
        raise PlanError(f"{where}: the row is judged by a retrained model: give its file (--model ROW=FILE)")
    if weights is not None:
        if not isinstance(weights, str) or not Path(weights).expanduser().is_file():
            raise PlanError(f"{where}: its classifier's weights {weights!r} are not a file")
        classifier = classifier or card_classifier(weights)
    if classifier is not None:
        _checked(where, classifier_spec, str(classifier))
    return (None if classifier is None else str(classifier)), weights


def parse_plan(data: Mapping[str, Any]) -> Plan:
    """Check a plan's JSON and build its entries; the first problem found is a :class:`PlanError`."""
    if not isinstance(data, Mapping):
        raise PlanError("a plan is a JSON object with attacks, defenses and experiments")
    fmt = data.get("format", 1)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise PlanError(f"format must be a whole number ≥ 1, got {fmt!r}")
    if fmt > PLAN_FORMAT:
        raise PlanError(
            f"the plan is in format {fmt}, written by a newer RSDesk; this one reads format {PLAN_FORMAT}"
        )
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
    if not any(d.identity and not d.own_model for d in defenses.values()):
        # the undefended model is every table's reference row and the protocol's judge (an undefended row
        # with a retrained model of its own is a defense at training time, not the reference)
        none = next(n for n, cls in DEFENSES.items() if cls.identity)
        if none in defenses:
            raise PlanError(
                f"defense {none!r} is the undefended reference row: it takes no classifier of its own"
            )
        defenses = {none: DefenseEntry(none, none, {}, group=none), **defenses}
        groups[none] = [none]
    undefended = next(k for k, d in defenses.items() if d.identity and not d.own_model)
    experiments = [
        _experiment(e, attacks, groups, undefended, defenses) for e in data.get("experiments") or []
    ]
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
    precision = str(data.get("precision", DEFAULT_PRECISION))  # plans before it: fp32
    if precision not in PRECISIONS:
        raise PlanError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    quantize = bool(data.get("quantize", False))
    return Plan(attacks, defenses, experiments, protocol, seed, quantize, batch, precision)


def _check_surrogates(where: str, attacks: list[AttackEntry], defenses: list[DefenseEntry]) -> None:
    """A defense-aware attack that asks for a surrogate a defense of its experiment does not offer (``linear``
    through JPEG) is refused before anything runs; ``auto`` always resolves."""
    for a in attacks:
        requested = a.params.get("surrogate")
        if a.threat != "aware" or requested is None:
            continue
        for d in defenses:
            cls = defense_class(d.name)
            try:
                resolve_surrogate(str(requested), cls.surrogates, cls.title)
            except ValueError as exc:
                raise PlanError(f"{where}: attack {a.key!r}: {exc}") from None


def _experiment(
    spec: Mapping[str, Any],
    attacks: dict[str, AttackEntry],
    groups: dict[str, list[str]],
    undefended: str,
    defenses: dict[str, DefenseEntry],
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
    dkeys: list[str] = [undefended] if undefended in groups else []
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
    _check_surrogates(where, [attacks[a] for a in strengths], [defenses[k] for k in dkeys])
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
