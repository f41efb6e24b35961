"""From results.csv to summary.json: accuracy per cell with 95 % Wilson intervals, the headline robust
accuracy (:mod:`.worst_case`: per defense and budget the worst case per image over every attack run, beside
clean accuracy on the same images), the robust-vs-clean frontiers, throughput, and the sanity checks a
defense evaluation owes its readers (:mod:`.checks`; Carlini et al. 2019, "On evaluating adversarial
robustness"; Athalye et al. 2018; Croce et al. 2022).

Everything here is recomputed from the rows alone, so a script (or the GUI) that reads results.csv can
check every number in the summary.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rsdesk.core.evaluation.checkkit import Cell, filled_cell, worst_key
from rsdesk.core.evaluation.checks import run_checks
from rsdesk.core.evaluation.intervals import wilson
from rsdesk.core.evaluation.masking import EFFORT
from rsdesk.core.evaluation.parsing import parse_plan
from rsdesk.core.evaluation.plan import Plan
from rsdesk.core.evaluation.rundir import RunDirectory
from rsdesk.core.evaluation.worst_case import headline, strength_of, worst_cases


def _cell(attack: str, strength: float, defense: str, n: int, k: int) -> dict[str, Any]:
    lo, hi = wilson(k, n)
    return {
        "attack": attack,
        "strength": strength,
        "defense": defense,
        "n": n,
        "correct": k,
        "accuracy": k / n if n else None,
        "ci_low": None if n == 0 else lo,
        "ci_high": None if n == 0 else hi,
    }


def cell_counts(rows: Iterable[Mapping[str, Any]]) -> dict[Cell, tuple[int, int]]:
    """(attack, strength, defense) → (n, correct) over the counted rows."""
    out: dict[Cell, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if int(r["counted"]):
            c = out[(str(r["attack"]), float(r["strength"]), str(r["defense"]))]
            c[0] += 1
            c[1] += int(r["correct"])
    return {k: (v[0], v[1]) for k, v in out.items()}


def attack_titles(plan: Plan) -> dict[str, str]:
    """Each attack entry's title, told apart where two of one threat and source share one (the same attack
    at more steps: ``BPDA·APGD-CE · 50 steps``), so a table never shows two columns of one name."""
    titles = {k: a.title for k, a in plan.attacks.items()}
    same: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    for k, a in plan.attacks.items():
        same[(titles[k], a.threat, a.source)].append(k)
    for keys in (v for v in same.values() if len(v) > 1):
        entries = [plan.attacks[k] for k in keys]
        # effort first (steps, restarts, queries), then the defense-aware backward pass
        differ = [p for p in (*EFFORT, "surrogate") if len({str(e.params.get(p)) for e in entries}) > 1]
        for k, e in zip(keys, entries):
            extra = ", ".join(f"{e.params.get(p)} {p}" for p in differ)
            titles[k] += f" · {extra}" if extra else f" [{k}]"
    return titles


def expected_rows(plan: Plan, rows: Sequence[Mapping[str, Any]], image_ids: Sequence[str]) -> tuple[int, int]:
    """(rows present, rows the plan asks for) given which images count."""
    counted_files = sorted({r["file"] for r in rows if int(r["counted"]) and float(r["strength"]) == 0})
    order = {f: i for i, f in enumerate(image_ids)}
    counted_files.sort(key=lambda f: order.get(f, 0))
    need = len(image_ids) * len(plan.defenses) * len(plan.attacks)
    for (_a, _s, _d), limit in plan.needed().items():
        need += len(counted_files) if limit is None else min(limit, len(counted_files))
    keys = {(r["file"], r["attack"], float(r["strength"]), r["defense"]) for r in rows}
    have = len(keys)
    return have, need


def throughput(plan: Plan, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Attacked image-iterations per second of attack time, over the adversarials crafted by this run."""
    first: dict[tuple, Mapping[str, Any]] = {}
    for r in rows:  # one row per adversarial: its defense rows repeat the same attack time
        a = plan.attacks.get(r["attack"])
        if a is not None and float(r["attack_seconds"]) > 0:
            via = r["defense"] if a.per_row else None
            first.setdefault((r["file"], r["attack"], float(r["strength"]), via), r)
    crafted: dict[tuple, tuple[int, float]] = {}
    for (f, akey, s, via), r in first.items():
        a = plan.attacks[akey]
        # every d of a scaled attack shares one crafted perturbation: its iterations count once
        key = (f, akey, via) if a.scaled else (f, akey, s, via)
        iters, secs = crafted.get(key, (int(r["iterations"]), 0.0))
        crafted[key] = (iters, secs + float(r["attack_seconds"]))
    iters = sum(v[0] for v in crafted.values())
    secs = sum(v[1] for v in crafted.values())
    return {
        "adversarials": len(crafted),
        "image_iterations": iters,
        "attack_seconds": round(secs, 2),
        "image_iterations_per_second": round(iters / secs, 2) if secs > 0 else None,
        # clean results are repeated once per attack: count each (file, defense) once
        "seconds_total": round(
            sum(float(r["seconds"]) for r in rows if float(r["strength"]) > 0)
            + sum(
                {
                    (r["file"], r["defense"]): float(r["seconds"]) for r in rows if float(r["strength"]) == 0
                }.values()
            ),
            1,
        ),
    }


