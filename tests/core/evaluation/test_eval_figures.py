"""rsdesk.core.evaluation.figures: the numbers each figure plots; PNGs that exist, are sized, not blank."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from rsdesk.core.defenses import defense_class
from rsdesk.core.evaluation import figures
from rsdesk.core.evaluation.figures import draw_figures, figure_name
from rsdesk.core.evaluation.series import (
    IDENTITY_COLOUR,
    PALETTE,
    bar_series,
    curve_series,
    defense_styles,
    frontier_series,
    group_colours,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# clean accuracy and its fall at the strongest attack, per defense
CLEAN = {"none": 0.88, "jpeg_q30": 0.80, "rs_k2": 0.70, "rs_k4": 0.76, "rs_k8": 0.82}
DROP = {"none": 0.85, "jpeg_q30": 0.50, "rs_k2": 0.10, "rs_k4": 0.20, "rs_k8": 0.40}
STRENGTHS = {"bim": [2, 6, 10], "cw_t": [0.1, 0.5]}


def _acc(attack: str, strength: float, defense: str) -> float:
    return CLEAN[defense] - DROP[defense] * strength / max(STRENGTHS[attack])


def _cell(attack, strength, defense):
    acc = _acc(attack, strength, defense)
    return {
        "attack": attack,
        "strength": strength,
        "defense": defense,
        "n": 88,
        "correct": round(88 * acc),
        "accuracy": acc,
        "ci_low": max(0.0, acc - 0.07),
        "ci_high": min(1.0, acc + 0.06),
    }


def _defense(title, group, knob=None, value=None, identity=False):
    symbol = None
    if knob is not None:  # as summarize writes it: the swept parameter's symbol from the defense's specs
        symbol = next(p.short for p in defense_class(group).PARAMS if p.name == knob)
    return {
        "title": title,
        "group": group,
        "identity": identity,
        "knob": knob,
        "knob_symbol": symbol,
        "knob_value": value,
    }


@pytest.fixture
def summary():
    cells = [
        _cell(a, s, d)
        for a in STRENGTHS
        for s in [0, *STRENGTHS[a]]
        for d in CLEAN
        if (a, s, d) != ("bim", 6, "rs_k4")
    ]  # one missing cell: a run still going
    for c in cells:
        if (c["attack"], c["strength"], c["defense"]) == ("cw_t", 0.5, "jpeg_q30"):
            c.update(n=0, correct=0, accuracy=None, ci_low=None, ci_high=None)  # nothing counted: skipped
    three = ["none", "jpeg_q30", "rs_k4"]
    return {
        "n_images": 100,
        "n_counted": 88,
        "protocol": "correct-only",
        "classifier": "EfficientNet-Lite0",
        "attacks": {
            "bim": {"title": "BIM", "symbol": "ε", "unit": "/255", "threat": "graybox", "source": None},
            "cw_t": {
                "title": "CW-L2",
                "symbol": "d",
                "unit": None,
                "threat": "transfer",
                "source": "EfficientNet-Lite2",
            },
        },
        "defenses": {
            "none": _defense("No defense", "none", identity=True),
            "jpeg_q30": _defense("JPEG q 30", "jpeg", "quality", 30),
            "rs_k4": _defense("RegionSparse K 4", "regionsparse", "k", 4),
            "rs_k8": _defense("RegionSparse K 8", "regionsparse", "k", 8),
            "rs_k2": _defense("RegionSparse K 2", "regionsparse", "k", 2),
        },
        "experiments": [
            {
                "name": "fig5",
                "kind": "curves",
                "title": "Accuracy vs attack strength (gray-box)",
                "attacks": ["bim", "cw_t"],
                "defenses": three,
                "strengths": STRENGTHS,
            },
            {
                "name": "fig 8/transfer",
                "kind": "bars",
                "title": "Transfer attacks",
                "attacks": ["bim", "cw_t"],
                "defenses": three,
                "strengths": {"bim": [10], "cw_t": [0, 0.5]},
            },
            {
                "name": "frontier_bim",
                "kind": "frontier",
                "title": "Clean vs robust accuracy",
                "attacks": ["bim"],
                "defenses": ["rs_k8", "none", "rs_k2", "jpeg_q30", "rs_k4"],
                "strengths": {"bim": [10]},
                "frontier": {"attack": "bim", "strength": 10},
            },
            {
                "name": "table1",
                "kind": "table",
                "title": "All numbers",
                "attacks": ["bim"],
                "defenses": three,
                "strengths": {"bim": [2]},
            },
        ],
        "cells": cells,
        "checks": [],
    }


def _pct(attack, strength, defense):
    return pytest.approx(100 * _acc(attack, strength, defense))


def test_curve_series_points_in_strength_order_skipping_missing_cells(summary):
    fig5 = summary["experiments"][0]
    bim = curve_series(summary, fig5, "bim")
    assert list(bim) == ["none", "jpeg_q30", "rs_k4"]  # one line per defense, experiment order
    assert [p.strength for p in bim["none"]] == [0, 2, 6, 10]
    assert [p.strength for p in bim["rs_k4"]] == [0, 2, 10]  # the missing cell is skipped, not zero
    assert [p.acc for p in bim["none"]] == [_pct("bim", s, "none") for s in (0, 2, 6, 10)]
    p = bim["jpeg_q30"][1]
    assert (p.lo, p.hi) == (pytest.approx(p.acc - 7), pytest.approx(p.acc + 6))
    cw = curve_series(summary, fig5, "cw_t")
    assert [p.strength for p in cw["jpeg_q30"]] == [0, 0.1]  # n = 0 cell skipped
    assert curve_series(summary, fig5, "nothing") == {}


def test_bar_series_takes_the_first_nonzero_strength(summary):
    groups = bar_series(summary, summary["experiments"][1])
    assert [(g.attack, g.strength) for g in groups] == [("bim", 10), ("cw_t", 0.5)]
    assert groups[0].bars["rs_k4"][0] == _pct("bim", 10, "rs_k4")
    assert groups[0].clean == {d: _pct("bim", 0, d) for d in ("none", "jpeg_q30", "rs_k4")}
    assert "jpeg_q30" not in groups[1].bars and set(groups[1].bars) == {"none", "rs_k4"}


def test_frontier_series_groups_in_knob_order(summary):
    series = frontier_series(summary, summary["experiments"][2])
    assert list(series) == ["regionsparse", "none", "jpeg"]  # first appearance in the experiment
    rs = series["regionsparse"]
    assert [p.label for p in rs] == ["K 2", "K 4", "K 8"]
    assert [(p.x, p.y) for p in rs] == [
        (_pct("bim", 0, d), _pct("bim", 10, d)) for d in ("rs_k2", "rs_k4", "rs_k8")
    ]
    assert [p.label for p in series["none"]] == ["no defense"] and [p.label for p in series["jpeg"]] == [
        "q 30"
    ]
    # Without its attacked cell a setting drops out of the curve.
    summary["experiments"][2]["frontier"]["strength"] = 6
    assert [p.label for p in frontier_series(summary, summary["experiments"][2])["regionsparse"]] == [
        "K 2",
        "K 8",
    ]


def test_styles_give_each_group_its_colour_and_no_defense_grey_dotted(summary):
    styles = defense_styles(summary)
    assert styles["none"]["color"] == IDENTITY_COLOUR and styles["none"]["linestyle"] == ":"
    assert styles["jpeg_q30"]["color"] != styles["rs_k4"]["color"]
    assert len({styles[k]["marker"] for k in ("rs_k2", "rs_k4", "rs_k8")}) == 3  # told apart inside a group
    assert styles == defense_styles(copy.deepcopy(summary))  # the same for every figure of the run
    assert group_colours(summary) == {"jpeg": PALETTE[0], "regionsparse": PALETTE[1]}  # first appearance
    rgb = tuple(int(PALETTE[1][i : i + 2], 16) / 255 for i in (1, 3, 5))
    assert styles["rs_k4"]["color"] == pytest.approx(rgb)  # the middle setting keeps the group's colour


def test_curves_draw_one_line_per_defense(summary):
    fig5 = summary["experiments"][0]
    fig = figures._draw_curves(summary, fig5, defense_styles(summary))
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["BIM", "CW-L2 from EfficientNet-Lite2"]
    assert [len(ax.get_lines()) for ax in panels] == [
        len(curve_series(summary, fig5, a)) for a in ("bim", "cw_t")
    ]
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["clean", "2", "6", "10"]
    assert panels[0].get_xlabel() == "ε (/255)" and panels[1].get_xlabel() == "d"


def test_draw_figures_writes_readable_pngs_atomically(summary, tmp_path):
    out = tmp_path / "figures"
    paths = draw_figures(summary, out)
    assert [p.name for p in paths] == [
        "fig5.png",
        "fig_8_transfer.png",
        "frontier_bim.png",
    ]  # no table figure
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)  # no temp files left behind
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC
        with Image.open(path) as im:
            assert im.width >= 800 and im.height >= 500
            assert np.asarray(im.convert("L"), np.float32).std() > 15  # not blank


def test_empty_and_unfinished_runs_do_not_crash(summary, tmp_path):
    assert draw_figures({**summary, "experiments": []}, tmp_path / "a") == []
    assert draw_figures({**summary, "experiments": summary["experiments"][3:]}, tmp_path / "b") == []
    for c in summary["cells"]:
        c.update(n=0, accuracy=float("nan"))
    paths = draw_figures(summary, tmp_path / "c")  # "no results yet" everywhere
    assert len(paths) == 3 and all(p.stat().st_size > 0 for p in paths)
    assert figure_name({"name": "a b/c.d"}) == "a_b_c_d.png"


def test_importing_the_module_does_not_load_matplotlib():
    code = "import sys, rsdesk.core.evaluation.figures; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
