"""The headline robust accuracy (summary.json's ``worst_case``), as AutoAttack reports it: per defense and
budget, the worst case per image over every attack run at that budget (:func:`worst_cases`), beside clean
accuracy on the same images, and per budget which defense holds up best (:func:`headline`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from rsdesk.core.attacks.base import Strength
from rsdesk.core.evaluation.checkkit import Cell, worst_key
from rsdesk.core.evaluation.intervals import wilson
from rsdesk.core.evaluation.plan import THREATS, Plan

#: the threat models the headline's worst case takes in (every attack run: transfer too, as the weakest
#: attacker an adaptive one could also be)
HEADLINE_THREATS = THREATS
HEADLINE_TEXT = (
    "Robust accuracy as AutoAttack reports it: per defense and budget, an image counts as robust only if the "
    "classifier gets it right through the defense when clean and under every attack run at that budget — "
    "gray-box, transfer, defense-aware (BPDA) and gradient-free (Square) alike; an adversarial outside its "
    "budget or [0, 1] does not count as a success. A budget where no defense-aware attack ran through a "
    "defense is marked: gray-box attacks never see the defense, so that number is only an upper bound."
)


def _ranks(rows: Sequence[Mapping[str, Any]], image_ids: Sequence[str] | None) -> dict[str, int]:
    """Each counted image's place among the counted images (an experiment's ``limit`` takes the first)."""
    counted = list(dict.fromkeys(str(r["file"]) for r in rows if int(r["counted"])))
    if image_ids is not None:
        order = {f: i for i, f in enumerate(image_ids)}
        counted.sort(key=lambda f: order.get(f, len(order)))
    return {f: i for i, f in enumerate(counted)}


def worst_cases(
    plan: Plan, rows: Sequence[Mapping[str, Any]], image_ids: Sequence[str] | None = None
) -> dict[tuple[str, float, str], dict[str, Any]]:
    """(strength kind, strength, defense) → the per-image worst case over every attack run at that budget
    (:data:`HEADLINE_TEXT`): ``n``, ``correct``, ``attacks`` (keys, plan order), ``aware`` (a defense-aware
    attack among them), ``clean`` ((n, correct) clean through the defense on the same images).

    An image counts once every attack the plan asks of it at that budget has its row (an experiment with a
    ``limit`` asks only the first counted images), so a run still going never counts a half-attacked image;
    an attack run beyond what the plan asks (a longer run on a subset) adds to the images it ran on."""
    asked: dict[tuple[str, float, str], dict[str, int | None]] = defaultdict(dict)
    for (a, s, d), limit in plan.needed().items():
        asked[(plan.attacks[a].strength.kind, s, d)][a] = limit
    clean: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)  # (file, defense) → attack → right
    fooled: dict[tuple[str, float, str], dict[str, dict[str, bool]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        a = str(r["attack"])
        entry = plan.attacks.get(a)
        if entry is None or entry.threat not in HEADLINE_THREATS or not int(r["counted"]):
            continue
        s, d, f = float(r["strength"]), str(r["defense"]), str(r["file"])
        if s == 0:
            clean[(f, d)][a] = bool(int(r["correct"]))
            continue
        valid = int(r["in_range"]) and (
            entry.bounded or float(r[entry.strength.measure]) <= s * (1 + 1e-6) + 1e-9
        )
        fooled[(entry.strength.kind, s, d)][f][a] = bool(valid) and not int(r["correct"])
    rank = _ranks(rows, image_ids)
    order = {k: i for i, k in enumerate(plan.attacks)}
    out = {}
    for key, files in fooled.items():
        limits = asked.get(key, {})
        n = correct = n_clean = k_clean = 0
        used: set[str] = set()
        for f, got in files.items():
            place = rank.get(f, len(rank))
            if any(a not in got for a, lim in limits.items() if lim is None or place < lim):
                continue  # an attack asked of this image has not run on it yet
            first_clean = next(
                (clean[(f, key[2])][a] for a in sorted(got, key=order.get) if a in clean[(f, key[2])]), None
            )
            if first_clean is None:
                continue  # no clean row through this defense: robust cannot be told from clean
            n += 1
            used |= got.keys()
            n_clean, k_clean = n_clean + 1, k_clean + first_clean
            correct += first_clean and not any(got.values())
        if n:
            attacks = sorted(used, key=order.get)
            out[key] = {
                "n": n,
                "correct": correct,
                "attacks": attacks,
                "aware": any(plan.attacks[a].threat == "aware" for a in attacks),
                "clean": (n_clean, k_clean),
            }
    return out


def worst_case(
    plan: Plan, rows: Sequence[Mapping[str, Any]], image_ids: Sequence[str] | None = None
) -> dict[Cell, tuple[int, int]]:
    """The worst cases of :func:`worst_cases` as cells: (``worst-case``/``worst-case-d`` …, strength,
    defense) → (n, correct), beside the attacks' own cells."""
    return {
        (worst_key(kind), s, d): (w["n"], w["correct"])
        for (kind, s, d), w in worst_cases(plan, rows, image_ids).items()
    }


