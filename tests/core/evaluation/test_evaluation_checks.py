"""The summary's checks and numbers on crafted rows (no model): each check passes on an honest run and
fires on a run crafted to break it."""

from __future__ import annotations

import copy

import pytest

from rsdesk.core.evaluation import summarize, wilson
from rsdesk.core.evaluation.checkkit import WORST

PLAN = {
    "protocol": "correct-only",
    "attacks": {
        "fgsm": {"attack": "fgsm"},
        "bim": {"attack": "bim"},
        "bpda": {"attack": "bpda", "params": {"eot": 2}},
    },
    "defenses": {"none": {}, "jpeg": {}},
    "experiments": [
        {"name": "grid", "attacks": {"fgsm": [4, 8], "bim": [4, 8], "bpda": [8]}, "defenses": ["jpeg"]}
    ],
}
N = 20


def run_json(plan=PLAN):
    return {
        "plan": plan,
        "images": [{"id": f"img{i}", "path": f"/x/img{i}.png", "true_index": 1} for i in range(N)],
        "classifier": {"title": "Test net"},
    }


# accuracy (correct images out of N) per (attack, strength, defense) of an honest run
HONEST = {
    ("fgsm", 4, "none"): 6,
    ("fgsm", 8, "none"): 4,
    ("bim", 4, "none"): 1,
    ("bim", 8, "none"): 0,
    ("fgsm", 4, "jpeg"): 12,
    ("fgsm", 8, "jpeg"): 9,
    ("bim", 4, "jpeg"): 10,
    ("bim", 8, "jpeg"): 7,
    ("bpda", 8, "none"): 0,
    ("bpda", 8, "jpeg"): 2,
}


def make_rows(acc=HONEST, clean=(20, 17), linf_over=0.0, out_of_range=False, drop_clean_jpeg=False):
    rows = []
    for i in range(N):
        f = f"img{i}"
        for attack in PLAN["attacks"]:
            for d, k in zip(("none", "jpeg"), clean):
                if d == "jpeg" and drop_clean_jpeg:
                    continue
                rows.append(row(f, attack, 0.0, d, i < k, 0.0))
        for (attack, s, d), k in acc.items():
            rows.append(
                row(f, attack, float(s), d, i < k, s + linf_over, in_range=not (out_of_range and i == 0))
            )
    return rows


def row(f, attack, s, d, correct, linf, in_range=True):
    threat = "aware" if attack == "bpda" else "graybox"
    return {
        "file": f,
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
        "d": 0.0,
        "in_range": int(in_range),
        "iterations": 10,
        "attack_seconds": 0.5 if s else 0.0,
        "seconds": 0.6,
    }


def checks(summary):
    return {c["name"].split(" ")[0] + " " + c["name"].split(" ")[1]: c for c in summary["checks"]}


def failed(summary):
    return [c["name"] for c in summary["checks"] if c["ok"] is False]


def test_an_honest_run_passes_every_check_and_counts_right():
    s = summarize(run_json(), make_rows())
    assert failed(s) == []
    cell = next(c for c in s["cells"] if (c["attack"], c["strength"], c["defense"]) == ("bim", 8.0, "jpeg"))
    assert (cell["n"], cell["correct"], cell["accuracy"]) == (N, 7, 7 / N)
    assert (cell["ci_low"], cell["ci_high"]) == pytest.approx(wilson(7, N))
    assert (
        s["throughput"]["image_iterations"] == 10 * N * 6
    )  # 6 adversarials per image (bpda: one per defense)
    assert s["n_counted"] == N and s["complete"] is True


def test_wilson_matches_the_closed_form():
    k, n, z = 7, 20, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    assert wilson(k, n) == pytest.approx((centre - half, centre + half), abs=1e-9)


def test_accuracy_rising_with_strength_fails_its_check():
    acc = {**HONEST, ("fgsm", 8, "jpeg"): 19, ("fgsm", 4, "jpeg"): 5}
    assert "accuracy does not rise with attack strength" in failed(summarize(run_json(), make_rows(acc)))


def test_iterative_weaker_than_fgsm_fails_its_check():
    acc = {**HONEST, ("bim", 4, "none"): 15}
    assert any("iterative" in n for n in failed(summarize(run_json(), make_rows(acc))))


