"""The Evaluate tab's models: the plan the form builds, the images behind a cell, the table and the checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from evaluation_helpers import CHOICE, synthetic_run
from PySide6.QtCore import Qt

from rsdesk.core.evaluation import PlanError, RunDirectory, parse_plan, summarize
from rsdesk.core.evaluation.builder import parse_strengths
from rsdesk.gui.models.evaluation import (
    CellRole,
    CellTableModel,
    ChecksModel,
    EvaluationResults,
    images_behind,
)
from rsdesk.gui.models.evaluation_plan import PlanChoice, build_plan, input_paths


def test_the_form_builds_the_plan_the_cli_would_run():
    plan = parse_plan(build_plan(CHOICE))
    assert set(plan.attacks) == {"fgsm"} and set(plan.defenses) == {"none", "jpeg", "squeeze"}
    assert plan.experiments[0].strengths == {"fgsm": (4.0, 12.0)}
    transfer = parse_plan(build_plan(PlanChoice(attacks=("fgsm", "cw"), threat="transfer")))
    assert {a.threat for a in transfer.attacks.values()} == {"transfer"}
    assert transfer.experiments[0].strengths["cw@lite2"] == (0.05, 0.1)  # d for an L2 attack
    aware = parse_plan(build_plan(PlanChoice(attacks=("bim",), threat="aware", steps=3)))
    assert {a.threat for a in aware.attacks.values()} == {"graybox", "aware"}
    assert all(a.params["steps"] == 3 for a in aware.attacks.values())
    assert set(parse_plan(build_plan(PlanChoice(preset="demo"))).attacks) == {"fgsm", "bim"}
    with pytest.raises(PlanError, match="at least one attack"):
        build_plan(PlanChoice(attacks=()))
    with pytest.raises(PlanError, match="within"):
        build_plan(PlanChoice(linf=(400.0,)))
    with pytest.raises(ValueError, match="'x' is not a number"):
        parse_strengths("4, x", "ε")
    with pytest.raises(ValueError, match="select images"):
        input_paths(None, [], use_selection=True)


def _results(tmp_path: Path) -> tuple[EvaluationResults, list[dict]]:
    correct = {
        ("fgsm", 4.0, "none"): {"img0.png"},
        ("fgsm", 4.0, "jpeg"): {"img0.png", "img1.png", "img2.png"},
        ("fgsm", 12.0, "jpeg"): {"img1.png"},
    }
    run = synthetic_run(tmp_path / "run", correct)
    rd = RunDirectory(run)
    run_json, rows = rd.read_json("plan.json"), rd.read_rows()
    results = EvaluationResults()
    results.reset(run)
    results.set_run_json(run_json)
    results.add_rows(rows)
    results.set_summary(summarize(run_json, rows), len(rows), len(rows))
    return results, rows


def test_images_behind_a_cell_by_outcome(tmp_path):
    results, rows = _results(tmp_path)
    s = results.summary
    cell = ("fgsm", 4.0, "jpeg")
    assert images_behind(s, rows, cell, "correct") == ["img0.png", "img1.png", "img2.png"]
    assert images_behind(s, rows, cell, "wrong") == ["img3.png"]
    assert images_behind(s, rows, cell, "recovered") == ["img1.png", "img2.png"]  # img0 was never fooled
    assert images_behind(s, rows, ("fgsm", 4.0, "none"), "recovered") == ["img0.png"]  # no defense: right
    assert len(images_behind(s, rows, cell, "all")) == 4
    assert results.image_paths(["img3.png"]) == [tmp_path / "run" / "img3.png"]
    assert results.adversarial_file(("fgsm", 12.0, "jpeg"), "img1.png").parts[-3:] == (
        "fgsm",
        "12",
        "img1.png.npy",
    )


def test_table_and_checks_models(qtbot, tmp_path):
    results = EvaluationResults()
    table, checks = CellTableModel(results), ChecksModel(results)
    filled, _rows = _results(tmp_path)
    results.reset(filled.run_dir)
    results.set_run_json(filled.run_json)
    results.set_summary(filled.summary, 1, 1)
    assert (table.rowCount(), table.columnCount()) == (3, 3)  # clean, ε 4, ε 12 × none/jpeg/squeeze
    assert table.headerData(1, Qt.Orientation.Vertical) == "FGSM ε 4/255"
    assert table.headerData(1, Qt.Orientation.Horizontal) == "JPEG\ncompression"
    index = table.index(1, 1)
    assert index.data(CellRole) == ("fgsm", 4.0, "jpeg")
    assert index.data().startswith("75 (")  # 3 of 4, with the Wilson interval
    assert table.index_of(("fgsm", 4.0, "jpeg")) == index
    assert table.index_of(("fgsm", 0.0, "squeeze")) == table.index(0, 2)
    marks = [checks.index(r).data().split(":")[0] for r in range(checks.rowCount())]
    assert marks and all(m.split()[0] in ("✔", "✖", "–") for m in marks)
    failed = [m for m in marks if "FAILED" in m]
    assert marks[: len(failed)] == failed  # failed checks come first
    results.reset(None)
    assert table.rowCount() == 0 and checks.rowCount() == 0