def strength_of(plan: Plan, kind: str) -> Strength:
    return next(a.strength for a in plan.attacks.values() if a.strength.kind == kind)


def _interval_dict(n: int, k: int) -> dict[str, Any]:
    lo, hi = wilson(k, n)
    return {"n": n, "correct": k, "accuracy": k / n if n else None, "ci_low": lo, "ci_high": hi}


def headline(plan: Plan, worst: Mapping[tuple[str, float, str], Mapping[str, Any]]) -> dict[str, Any]:
    """summary.json's ``worst_case``: the headline robust accuracy per defense and budget beside its clean
    accuracy on the same images, the attacks it took in, and per budget which defense holds up best."""
    kinds = list(dict.fromkeys(a.strength.kind for a in plan.attacks.values()))
    budgets = sorted({(k, s) for k, s, _d in worst}, key=lambda b: (kinds.index(b[0]), b[1]))
    columns = []
    for kind, s in budgets:
        st = strength_of(plan, kind)
        at = [w for (k, ss, _d), w in worst.items() if (k, ss) == (kind, s)]
        columns.append(
            {
                "kind": kind,
                "strength": s,
                "key": worst_key(kind),
                "label": st.format(s),
                "symbol": st.symbol,
                "unit": st.unit,
                "attacks": [a for a in plan.attacks if any(a in w["attacks"] for w in at)],
            }
        )
    defenses = []
    for dkey, entry in plan.defenses.items():
        mine = {(k, s): w for (k, s, d), w in worst.items() if d == dkey}
        if not mine:
            continue
        cells = []
        for kind, s in budgets:
            w = mine.get((kind, s))
            if w is None:
                continue
            cells.append(
                {
                    "kind": kind,
                    "strength": s,
                    **_interval_dict(w["n"], w["correct"]),
                    "clean": _interval_dict(*w["clean"]),
                    "attacks": list(w["attacks"]),
                    # through the undefended model a gray-box attack is white-box
                    "adaptive": bool(w["aware"] or entry.identity),
                }
            )
        widest = max(mine.values(), key=lambda w: w["clean"][0])
        defenses.append(
            {
                "defense": dkey,
                "title": entry.title,
                "identity": entry.identity,
                "knob": entry.knob,
                "clean": _interval_dict(*widest["clean"]),
                "budgets": cells,
            }
        )
    return {
        "what": HEADLINE_TEXT,
        "threats": list(HEADLINE_THREATS),
        "columns": columns,
        "defenses": defenses,
        "verdicts": _verdicts(columns, defenses),
    }


def _verdicts(
    columns: Sequence[Mapping[str, Any]], defenses: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per budget: the defense with the highest worst-case accuracy, those within its interval, and whether
    it beats the undefended model beyond the interval (sweep points left to their frontier)."""
    out = []
    for col in columns:
        at = {}
        for d in defenses:
            c = next(
                (c for c in d["budgets"] if (c["kind"], c["strength"]) == (col["kind"], col["strength"])),
                None,
            )
            if c is not None and d["knob"] is None:
                at[d["defense"]] = (d, c)
        rivals = {k: v for k, v in at.items() if not v[0]["identity"]}
        if not rivals:
            continue
        best = max(rivals, key=lambda k: rivals[k][1]["accuracy"])
        bd, bc = rivals[best]
        bare = next((c for d, c in at.values() if d["identity"]), None)
        out.append(
            {
                "kind": col["kind"],
                "strength": col["strength"],
                "label": col["label"],
                "best": best,
                "title": bd["title"],
                "accuracy": bc["accuracy"],
                "ci_low": bc["ci_low"],
                "ci_high": bc["ci_high"],
                "clean": bc["clean"]["accuracy"],
                "adaptive": bc["adaptive"],
                "within_interval": [
                    k for k, (_d, c) in rivals.items() if k != best and c["ci_high"] >= bc["accuracy"] - 1e-12
                ],
                "beats_undefended": None if bare is None else bool(bc["ci_low"] > bare["ci_high"] + 1e-12),
            }
        )
    return out