def test_an_attack_that_leaves_the_undefended_model_standing_fails_its_check():
    acc = {**HONEST, ("bim", 8, "none"): 8, ("bim", 4, "none"): 9, ("bpda", 8, "none"): 0}
    names = failed(summarize(run_json(), make_rows(acc)))
    assert any("strongest setting" in n for n in names)


def test_bpda_above_gray_box_fails_its_check():
    acc = {**HONEST, ("bpda", 8, "jpeg"): 16}
    assert any("defense-aware" in n for n in failed(summarize(run_json(), make_rows(acc))))


@pytest.mark.parametrize("kwargs", [{"linf_over": 1.0}, {"out_of_range": True}])
def test_adversarials_outside_their_ball_fail_their_check(kwargs):
    assert any("ε-ball" in n for n in failed(summarize(run_json(), make_rows(**kwargs))))


def test_a_defense_without_clean_accuracy_fails_its_check():
    assert any("clean accuracy" in n for n in failed(summarize(run_json(), make_rows(drop_clean_jpeg=True))))


def test_worst_case_over_attacks_is_per_image():
    s = summarize(run_json(), make_rows())
    worst = {c["strength"]: c for c in s["cells"] if c["attack"] == WORST and c["defense"] == "jpeg"}
    # images 0..k-1 are correct under each attack: the worst case is the smallest k at each ε (gray-box only
    # at ε 4, where no defense-aware attack ran: still the worst case of what ran)
    assert (worst[8.0]["correct"], worst[8.0]["n"]) == (min(9, 7, 2), N)
    assert worst[4.0]["correct"] == min(12, 10)


def test_uncounted_images_are_left_out_of_every_cell():
    rows = make_rows()
    for r in rows:
        if r["file"] == "img0":
            r["counted"] = 0
    s = summarize(run_json(), rows)
    assert all(c["n"] == N - 1 for c in s["cells"] if c["attack"] != WORST)


def test_frontier_names_the_best_defense_at_matched_clean_accuracy():
    plan = copy.deepcopy(PLAN)
    plan["defenses"] = {
        "none": {},
        "jpeg": {"sweep": {"quality": [30, 75]}},
        "squeeze": {"sweep": {"bits": [3, 5]}},
    }
    plan["experiments"] = [
        {"name": "f", "kind": "frontier", "attacks": {"bim": [8]}, "defenses": ["jpeg", "squeeze"]}
    ]
    points = {
        "jpeg[quality=30]": (14, 9),
        "jpeg[quality=75]": (17, 4),
        "squeeze[bits=3]": (15, 5),
        "squeeze[bits=5]": (18, 2),
        "none": (20, 0),
    }
    rows = []
    for i in range(N):
        for d, (clean, robust) in points.items():
            rows.append(row(f"img{i}", "bim", 0.0, d, i < clean, 0))
            rows.append(row(f"img{i}", "bim", 8.0, d, i < robust, 8))
    s = summarize(run_json(plan), rows)
    f = s["frontiers"]["f"]
    assert {g: len(p) for g, p in f["groups"].items()} == {"none": 1, "jpeg": 2, "squeeze": 2}
    at70 = next(m for m in f["matched"] if m["clean_at_least"] == 0.7)
    assert (at70["best"], at70["defense"]) == ("jpeg", "jpeg[quality=30]")  # 45 % beats squeeze's 25 %
    at85 = next(m for m in f["matched"] if m["clean_at_least"] == 0.85)
    assert (at85["best"], at85["defense"]) == ("jpeg", "jpeg[quality=75]")


def test_a_partial_run_says_it_is_not_complete():
    rows = [r for r in make_rows() if not (r["attack"] == "bpda" and r["defense"] == "jpeg")]
    s = summarize(run_json(), rows)
    assert s["complete"] is False
    assert "the run is complete" in failed(s)


# ----- the adaptive checks: gradient-free vs gradient, longer runs, the defense-aware series -----
# Hand-made runs of the registry's attacks. ``outcomes[(attack, strength, defense)]`` is k (every image ran,
# images 0..k-1 right) or (images that ran, images right among them); clean: images 0..k-1 right per defense.


