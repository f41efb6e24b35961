"""Helpers for the Evaluate tab's tests: the labelled sample folder, synthetic run directories (written
without running anything), and waiting for the evaluation runner."""

from __future__ import annotations

import shutil
from pathlib import Path

from rsdesk.core.evaluation import COLUMNS, RunDirectory, parse_plan
from rsdesk.core.io.assets import resource_path
from rsdesk.gui.models.evaluation_plan import PlanChoice, build_plan

#: what the tests run: FGSM at two strengths through two defenses (and "no defense", always there)
CHOICE = PlanChoice(attacks=("fgsm",), linf=(4.0, 12.0), defenses=("jpeg", "squeeze"))
SAMPLES = {"coffee.jpg": 967, "camera.jpg": 872, "chelsea.jpg": 285}
TIMING = ("seconds", "attack_seconds")


def labelled_folder(folder: Path) -> Path:
    """Three bundled samples with their true classes in labels.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        shutil.copy(resource_path("samples", name), folder / name)
    lines = ["file,class_index", *(f"{n},{c}" for n, c in SAMPLES.items())]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def comparable(rows: list[dict]) -> list[tuple]:
    """Rows without their timing columns, in a fixed order: what a resumed run must reproduce."""
    return sorted(tuple(r[c] for c in COLUMNS if c not in TIMING) for r in rows)


def synthetic_run(out: Path, correct: dict[tuple[str, float, str], set[str]], n_images: int = 4) -> Path:
    """A run directory of the CHOICE plan with made-up results: ``correct[(attack, strength, defense)]``
    lists the images right in that cell (clean cells: all of them)."""
    plan = build_plan(CHOICE)
    ids = [f"img{i}.png" for i in range(n_images)]
    run = RunDirectory(out)
    run.create()
    run.write_json(
        "plan.json",
        {
            "plan": parse_plan(plan).as_dict(),
            "classifier": {"name": "efficientnet-lite0", "title": "EfficientNet-Lite0"},
            "images": [{"id": i, "path": str(out / i), "true_index": 1} for i in ids],
        },
    )
    rows = []
    for s in (0.0, 4.0, 12.0):
        for d in ("none", "jpeg", "squeeze"):
            for i in ids:
                ok = s == 0 or i in correct.get(("fgsm", s, d), set())
                rows.append(
                    dict.fromkeys(COLUMNS, 0)
                    | {"file": i, "true_index": 1, "threat": "graybox", "source": "", "attack": "fgsm"}
                    | {"strength": s, "defense": d, "pred_index": 1 if ok else 2, "correct": int(ok)}
                    | {"counted": 1, "in_range": 1, "linf": s}
                )
    run.append_rows(rows)
    return out


def wait_idle(qtbot, runner, timeout: int = 180000) -> None:
    """No sweep running and the run directory read and summarized."""
    qtbot.waitUntil(lambda: not runner.is_running() and not runner.is_loading(), timeout=timeout)


def wait_shown(qtbot, tab, timeout: int = 180000) -> None:
    """The Evaluate tab settled: nothing running or being read, every curve drawn."""
    qtbot.waitUntil(tab.is_settled, timeout=timeout)
