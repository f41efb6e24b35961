"""The checks the adaptive-attack literature asks of any defense evaluation (Carlini et al. 2019, "On
evaluating adversarial robustness"; Athalye et al. 2018; AutoAttack's own checks), run on a run's cells and
rows. A failed check is reported with what failed, never hidden; a check with nothing to look at says so.

One function per check, each returning a :class:`~.checkkit.Check`; :data:`CHECKS` lists them in the order a
summary shows them, the checks that catch gradient masking (:mod:`.masking`) among them. What an attack *is*
(single-step or iterative, its strength kind, whether its budget holds by construction) comes from its
traits, never from its name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from rsdesk.core.evaluation.checkkit import (
    Cells,
    Check,
    Rows,
    RunView,
    above,
    filled_cell,
    gradient_free,
    is_worst,
)
from rsdesk.core.evaluation.masking import (
    aware_accuracy_falls_toward_zero,
    gradient_free_not_stronger,
    more_iterations_do_not_help,
)
from rsdesk.core.evaluation.plan import Plan

#: the undefended model must fall to at most this accuracy at an iterative attack's strongest setting
NEAR_ZERO = 0.10


def accuracy_falls_with_strength(run: RunView) -> Check:
    """Accuracy does not rise with attack strength (beyond the interval), for the attacks that are attacks at
    their strengths: a rescaled entry (the paper's τ-scaled CW-L2, MI-FGSM at d) stretches one perturbation
    to each d, so its d is not a budget and its curve may rise; the detail names the entries left out."""
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    exempt = _rescaled(run.plan)
    for (a, _s, d), c in run.cells.items():
        if c["n"] and not is_worst(a) and a not in exempt:
            series[(a, d)].append(c)
    fails = []
    for (a, d), cs in series.items():
        cs.sort(key=lambda c: c["strength"])
        for i, weak in enumerate(cs):
            for strong in cs[i + 1 :]:
                if above(strong, weak):
                    fails.append(
                        f"{a} through {d}: {100 * strong['accuracy']:.0f}% at {strong['strength']:g} "
                        f"above {weak['strength']:g}'s interval (≤ {100 * weak['ci_high']:.0f}%)"
                    )
    return Check(
        "accuracy does not rise with attack strength",
        tuple(fails),
        any(len(v) > 1 for v in series.values()),
        "every series falls or stays within its interval" + _exempt_note(exempt),
    )


def _rescaled(plan: Plan) -> list[str]:
    """The entries whose strength is reached by rescaling one perturbation, not bounded by it."""
    return [k for k, a in plan.attacks.items() if a.scaled]


def _exempt_note(keys: list[str]) -> str:
    return f" (not held to it: {', '.join(keys)}, τ-scaled, whose d is not a budget)" if keys else ""


def _graybox_bounded(plan: Plan) -> dict[str, Any]:
    """Gray-box attacks whose adversarials lie within their own budget (not rescaled)."""
    return {k: a for k, a in plan.attacks.items() if a.threat == "graybox" and a.bounded}


def iterative_beats_single_step(run: RunView) -> Check:
    """Iterative attacks at least as strong as a single-step one of the same strength kind (undefended)."""
    plan, cells, none = run.plan, run.cells, run.plan.undefended
    graybox = _graybox_bounded(plan)
    single = [k for k, a in graybox.items() if not a.iterative]
    iterative = [k for k, a in graybox.items() if a.iterative]
    fails, compared = [], 0
    for f in single:
        for it in iterative:
            if graybox[f].strength.kind != graybox[it].strength.kind:
                continue
            for (a, s, d), c in cells.items():
                if a == it and d == none and s > 0 and (ref := filled_cell(cells, f, s, none)):
                    compared += 1
                    if c["n"] and above(c, ref):
                        title = graybox[f].title
                        fails.append(
                            f"{it} {s:g}: {100 * c['accuracy']:.0f}% vs {title} {100 * ref['accuracy']:.0f}%"
                        )
    return Check(
        "iterative attacks are at least as strong as FGSM (undefended model)",
        tuple(fails),
        compared > 0,
        f"{compared} comparisons",
    )


def strongest_setting_near_zero(run: RunView) -> Check:
    """The strongest setting of each iterative gradient attack, not transferred, drives the undefended model
    near 0 (gradient-free Square, a few hundred queries, is held to the gradient attacks instead)."""
    fails, seen = [], 0
    none = run.plan.undefended
    exempt = [k for k in _rescaled(run.plan) if run.plan.attacks[k].iterative]
    for k, a in run.plan.attacks.items():
        if a.threat == "transfer" or not a.iterative or gradient_free(a) or a.scaled:
            continue  # transferred, single-step, query-budgeted or τ-scaled: not expected to reach 0
        top = [c for (ak, s, d), c in run.cells.items() if ak == k and d == none and s > 0 and c["n"]]
        if top:
            seen += 1
            c = max(top, key=lambda c: c["strength"])
            if c["accuracy"] > NEAR_ZERO:
                fails.append(
                    f"{k} at {c['strength']:g}: undefended accuracy {100 * c['accuracy']:.0f}% "
                    f"(> {100 * NEAR_ZERO:.0f}%)"
                )
    return Check(
        "the strongest setting of each iterative attack drives the undefended model to "
        f"≤ {100 * NEAR_ZERO:.0f}%",
        tuple(fails),
        seen > 0,
        f"{seen} attacks" + _exempt_note(exempt),
    )


def aware_not_above_graybox(run: RunView) -> Check:
    """The defense-aware gradient attack's accuracy is not above the best gray-box attack's of the same kind
    (a gradient-free one, with its query budget, is held to the gradient attacks instead)."""
    plan, cells = run.plan, run.cells
    graybox = _graybox_bounded(plan)
    fails, compared = [], 0
    for k, a in plan.attacks.items():
        if a.threat != "aware" or gradient_free(a):
            continue
        same_kind = [g for g, ga in graybox.items() if ga.strength.kind == a.strength.kind]
        for (ak, s, d), c in cells.items():
            if ak != k or s == 0 or not c["n"]:
                continue
            refs = [r for g in same_kind if (r := filled_cell(cells, g, s, d))]
            if not refs:
                continue
            compared += 1
            ref = min(refs, key=lambda r: r["accuracy"])
            if above(c, ref):
                fails.append(
                    f"{k} through {d} at {s:g}: {100 * c['accuracy']:.0f}% above gray-box "
                    f"{ref['attack']} {100 * ref['accuracy']:.0f}%"
                )
    return Check(
        "defense-aware (BPDA) accuracy is not above gray-box accuracy",
        tuple(fails),
        compared > 0,
        f"{compared} comparisons",
    )


def adversarials_within_budget(run: RunView) -> Check:
    """Every adversarial in [0, 1] and finite; a bounded attack's within its budget (its kind's measure)."""
    plan = run.plan
    n_adv = 0
    bad: dict[str, int] = defaultdict(int)
    for r in run.rows:
        s = float(r["strength"])
        if s == 0 or r["attack"] not in plan.attacks:
            continue
        n_adv += 1
        entry = plan.attacks[r["attack"]]
        if not int(r["in_range"]):
            bad[f"{r['attack']} {s:g}: outside [0, 1] or not finite"] += 1
        if entry.bounded:
            strength = entry.strength
            # rounding to 8 bits may move a pixel by half a level (only L∞ in /255 is bounded per pixel)
            slack = 0.5 if plan.quantize and strength.norm == "linf" else 1e-3
            measured = float(r[strength.measure])
            if measured > s * (1 + 1e-6) + (slack if strength.norm == "linf" else 1e-6):
                bad[f"{r['attack']} {s:g}: {strength.symbol} {measured:.4g} beyond the budget"] += 1
    return Check(
        "adversarials lie in their ε-ball, in [0, 1], without NaN",
        tuple(f"{k} ({v} rows)" for k, v in bad.items()),
        n_adv > 0,
        f"{n_adv} adversarial rows",
    )


def clean_beside_robust(run: RunView) -> Check:
    """Clean accuracy through each defense reported beside its robust accuracy."""
    plan, cells = run.plan, run.cells
    fails, parts = [], []
    for e in plan.experiments:
        for d in e.defenses:
            for a in e.strengths:
                clean = filled_cell(cells, a, 0.0, d)
                if clean is None and any(filled_cell(cells, a, s, d) for s in e.strengths[a]):
                    fails.append(f"{d} has robust results under {a} but no clean accuracy")
    for d in plan.defenses:
        c = next((c for (a, s, dd), c in cells.items() if dd == d and s == 0 and c["n"]), None)
        if c:
            parts.append(f"{d} {100 * c['accuracy']:.0f}%")
    return Check(
        "clean accuracy of every defense is reported beside its robust accuracy",
        tuple(fails),
        bool(parts),
        "clean: " + ", ".join(parts),
    )


def run_complete(run: RunView) -> Check:
    """Every row the plan asks for is present."""
    have, need = run.complete
    return Check(
        "the run is complete",
        () if have >= need else (f"{have} of {need} results; run the same command again to resume",),
        need > 0,
        f"{have} results",
    )


#: Every check, in the order a summary lists them.
CHECKS: tuple[Callable[[RunView], Check], ...] = (
    accuracy_falls_with_strength,
    iterative_beats_single_step,
    strongest_setting_near_zero,
    aware_not_above_graybox,
    gradient_free_not_stronger,
    more_iterations_do_not_help,
    aware_accuracy_falls_toward_zero,
    adversarials_within_budget,
    clean_beside_robust,
    run_complete,
)


def run_checks(plan: Plan, cells: Cells, rows: Rows, complete: tuple[int, int]) -> list[dict[str, Any]]:
    """Every check as {"name", "ok", "detail"}; ok is None where the run holds nothing to check."""
    run = RunView(plan, cells, rows, complete)
    return [check(run).as_dict() for check in CHECKS]