def adaptive_plan(attacks, experiments, defenses=("jpeg",)):
    return {
        "protocol": "all",
        "attacks": attacks,
        "defenses": {"none": {}, **{d: {} for d in defenses}},
        "experiments": experiments,
    }


def crafted_rows(plan, outcomes, clean):
    from rsdesk.core.evaluation import parse_plan

    parsed = parse_plan(plan)
    rows = []
    for i in range(N):
        for a, entry in parsed.attacks.items():
            for d, k in clean.items():
                rows.append(row(f"img{i}", a, 0.0, d, i < k, 0.0) | {"threat": entry.threat})
    for (a, s, d), spec in outcomes.items():
        entry = parsed.attacks[a]
        ran, right = (range(N), set(range(spec))) if isinstance(spec, int) else spec
        for i in ran:
            r = row(f"img{i}", a, float(s), d, i in right, s if entry.strength.kind == "linf" else 0.0)
            r |= {"threat": entry.threat, "d": s if entry.strength.kind == "d" else 0.0}
            rows.append(r)
    return rows


def check_named(summary, words):
    return next(c for c in summary["checks"] if words in c["name"])


MASKING = "gradient-free attack is not stronger"
LONGER = "more iterations never help"
TOWARD_ZERO = "falls toward 0"

SQUARE_PLAN = adaptive_plan(
    {
        "bpda-apgd-ce": {"attack": "bpda-apgd-ce", "params": {"steps": 10}},
        "square": {"attack": "square"},
        "bim": {"attack": "bim"},
    },
    [{"name": "a", "attacks": {"bpda-apgd-ce": [8], "square": [8], "bim": [8]}, "defenses": ["jpeg"]}],
)


def test_square_beating_bpda_through_a_defense_that_zeroes_gradients_trips_the_masking_check():
    # the defense zeroes BPDA's gradients: 15 of 20 survive it, while Square, querying, leaves 3
    outcomes = {
        ("bpda-apgd-ce", 8, "none"): 0,
        ("square", 8, "none"): 1,
        ("bim", 8, "none"): 0,
        ("bpda-apgd-ce", 8, "jpeg"): 15,
        ("square", 8, "jpeg"): 3,
        ("bim", 8, "jpeg"): 16,
    }
    s = summarize(run_json(SQUARE_PLAN), crafted_rows(SQUARE_PLAN, outcomes, {"none": 20, "jpeg": 18}))
    c = check_named(s, MASKING)
    assert c["ok"] is False
    lo, hi = wilson(15, N)
    assert c["detail"] == (
        "gradient masking suspected: JPEG compression at ε 8/255: square 15% below bpda-apgd-ce 75% "
        f"(95 % interval {100 * lo:.0f}%–{100 * hi:.0f}%) on the 20 images both ran"
    )


def test_square_weaker_than_bpda_passes_the_masking_check():
    outcomes = {
        ("bpda-apgd-ce", 8, "none"): 0,
        ("square", 8, "none"): 8,  # 300 queries leave 40 % of the undefended model: weak, not masked
        ("bim", 8, "none"): 0,
        ("bpda-apgd-ce", 8, "jpeg"): 2,
        ("square", 8, "jpeg"): 9,
        ("bim", 8, "jpeg"): 2,
    }
    s = summarize(run_json(SQUARE_PLAN), crafted_rows(SQUARE_PLAN, outcomes, {"none": 20, "jpeg": 18}))
    c = check_named(s, MASKING)
    assert (c["ok"], c["detail"]) == (True, "2 comparisons (defense × budget)")
    # Square weaker than gray-box BIM fails no other check either: the defense-aware and near-0 checks hold
    # the gradient attacks
    assert failed(s) == []


def test_the_masking_check_compares_on_the_images_both_ran():
    # BPDA: images 0..9 fooled, 10..19 right (50 %); Square ran on 0..9 only and fooled them all (0 %):
    # on the images both ran they are equal, so no masking is claimed
    outcomes = {
        ("bpda-apgd-ce", 8, "jpeg"): (range(N), set(range(10, N))),
        ("square", 8, "jpeg"): (range(10), set()),
    }
    s = summarize(run_json(SQUARE_PLAN), crafted_rows(SQUARE_PLAN, outcomes, {"none": 20, "jpeg": 18}))
    c = check_named(s, MASKING)
    assert (c["ok"], c["detail"]) == (True, "1 comparisons (defense × budget)")


