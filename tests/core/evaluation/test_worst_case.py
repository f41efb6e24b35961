"""The headline of a summary: robust accuracy per defense as the worst case per image over every attack run
at each budget (L∞ and d alike), beside clean accuracy on the same images, in summary.json's
``worst_case`` and as summary.md's first table; hand-made rows, no model."""

from __future__ import annotations

import pytest

from rsdesk.core.evaluation import parse_plan, summarize, wilson
from rsdesk.core.evaluation.checkkit import WORST, worst_key
from rsdesk.core.evaluation.report import markdown

N = 20
PLAN = {
    "protocol": "all",
    "attacks": {
        "bim": {"attack": "bim"},
        "bpda-apgd-ce": {"attack": "bpda-apgd-ce", "params": {"steps": 10}},
        "square": {"attack": "square"},
        "pgd-l2": {"attack": "pgd-l2"},
        "cw": {"attack": "cw"},
    },
    "defenses": {"none": {}, "jpeg": {}},
    "experiments": [
        {
            "name": "a",
            "attacks": {"bim": [8], "bpda-apgd-ce": [8], "pgd-l2": [0.01], "cw": [0.01]},
            "defenses": ["jpeg"],
        },
        {"name": "sub", "attacks": {"square": [8]}, "defenses": ["jpeg"], "limit": 10},
    ],
}
#: images right through JPEG per (attack, strength); square ran on the first 10 images only
RIGHT = {
    ("bim", 8.0): set(range(16)),
    ("bpda-apgd-ce", 8.0): set(range(2, N)),
    ("square", 8.0): {0, 1, *range(3, 10)},
    ("pgd-l2", 0.01): set(range(15)),
    ("cw", 0.01): set(range(5)),
}
CLEAN_JPEG = 18
#: CW's τ-scaled adversarials of these images landed beyond d 0.01: no success, whatever they predict
BEYOND = {5, 6, 7}


def run_json():
    return {
        "plan": PLAN,
        "images": [{"id": f"img{i}", "path": f"/x/img{i}.png", "true_index": 1} for i in range(N)],
        "classifier": {"title": "Test net"},
    }


def row(i, attack, s, d, correct, threat, measured=0.0, linf=0.0):
    return {
        "file": f"img{i}",
        "true_index": 1,
        "threat": threat,
        "source": "",
        "attack": attack,
        "strength": s,
        "defense": d,
        "pred_index": 1 if correct else 2,
        "correct": int(correct),
        "counted": 1,
        "l2": 0.0,
        "linf": linf,
        "d": measured,
        "in_range": 1,
        "iterations": 10,
        "attack_seconds": 0.5 if s else 0.0,
        "seconds": 0.6,
    }


def make_rows(skip=()):
    plan = parse_plan(PLAN)
    rows = []
    for i in range(N):
        for a, entry in plan.attacks.items():
            for d in ("none", "jpeg"):
                rows.append(row(i, a, 0.0, d, d == "none" or i < CLEAN_JPEG, entry.threat))
    for (a, s), right in RIGHT.items():
        entry = plan.attacks[a]
        for i in range(10 if a == "square" else N):
            for d in ("none", "jpeg"):
                if (i, a) in skip:
                    continue
                d_measured = 0.02 if a == "cw" and i in BEYOND else s if entry.strength.kind == "d" else 0.0
                linf = s if entry.strength.kind == "linf" else 0.0
                ok = d == "jpeg" and i in right
                rows.append(row(i, a, s, d, ok, entry.threat, d_measured, linf))
    return rows


def by_defense(summary, defense):
    return next(d for d in summary["worst_case"]["defenses"] if d["defense"] == defense)


