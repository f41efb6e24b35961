"""The summary's checks and numbers on crafted rows (no model): each check passes on an honest run and
fires on a run crafted to break it."""

from __future__ import annotations

import copy

import pytest

from rsdesk.core.evaluation import summarize, wilson
from rsdesk.core.evaluation.checks import WORST

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
    worst = next(c for c in s["cells"] if c["attack"] == WORST and c["defense"] == "jpeg")
    # images 0..k-1 are correct under each attack: the worst case is the smallest k at ε 8
    assert worst["strength"] == 8.0 and worst["correct"] == min(9, 7, 2)


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