def test_square_against_gray_box_attacks_only_says_nothing_about_masking():
    plan = adaptive_plan(
        {"square": {"attack": "square"}, "bim": {"attack": "bim"}},
        [{"name": "a", "attacks": {"square": [8], "bim": [8]}, "defenses": ["jpeg"]}],
    )
    outcomes = {("square", 8, "jpeg"): 2, ("bim", 8, "jpeg"): 16}  # the defense unseen by BIM
    s = summarize(run_json(plan), crafted_rows(plan, outcomes, {"none": 20, "jpeg": 18}))
    assert check_named(s, MASKING)["ok"] is None


def test_the_adaptive_checks_are_not_applicable_without_their_attacks():
    s = summarize(run_json(), make_rows())  # FGSM, BIM, BPDA at one ε: no Square, no longer run
    assert check_named(s, MASKING)["ok"] is None
    assert check_named(s, LONGER)["ok"] is None
    assert check_named(s, MASKING)["detail"] == "nothing to check in this run"
    assert check_named(s, TOWARD_ZERO)["ok"] is True  # BPDA 2 of 20 through JPEG at ε 8, clean 17


LONG = "bpda-apgd-ce[steps=50]"
LONG_PLAN = adaptive_plan(
    {
        "bpda-apgd-ce": {"attack": "bpda-apgd-ce", "params": {"steps": 10}},
        LONG: {"attack": "bpda-apgd-ce", "params": {"steps": 50}},
    },
    [
        {"name": "a", "attacks": {"bpda-apgd-ce": [4]}, "defenses": ["jpeg"]},
        {"name": "longer", "attacks": {"bpda-apgd-ce": [4], LONG: [4]}, "defenses": ["jpeg"], "limit": 10},
    ],
)


def test_longer_pairs_are_the_same_attack_with_more_effort_only():
    from rsdesk.core.evaluation import parse_plan
    from rsdesk.core.evaluation.masking import longer_pairs

    assert longer_pairs(parse_plan(LONG_PLAN)) == [("bpda-apgd-ce", LONG)]
    other = adaptive_plan(
        {
            "a": {"attack": "bpda-apgd-ce", "params": {"steps": 10}},
            "b": {"attack": "bpda-apgd-ce", "params": {"steps": 15}},  # 1.5×: not long enough
            "c": {"attack": "bpda-apgd-ce", "params": {"steps": 50, "eot": 8}},  # another EOT: not a pair
            "d": {"attack": "bpda-apgd-ce", "params": {"steps": 10, "restarts": 3}},  # 3× by restarts
        },
        [{"name": "e", "attacks": {k: [4] for k in "abcd"}}],
    )
    assert longer_pairs(parse_plan(other)) == [("a", "d")]


def test_a_longer_attack_weaker_than_the_shorter_trips_the_iterations_check():
    # the short run fools all but 2 of the first 10 images; the 5× run leaves 9 of them standing
    outcomes = {
        ("bpda-apgd-ce", 4, "none"): 0,
        ("bpda-apgd-ce", 4, "jpeg"): (range(N), {0, 1, 15}),
        (LONG, 4, "none"): (range(10), set()),
        (LONG, 4, "jpeg"): (range(10), set(range(9))),
    }
    s = summarize(run_json(LONG_PLAN), crafted_rows(LONG_PLAN, outcomes, {"none": 20, "jpeg": 18}))
    c = check_named(s, LONGER)
    lo, hi = wilson(2, 10)
    assert c["ok"] is False
    assert c["detail"] == (
        f"JPEG compression at ε 4/255: {LONG} (50) 90% above bpda-apgd-ce (10) 20% "
        f"(95 % interval {100 * lo:.0f}%–{100 * hi:.0f}%) on the 10 images both ran"
    )


def test_a_longer_attack_at_least_as_strong_passes_the_iterations_check():
    outcomes = {
        ("bpda-apgd-ce", 4, "none"): 0,
        ("bpda-apgd-ce", 4, "jpeg"): (range(N), {0, 1, 2, 15}),
        (LONG, 4, "none"): (range(10), set()),
        (LONG, 4, "jpeg"): (range(10), {1, 2, 5, 7}),  # 4 of 10 against 3: within the interval (noise)
    }
    s = summarize(run_json(LONG_PLAN), crafted_rows(LONG_PLAN, outcomes, {"none": 20, "jpeg": 18}))
    c = check_named(s, LONGER)
    assert (c["ok"], c["detail"]) == (True, "2 comparisons (defense × budget)")


