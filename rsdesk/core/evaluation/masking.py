"""The checks that catch gradient masking (Carlini et al. 2019; Athalye et al. 2018; Croce et al. 2022): a
gradient-free attack stronger than the gradient attacks, more iterations helping the defense, and a
defense-aware accuracy that does not fall toward 0 as the budget grows. Each says the gradients an attack
followed do not lead where the defense is weak, so the defense's numbers overstate it.

One function per check, each returning a :class:`~.checkkit.Check`; :data:`.checks.CHECKS` lists them
among the others.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from rsdesk.core.attacks.base import ABSOLUTE_L2, LINF, RELATIVE_L2
from rsdesk.core.evaluation.checkkit import Check, RunView, above, filled_cell, gradient_free
from rsdesk.core.evaluation.intervals import wilson
from rsdesk.core.evaluation.plan import AttackEntry, Plan

#: the parameters that make one attack entry longer than another of the same attack (more gradient steps,
#: restarts or queries); a pair of entries that differ only in these, by at least :data:`LONGER` times in
#: all, is held to "more iterations never help the defense"
EFFORT = ("steps", "restarts", "queries")
LONGER = 2.0
#: at its largest budget a defense-aware gradient attack must leave at most this share of the defense's
#: clean accuracy (beyond the interval: the robust cell's lower 95 % bound above it fails) …
AWARE_SHARE_OF_CLEAN = 0.5
#: … where that budget is at least this large for its strength kind: L∞ 8/255 and d 0.02 (‖δ‖₂ ≈ 3–4 at
#: 224², beyond the ε 4/255 and L2 3.0 that undefended and even adversarially trained ImageNet models
#: fall far below half their clean accuracy at); a kind not listed, or a smaller largest budget, is not
#: held to it (the "not rising" half still applies)
LARGE_BUDGET: dict[str, float] = {LINF.kind: 8.0, RELATIVE_L2.kind: 0.02, ABSOLUTE_L2.kind: 3.0}


def _pc(x: float) -> str:
    return f"{100 * x:.0f}%"


def _budget(plan: Plan, akey: str, s: float) -> str:
    """``ε 8/255``, ``d 0.01``: a strength as its attack's kind writes it."""
    return plan.attacks[akey].strength.format(s)


def _defense_title(plan: Plan, d: str) -> str:
    entry = plan.defenses.get(d)
    return entry.title if entry is not None else d


def gradient_free_not_stronger(run: RunView) -> Check:
    """A gradient-free attack is not stronger than the gradient attacks (Carlini et al. 2019; Croce et al.
    2022): where Square, which only queries the defended pipeline, fools more images than the best gradient
    or BPDA attack at the same budget, those gradients are masked and their numbers overstate the defense.

    Per defense and budget (strength kind and value): the gradient-free attack's accuracy against the best
    (lowest-accuracy) gradient attack's, gray-box or defense-aware, transfer left out, on the images both
    ran; below that attack's 95 % Wilson interval fails. Through a defense, the comparison needs a
    defense-aware gradient attack among them (Square beating only gray-box attacks, which never see the
    defense, says it adapts, not that gradients are masked); for the undefended model gray-box is white-box.
    """
    plan, cells = run.plan, run.cells
    free = {k: a for k, a in plan.attacks.items() if a.threat != "transfer" and gradient_free(a)}
    grads = {k: a for k, a in plan.attacks.items() if a.threat != "transfer" and not gradient_free(a)}
    fails, compared = [], 0
    for g, ga in free.items():
        same_kind = [k for k, a in grads.items() if a.strength.kind == ga.strength.kind]
        for (ak, s, d), c in sorted(cells.items()):
            if ak != g or s == 0 or not c["n"] or d not in plan.defenses:
                continue
            refs = [k for k in same_kind if filled_cell(cells, k, s, d)]
            if not plan.defenses[d].identity and not any(grads[k].threat == "aware" for k in refs):
                continue
            paired = [(k, *run.shared((g, s, d), (k, s, d))) for k in refs]
            paired = [p for p in paired if p[1]]
            if not paired:
                continue
            compared += 1
            best, n, k_free, k_best = min(paired, key=lambda p: p[3] / p[1])
            lo, hi = wilson(k_best, n)
            if k_free / n < lo - 1e-12:
                fails.append(
                    f"gradient masking suspected: {_defense_title(plan, d)} at {_budget(plan, g, s)}: "
                    f"{g} {_pc(k_free / n)} below {best} {_pc(k_best / n)} (95 % interval "
                    f"{_pc(lo)}–{_pc(hi)}) on the {n} images both ran"
                )
    return Check(
        "a gradient-free attack is not stronger than the gradient attacks (else gradient masking)",
        tuple(fails),
        compared > 0,
        f"{compared} comparisons (defense × budget)",
    )


def _effort(entry: AttackEntry) -> float:
    return math.prod(float(entry.params.get(p) or 1) for p in EFFORT if p in entry.params)