def frontier(plan: Plan, cells: Mapping[Cell, dict[str, Any]], exp_name: str) -> dict[str, Any]:
    """The robust-vs-clean points of each defense group and, at matched clean accuracy, which is best."""
    e = next(x for x in plan.experiments if x.name == exp_name)
    assert e.frontier is not None
    akey, s = e.frontier
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in e.defenses:
        clean, robust = filled_cell(cells, akey, 0.0, d), filled_cell(cells, akey, s, d)
        if clean and robust:
            entry = plan.defenses[d]
            groups[entry.group].append(
                {
                    "defense": d,
                    "knob": entry.knob,
                    "value": entry.knob_value,
                    "clean": clean["accuracy"],
                    "robust": robust["accuracy"],
                    "robust_ci": [robust["ci_low"], robust["ci_high"]],
                }
            )
    matched = []
    none = plan.defenses[plan.undefended].group
    cleans = sorted({round(p["clean"], 2) for g, ps in groups.items() if g != none for p in ps})
    for level in [x for x in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9) if cleans and x <= cleans[-1]]:
        best: dict[str, dict[str, Any]] = {}
        for g, ps in groups.items():
            ok = [p for p in ps if p["clean"] >= level - 1e-9]
            if g != none and ok:
                best[g] = max(ok, key=lambda p: p["robust"])
        if not best:
            continue
        win = max(best, key=lambda g: best[g]["robust"])
        tied = [g for g in best if g != win and best[g]["robust_ci"][1] >= best[win]["robust"]]
        matched.append(
            {
                "clean_at_least": level,
                "best": win,
                "robust": best[win]["robust"],
                "defense": best[win]["defense"],
                "per_group": {g: p["robust"] for g, p in best.items()},
                "within_interval": tied,
            }
        )
    return {"attack": akey, "strength": s, "groups": dict(groups), "matched": matched}


def summarize(run_json: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """summary.json's contents, from plan.json's contents and the rows of results.csv."""
    plan = parse_plan(run_json["plan"])
    ids = [i["id"] for i in run_json["images"]]
    counts = cell_counts(rows)
    worst = worst_cases(plan, rows, ids)
    counts.update({(worst_key(kind), s, d): (w["n"], w["correct"]) for (kind, s, d), w in worst.items()})
    cells = {
        k: _cell(*k, *v) for k, v in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1]))
    }
    complete = expected_rows(plan, rows, ids)
    n_counted = len({r["file"] for r in rows if int(r["counted"])})
    titles = attack_titles(plan)
    attacks = {
        k: {
            "title": titles[k],
            "symbol": a.strength.symbol,
            "unit": a.strength.unit,
            "threat": a.threat,
            "source": a.source,
        }
        for k, a in plan.attacks.items()
    }
    for kind in dict.fromkeys(k for k, _s, _d in worst):
        st = strength_of(plan, kind)
        aware = any(w["aware"] for (k, _s, _d), w in worst.items() if k == kind)
        attacks[worst_key(kind)] = {
            "title": "worst case over the attacks run",
            "symbol": st.symbol,
            "unit": st.unit,
            "threat": "aware" if aware else "graybox",
            "source": None,
            "worst_case": True,  # a pseudo-attack: no adversarials of its own
        }
    return {
        "n_images": len(ids),
        "n_counted": n_counted,
        "protocol": plan.protocol,
        "protocol_text": (
            f"{n_counted} of {len(ids)} images: those the classifier gets right when clean"
            if plan.protocol == "correct-only"
            else f"all {len(ids)} images, right or wrong when clean"
        ),
        "classifier": run_json["classifier"]["title"],
        "complete": complete[0] >= complete[1],
        "attacks": attacks,
        "defenses": {
            k: {
                "title": d.title,
                "group": d.group,
                "identity": d.identity,
                "knob": d.knob,
                "knob_symbol": d.knob_symbol,
                "knob_value": d.knob_value,
            }
            for k, d in plan.defenses.items()
        },
        "experiments": [
            {
                **e.as_dict(),
                "attacks": list(e.strengths),
                "strengths": {k: list(v) for k, v in e.strengths.items()},
            }
            for e in plan.experiments
        ],
        # the headline: robust accuracy per defense, the worst case per image over every attack run
        "worst_case": headline(plan, worst),
        "cells": list(cells.values()),
        "checks": run_checks(plan, cells, rows, complete),
        "frontiers": {
            e.name: frontier(plan, cells, e.name) for e in plan.experiments if e.kind == "frontier"
        },
        "throughput": throughput(plan, rows),
    }


def write_summary(
    out: RunDirectory, run_json: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], figures: bool = True
) -> dict[str, Any]:
    """Write summary.json, summary.md and (``figures``) the PNGs; returns the summary."""
    from rsdesk.core.evaluation.figures import draw_figures
    from rsdesk.core.evaluation.report import markdown

    summary = summarize(run_json, rows)
    out.write_json("summary.json", _finite(summary))
    out.write_text("summary.md", markdown(summary))
    if figures:
        draw_figures(summary, out.figures_path)
    return summary


def _finite(obj: Any) -> Any:
    """NaN has no JSON spelling: empty cells are written as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def experiment_view(summary: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """What one experiment of a summary shows (its attacks with their strengths, its defenses); ``None`` or
    an unknown name: every experiment as one, each attack over all its strengths, in plan order."""
    chosen = [e for e in summary.get("experiments", []) if name is None or e.get("name") == name]
    if not chosen:
        chosen = list(summary.get("experiments", []))
    strengths: dict[str, list[float]] = {}
    defenses: list[str] = []
    for e in chosen:
        for a, values in e.get("strengths", {}).items():
            strengths[a] = sorted({*strengths.get(a, []), *map(float, values)})
        defenses += [d for d in e.get("defenses", []) if d not in defenses]
    return {"strengths": strengths, "defenses": defenses, "attacks": list(strengths)}