def test_the_worst_case_is_per_image_over_every_attack_at_each_budget_of_each_kind():
    s = summarize(run_json(), make_rows())
    cells = {(c["attack"], c["strength"], c["defense"]): c for c in s["cells"]}
    # ε 8: robust = clean-right and right under BIM, BPDA and (images 0–9) Square: images 3–15
    linf = cells[(WORST, 8.0, "jpeg")]
    assert (linf["n"], linf["correct"]) == (N, 13)
    assert (linf["ci_low"], linf["ci_high"]) == pytest.approx(wilson(13, N))
    # d 0.01: right under PGD-L2 (0–14) and CW (0–4, and 5–7 whose CW adversarial lies beyond d): 0–7
    l2 = cells[(worst_key("d"), 0.01, "jpeg")]
    assert worst_key("d") == "worst-case-d" and (l2["n"], l2["correct"]) == (N, 8)
    assert cells[(WORST, 8.0, "none")]["correct"] == 0
    assert s["attacks"][WORST]["symbol"] == "ε" and s["attacks"]["worst-case-d"]["symbol"] == "d"


def test_an_image_counts_only_once_every_attack_asked_of_it_has_run():
    # img19: BPDA missing (asked of every image); img5: Square missing (asked of the first 10); img15:
    # Square missing too, but it was never asked of it (not among the first 10)
    rows = make_rows(skip={(19, "bpda-apgd-ce"), (5, "square")})
    w = by_defense(summarize(run_json(), rows), "jpeg")
    at8 = next(c for c in w["budgets"] if c["kind"] == "linf")
    assert (at8["n"], at8["correct"]) == (18, 12)  # img5 (robust) and img19 (not) left out
    assert (at8["clean"]["n"], at8["clean"]["correct"]) == (18, 17)  # of those, img18 wrong clean


def test_summary_json_headline_says_what_it_holds():
    s = summarize(run_json(), make_rows())
    w = s["worst_case"]
    assert w["threats"] == ["graybox", "transfer", "aware", "blackbox", "extended-graybox"]
    assert "gradient-free (Square)" in w["what"] and "transfer" in w["what"]
    assert [(c["label"], c["attacks"]) for c in w["columns"]] == [
        ("ε 8/255", ["bim", "bpda-apgd-ce", "square"]),
        ("d 0.01", ["pgd-l2", "cw"]),
    ]
    jpeg = by_defense(s, "jpeg")
    assert (jpeg["clean"]["n"], jpeg["clean"]["correct"]) == (N, CLEAN_JPEG)
    linf, l2 = jpeg["budgets"]
    assert (linf["accuracy"], linf["adaptive"]) == (13 / N, True)
    assert (l2["accuracy"], l2["adaptive"]) == (8 / N, False)  # gray-box only through JPEG: an upper bound
    assert by_defense(s, "none")["budgets"][1]["adaptive"] is True  # gray-box is white-box without a defense
    v = {x["label"]: x for x in w["verdicts"]}
    assert (v["ε 8/255"]["best"], v["ε 8/255"]["accuracy"], v["ε 8/255"]["beats_undefended"]) == (
        "jpeg",
        13 / N,
        True,
    )


def test_summary_md_opens_with_the_headline_table():
    text = markdown(summarize(run_json(), make_rows()))
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Robust accuracy: the worst case per image over every attack run"
    assert sections[1] == "## Checks"
    lo, hi = wilson(13, N)
    lo2, hi2 = wilson(8, N)
    clo, chi = wilson(CLEAN_JPEG, N)
    expected = (
        f"| JPEG compression | 90 ({100 * clo:.0f}–{100 * chi:.0f}) | 65 ({100 * lo:.0f}–{100 * hi:.0f}) | "
        f"40 ({100 * lo2:.0f}–{100 * hi2:.0f}) † |"
    )
    assert expected in text.splitlines()
    assert "| defense | clean | ε 8/255 | d 0.01 |" in text
    assert "- d 0.01: PGD-L2, CW-L2, τ-scaled as in the paper" in text
    assert "- ε 8/255: **JPEG compression** 65%" in text


def test_the_old_keys_stay_for_old_readers():
    s = summarize(run_json(), make_rows())
    for key in ("cells", "checks", "attacks", "defenses", "experiments", "frontiers", "throughput"):
        assert key in s
    assert s["attacks"][WORST]["title"] == "worst case over the attacks run"