SERIES_PLAN = adaptive_plan(
    {"bpda-apgd-ce": {"attack": "bpda-apgd-ce", "params": {"steps": 10}}, "square": {"attack": "square"}},
    [{"name": "a", "attacks": {"bpda-apgd-ce": [2, 4, 8], "square": [2, 4, 8]}, "defenses": ["jpeg"]}],
)


def _series(jpeg, square=(15, 15, 15), top=8):
    out = {}
    for s, k, q in zip((2, 4, top), jpeg, square):
        out |= {("bpda-apgd-ce", s, "none"): 0, ("bpda-apgd-ce", s, "jpeg"): k}
        out |= {("square", s, "none"): 0, ("square", s, "jpeg"): q}
    return out


def test_a_defense_aware_series_falling_toward_zero_passes():
    rows = crafted_rows(SERIES_PLAN, _series((12, 6, 1)), {"none": 20, "jpeg": 18})
    c = check_named(summarize(run_json(SERIES_PLAN), rows), TOWARD_ZERO)
    # Square (gradient-free, 15 of 20 everywhere) is not held to it: a query budget need not reach 0
    assert (c["ok"], c["detail"]) == (True, "2 series (attack × defense)")


def test_a_defense_aware_series_rising_with_eps_fails():
    rows = crafted_rows(SERIES_PLAN, _series((2, 6, 16)), {"none": 20, "jpeg": 18})
    c = check_named(summarize(run_json(SERIES_PLAN), rows), TOWARD_ZERO)
    assert c["ok"] is False
    assert "bpda-apgd-ce through JPEG compression: 80% at ε 8/255 above ε 2/255's interval" in c["detail"]


def test_a_defense_aware_attack_that_leaves_most_of_clean_at_eps_8_fails():
    rows = crafted_rows(SERIES_PLAN, _series((16, 15, 15)), {"none": 20, "jpeg": 18})
    c = check_named(summarize(run_json(SERIES_PLAN), rows), TOWARD_ZERO)
    lo, _hi = wilson(15, N)
    assert c["ok"] is False
    assert c["detail"] == (
        f"bpda-apgd-ce through JPEG compression at ε 8/255: 75% (95 % interval from {100 * lo:.0f}%) of "
        "clean 90%: more than 50% of clean left at the largest budget"
    )
    # the same numbers with ε 4/255 the largest budget: too small a budget to hold it to half of clean
    small = adaptive_plan(
        SERIES_PLAN["attacks"],
        [{"name": "a", "attacks": {"bpda-apgd-ce": [1, 2, 4], "square": [1, 2, 4]}, "defenses": ["jpeg"]}],
    )
    outcomes = {(a, {2: 1, 4: 2, 8: 4}[s], d): k for (a, s, d), k in _series((16, 15, 15)).items()}
    c = check_named(
        summarize(run_json(small), crafted_rows(small, outcomes, {"none": 20, "jpeg": 18})), TOWARD_ZERO
    )
    assert c["ok"] is True


def test_tau_scaled_columns_are_named_but_not_held_to_the_budget_checks():
    """The shipped dev run: the paper's τ-scaled CW-L2 rises with d on the undefended model (one minimal
    perturbation stretched, not an attack at that budget); the monotonicity and near-0 checks pass on the
    attacks that are attacks and say which entries they left out."""
    import json
    from pathlib import Path

    from rsdesk.core.evaluation import RunDirectory
    from rsdesk.core.evaluation.summary import summarize

    dev = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "dev"
    rows = RunDirectory(dev).read_rows()
    checks = {c["name"]: c for c in summarize(json.loads((dev / "plan.json").read_text()), rows)["checks"]}
    falls = checks["accuracy does not rise with attack strength"]
    assert falls["ok"] is True and "cw" in falls["detail"] and "τ-scaled" in falls["detail"]
    near = next(c for n, c in checks.items() if n.startswith("the strongest setting"))
    assert near["ok"] is True and "cw" in near["detail"]
