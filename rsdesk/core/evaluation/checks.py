"""The checks the adaptive-attack literature asks of any defense evaluation (Carlini et al. 2019, "On
evaluating adversarial robustness"; Athalye et al. 2018; AutoAttack's own checks), run on a run's cells and
rows. A failed check is reported with what failed, never hidden; a check with nothing to look at says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from rsdesk.core.evaluation.plan import Plan

#: the undefended model must fall to at most this accuracy at an iterative attack's strongest setting
NEAR_ZERO = 0.10
#: (attack key, strength, defense key)
Cell = tuple[str, float, str]
#: the pseudo-attack that holds, per image, the worst case over every attack run at one L∞ strength
WORST = "worst-case"


def filled_cell(cells: Mapping[Cell, dict[str, Any]], a: str, s: float, d: str) -> dict[str, Any] | None:
    """The cell (attack, strength, defense) if it holds at least one counted image, else None."""
    c = cells.get((a, s, d))
    return c if c and c["n"] else None


def run_checks(
    plan: Plan,
    cells: Mapping[Cell, dict[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    complete: tuple[int, int],
) -> list[dict[str, Any]]:
    """Every check as {"name", "ok", "detail"}; ok is None where the run holds nothing to check."""
    checks = []
    none = plan.undefended

    def check(name: str, failures: list[str], applicable: bool, passed: str) -> None:
        ok = (not failures) if applicable else None
        detail = "; ".join(failures[:8]) + (f"; … {len(failures) - 8} more" if len(failures) > 8 else "")
        checks.append(
            {
                "name": name,
                "ok": ok,
                "detail": detail if failures else passed if applicable else "nothing to check in this run",
            }
        )

    # 1. accuracy does not rise with attack strength (beyond the interval)
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (a, _s, d), c in cells.items():
        if c["n"] and a != WORST:
            series[(a, d)].append(c)
    fails = []
    for (a, d), cs in series.items():
        cs.sort(key=lambda c: c["strength"])
        for i, weak in enumerate(cs):
            for strong in cs[i + 1 :]:
                if strong["accuracy"] > weak["ci_high"] + 1e-12:
                    fails.append(
                        f"{a} through {d}: {100 * strong['accuracy']:.0f}% at {strong['strength']:g} "
                        f"above {weak['strength']:g}'s interval (≤ {100 * weak['ci_high']:.0f}%)"
                    )
    check(
        "accuracy does not rise with attack strength",
        fails,
        any(len(v) > 1 for v in series.values()),
        "every series falls or stays within its interval",
    )

    # 2. iterative attacks at least as strong as FGSM on the model they attack
    graybox = {k: a for k, a in plan.attacks.items() if a.threat == "graybox" and not a.scale_to_d}
    fgsm = [k for k, a in graybox.items() if a.name == "fgsm"]
    iterative = [k for k, a in graybox.items() if a.name in ("bim", "mifgsm")]
    fails, compared = [], 0
    for f in fgsm:
        for it in iterative:
            for (a, s, d), c in cells.items():
                if a == it and d == none and s > 0 and (ref := filled_cell(cells, f, s, none)):
                    compared += 1
                    if c["n"] and c["accuracy"] > ref["ci_high"] + 1e-12:
                        fails.append(
                            f"{it} {s:g}: {100 * c['accuracy']:.0f}% vs FGSM {100 * ref['accuracy']:.0f}%"
                        )
    check(
        "iterative attacks are at least as strong as FGSM (undefended model)",
        fails,
        compared > 0,
        f"{compared} comparisons",
    )

    # 3. the strongest setting drives the undefended model near 0
    fails, seen = [], 0
    for k, a in plan.attacks.items():
        if a.threat == "transfer" or a.name == "fgsm":
            continue  # a transferred or single-step attack is not expected to reach 0
        top = [c for (ak, s, d), c in cells.items() if ak == k and d == none and s > 0 and c["n"]]
        if top:
            seen += 1
            c = max(top, key=lambda c: c["strength"])
            if c["accuracy"] > NEAR_ZERO:
                fails.append(
                    f"{k} at {c['strength']:g}: undefended accuracy {100 * c['accuracy']:.0f}% "
                    f"(> {100 * NEAR_ZERO:.0f}%)"
                )
    check(
        "the strongest setting of each iterative attack drives the undefended model to "
        f"≤ {100 * NEAR_ZERO:.0f}%",
        fails,
        seen > 0,
        f"{seen} attacks",
    )

    # 4. defense-aware accuracy not above gray-box accuracy
    fails, compared = [], 0
    for k, a in plan.attacks.items():
        if a.threat != "aware":
            continue
        for (ak, s, d), c in cells.items():
            if ak != k or s == 0 or not c["n"]:
                continue
            linf = [g for g in graybox if plan.attacks[g].strength.param == "eps"]
            refs = [r for g in linf if (r := filled_cell(cells, g, s, d))]
            if not refs:
                continue
            compared += 1
            ref = min(refs, key=lambda r: r["accuracy"])
            if c["accuracy"] > ref["ci_high"] + 1e-12:
                fails.append(
                    f"{k} through {d} at {s:g}: {100 * c['accuracy']:.0f}% above gray-box "
                    f"{ref['attack']} {100 * ref['accuracy']:.0f}%"
                )
    check(
        "defense-aware (BPDA) accuracy is not above gray-box accuracy",
        fails,
        compared > 0,
        f"{compared} comparisons",
    )

    # 5. every adversarial image inside its ε-ball, in [0, 1], finite
    fails, n_adv = [], 0
    slack = 0.5 if plan.quantize else 1e-3  # rounding to 8 bits may move a pixel by half a level
    bad: dict[str, int] = defaultdict(int)
    for r in rows:
        s = float(r["strength"])
        if s == 0 or r["attack"] not in plan.attacks:
            continue
        n_adv += 1
        entry = plan.attacks[r["attack"]]
        if not int(r["in_range"]):
            bad[f"{r['attack']} {s:g}: outside [0, 1] or not finite"] += 1
        if entry.strength.param == "eps" and not entry.scale_to_d and float(r["linf"]) > s + slack:
            bad[f"{r['attack']} {s:g}: L∞ {float(r['linf']):.2f} beyond ε"] += 1
    fails = [f"{k} ({v} rows)" for k, v in bad.items()]
    check(
        "adversarials lie in their ε-ball, in [0, 1], without NaN",
        fails,
        n_adv > 0,
        f"{n_adv} adversarial rows",
    )

    # 6. clean accuracy through each defense reported beside its robust accuracy
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
    check(
        "clean accuracy of every defense is reported beside its robust accuracy",
        fails,
        bool(parts),
        "clean: " + ", ".join(parts),
    )

    # 7. the run is complete
    have, need = complete
    check(
        "the run is complete",
        [] if have >= need else [f"{have} of {need} results; run the same command again to resume"],
        need > 0,
        f"{have} results",
    )
    return checks