def longer_pairs(plan: Plan) -> list[tuple[str, str]]:
    """(shorter, longer): entries of the same attack under the same threat and source whose parameters
    differ only in :data:`EFFORT`, each at least the shorter's, by at least :data:`LONGER` times in all."""
    pairs = []
    for sk, sa in plan.attacks.items():
        for lk, la in plan.attacks.items():
            if sk == lk or (sa.name, sa.threat, sa.source, sa.scale_to_d) != (
                la.name,
                la.threat,
                la.source,
                la.scale_to_d,
            ):
                continue
            rest = {p: v for p, v in sa.params.items() if p not in EFFORT}
            if rest != {p: v for p, v in la.params.items() if p not in EFFORT}:
                continue
            each = all(float(la.params.get(p) or 1) >= float(sa.params.get(p) or 1) for p in EFFORT)
            if each and _effort(la) >= LONGER * _effort(sa):
                pairs.append((sk, lk))
    return pairs


def more_iterations_do_not_help(run: RunView) -> Check:
    """More iterations never help the defense (Carlini et al. 2019; Croce et al. 2022): an attack run with at
    least twice the steps (restarts, queries) must not leave the defense more accurate than the shorter run,
    else the attack has not converged, or its gradients are noise (randomness, masking).

    Per pair (shorter, longer, :func:`longer_pairs`), defense and budget, on the images both ran: the
    longer's accuracy above the shorter's 95 % Wilson interval fails."""
    plan, cells = run.plan, run.cells
    fails, compared = [], 0
    for short, long in longer_pairs(plan):
        for (ak, s, d), c in sorted(cells.items()):
            if ak != long or s == 0 or not c["n"] or not filled_cell(cells, short, s, d):
                continue
            n, k_long, k_short = run.shared((long, s, d), (short, s, d))
            if not n:
                continue
            compared += 1
            lo, hi = wilson(k_short, n)
            if k_long / n > hi + 1e-12:
                fails.append(
                    f"{_defense_title(plan, d)} at {_budget(plan, long, s)}: {long} "
                    f"({_effort(plan.attacks[long]):g}) {_pc(k_long / n)} above {short} "
                    f"({_effort(plan.attacks[short]):g}) {_pc(k_short / n)} (95 % interval "
                    f"{_pc(lo)}–{_pc(hi)}) on the {n} images both ran"
                )
    return Check(
        "more iterations never help the defense (a longer run is at least as strong)",
        tuple(fails),
        compared > 0,
        f"{compared} comparisons (defense × budget)",
    )


def aware_accuracy_falls_toward_zero(run: RunView) -> Check:
    """The defense-aware accuracy falls toward 0 as ε grows (Carlini et al. 2019; Athalye et al. 2018): an
    attack that sees the defense and may move every pixel far enough wins eventually; one that does not has
    not found the defense's gradient (wrong surrogate, masking, too few steps).

    Per defense-aware gradient attack and defense over its strengths: accuracy not rising beyond the
    interval; and at its largest budget, where that is at least :data:`LARGE_BUDGET` for its kind, accuracy
    at most :data:`AWARE_SHARE_OF_CLEAN` of the defense's clean accuracy (the robust cell's lower 95 % bound
    above it fails). What it can prove: an attack that leaves half the clean accuracy standing at such a
    budget is not a trustworthy upper bound. What it cannot: that passing attacks are strong enough (a
    defense at 40 % of clean may still fall to a better attack), or that a genuinely robust defense is not
    flagged (a real robustness claim must then be argued with stronger attacks). Gradient-free attacks are
    held by :func:`gradient_free_not_stronger` instead: a few hundred queries are not expected to reach 0.
    """
    plan, cells = run.plan, run.cells
    fails, seen = [], 0
    for k, a in plan.attacks.items():
        if a.threat != "aware" or gradient_free(a):
            continue
        series: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (ak, s, d), c in cells.items():
            if ak == k and s > 0 and c["n"]:
                series[d].append(c)
        for d, cs in series.items():
            seen += 1
            cs.sort(key=lambda c: c["strength"])
            name = _defense_title(plan, d)
            for i, weak in enumerate(cs):
                for strong in cs[i + 1 :]:
                    if above(strong, weak):
                        fails.append(
                            f"{k} through {name}: {_pc(strong['accuracy'])} at "
                            f"{_budget(plan, k, strong['strength'])} above "
                            f"{_budget(plan, k, weak['strength'])}'s interval (≤ {_pc(weak['ci_high'])})"
                        )
            top, clean = cs[-1], filled_cell(cells, k, 0.0, d)
            floor = LARGE_BUDGET.get(a.strength.kind)
            if clean is None or floor is None or top["strength"] < floor - 1e-12:
                continue
            if top["ci_low"] > AWARE_SHARE_OF_CLEAN * clean["accuracy"] + 1e-12:
                fails.append(
                    f"{k} through {name} at {_budget(plan, k, top['strength'])}: {_pc(top['accuracy'])} "
                    f"(95 % interval from {_pc(top['ci_low'])}) of clean {_pc(clean['accuracy'])}: more than "
                    f"{AWARE_SHARE_OF_CLEAN:.0%} of clean left at the largest budget"
                )
    return Check(
        "the defense-aware accuracy falls toward 0 as ε grows (at the largest budget "
        f"≤ {AWARE_SHARE_OF_CLEAN:.0%} of clean)",
        tuple(fails),
        seen > 0,
        f"{seen} series (attack × defense)",
    )
