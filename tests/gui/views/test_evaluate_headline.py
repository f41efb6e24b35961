"""The Evaluate tab's headline: per defense, clean accuracy beside the worst case per image over every attack
run at each budget, read from summary.json's ``worst_case`` (no model, no sweep: hand-made rows)."""

from __future__ import annotations

import os

import pytest
from gui_helpers import assert_no_threads
from PySide6.QtCore import Qt

from rsdesk.core.evaluation import COLUMNS, parse_plan, summarize, wilson
from rsdesk.gui.models.evaluation import EvaluationResults
from rsdesk.gui.models.evaluation_plan import PRESET_CHOICES, RunContext
from rsdesk.gui.models.headline import HeadlineModel
from rsdesk.gui.tasks.evaluation import EvaluationRunner
from rsdesk.gui.tasks.runner import JobRunner
from rsdesk.gui.views.evaluate_tab import EvaluateTab

N = 10
PLAN = {
    "protocol": "all",
    "attacks": {"fgsm": {"attack": "fgsm"}, "bpda": {"attack": "bpda", "params": {"steps": 5}}},
    "defenses": {"none": {}, "jpeg": {}, "squeeze": {}},
    "experiments": [
        {"name": "e", "attacks": {"fgsm": [4, 12], "bpda": [12]}, "defenses": ["jpeg", "squeeze"]}
    ],
}
#: images right (0..k-1) per cell; clean: JPEG 9, squeeze 8 of 10
RIGHT = {
    ("fgsm", 4.0, "jpeg"): 7,
    ("fgsm", 12.0, "jpeg"): 5,
    ("bpda", 12.0, "jpeg"): 2,
    ("fgsm", 4.0, "squeeze"): 6,
    ("fgsm", 12.0, "squeeze"): 3,
    ("bpda", 12.0, "squeeze"): 1,
}
CLEAN = {"none": N, "jpeg": 9, "squeeze": 8}


def run_summary() -> tuple[dict, list[dict]]:
    plan = parse_plan(PLAN)
    rows = []
    for i in range(N):
        base = dict.fromkeys(COLUMNS, 0) | {"file": f"img{i}", "true_index": 1, "source": "", "counted": 1}
        for a, entry in plan.attacks.items():
            for d, k in CLEAN.items():
                rows.append(base | {"attack": a, "threat": entry.threat, "strength": 0.0, "defense": d})
                rows[-1] |= {"correct": int(i < k), "in_range": 1}
            for s in (4.0, 12.0) if a == "fgsm" else (12.0,):
                for d in CLEAN:
                    ok = i < RIGHT.get((a, s, d), 0)
                    rows.append(base | {"attack": a, "threat": entry.threat, "strength": s, "defense": d})
                    rows[-1] |= {"correct": int(ok), "in_range": 1, "linf": s}
    run_json = {
        "plan": plan.as_dict(),
        "classifier": {"name": "efficientnet-lite0", "title": "EfficientNet-Lite0"},
        "images": [{"id": f"img{i}", "path": f"/x/img{i}.png", "true_index": 1} for i in range(N)],
    }
    return run_json, rows


@pytest.fixture
def tab(qtbot):
    jobs = JobRunner()
    runner = EvaluationRunner(EvaluationResults(), jobs)
    view = EvaluateTab(runner, RunContext, lambda *_a: None)  # type: ignore[arg-type]
    qtbot.addWidget(view)
    yield view
    runner.shutdown()
    assert jobs.shutdown(10000)
    assert_no_threads()


def _pct(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{100 * k / n:.0f} ({100 * lo:.0f}–{100 * hi:.0f})"


def test_the_headline_shows_worst_case_per_defense_beside_clean(qtbot, tab):
    run_json, rows = run_summary()
    results = tab.results
    results.set_run_json(run_json)
    results.add_rows(rows)
    assert not tab.headline.isVisibleTo(tab)  # nothing to show before a summary
    results.set_summary(summarize(run_json, rows), len(rows), len(rows))
    m: HeadlineModel = tab.headline_model
    assert tab.headline.isVisibleTo(tab) and tab.headline_label.isVisibleTo(tab)
    assert (m.rowCount(), m.columnCount()) == (3, 3)  # none, JPEG, squeezing × clean, ε 4, ε 12
    header = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(3)]
    assert header == ["clean", "ε 4/255", "ε 12/255"]
    assert m.headerData(1, Qt.Orientation.Vertical) == "JPEG compression"
    # JPEG: clean 9/10; ε 4 gray-box only (FGSM never sees the defense: marked an upper bound); ε 12 the
    # worst of FGSM (5) and BPDA (2) per image: 2 of 10
    assert m.index(1, 0).data() == _pct(9, N)
    assert m.index(1, 1).data() == _pct(7, N) + " †"
    assert m.index(1, 2).data() == _pct(2, N)
    assert m.index(2, 2).data() == _pct(1, N)
    assert m.index(0, 1).data() == _pct(0, N)  # no defense: gray-box is white-box, no mark
    tip = m.index(1, 2).data(Qt.ItemDataRole.ToolTipRole)
    assert (
        "2 of 10 images robust under every attack run (FGSM, BPDA" in tip
        and "clean on the same images: 9" in tip
    )
    # the worst case lives in the headline, not as rows of the accuracy table (no images to click)
    tab.table_model.set_experiment(None)
    levels = [
        tab.table_model.headerData(r, Qt.Orientation.Vertical) for r in range(tab.table_model.rowCount())
    ]
    assert not any("worst" in str(text) for text in levels)
    tab.resize(1500, 700)
    tab.show()
    qtbot.waitExposed(tab)
    if os.environ.get("RSDESK_SCREENSHOT"):
        tab.grab().save(os.environ["RSDESK_SCREENSHOT"])
    tab.results.reset(None)
    assert m.rowCount() == 0 and not tab.headline.isVisibleTo(tab)


def test_the_adaptive_preset_is_offered():
    assert "adaptive" in dict(PRESET_CHOICES)
