"""The evaluation engine end to end on three small labelled photos: the run directory's files, resuming,
re-using cached adversarials, the summary recomputed from results.csv, and Ray."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from rsdesk.core.evaluation import COLUMNS, RunDirectory, run_evaluation, wilson
from rsdesk.core.evaluation.checkkit import is_worst
from rsdesk.core.io.assets import resource_path
from rsdesk.core.progress import Cancelled

pytestmark = pytest.mark.slow

TIMING = {"seconds", "attack_seconds"}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval") / "photos"
    folder.mkdir()
    for name in ("coffee.jpg", "camera.jpg", "chelsea.jpg"):
        shutil.copy(resource_path("samples", name), folder / name)
    # chelsea is labelled "tabby" (281); the model hesitates between cat classes, so it may not count
    (folder / "labels.csv").write_text("file,class_index\ncoffee.jpg,967\ncamera.jpg,872\nchelsea.jpg,281\n")
    return folder


def small_plan(defenses=("jpeg",), protocol="correct-only"):
    return {
        "protocol": protocol,
        "batch_size": 2,
        "attacks": {"fgsm": {"attack": "fgsm"}, "bim": {"attack": "bim", "params": {"steps": 2}}},
        "defenses": {"none": {}, **{d: {} for d in defenses}},
        "experiments": [
            {"name": "grid", "attacks": {"fgsm": [2, 8], "bim": [4]}, "defenses": list(defenses)}
        ],
    }


@pytest.fixture(scope="module")
def whole(photos, tmp_path_factory):
    """One uninterrupted run that the other tests compare with (or copy and extend)."""
    out = tmp_path_factory.mktemp("whole") / "run"
    run_evaluation(small_plan(), [photos], out)
    return out


def comparable(rows):
    return sorted(tuple(sorted((k, v) for k, v in r.items() if k not in TIMING)) for r in rows)


def test_run_directory_holds_the_contract(whole):
    out = whole
    summary = json.loads((out / "summary.json").read_text())
    for name in ("plan.json", "results.csv", "summary.json", "summary.md", "figures/grid.png"):
        assert (out / name).is_file(), name
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == COLUMNS
    counted = summary["n_counted"]
    assert counted >= 2  # coffee and camera are classified correctly when clean
    # clean rows: 3 images × 2 defenses × 2 attacks; attacked: counted × 3 (attack, strength) × 2 defenses
    assert len(rows) == 3 * 2 * 2 + counted * 3 * 2
    plan = json.loads((out / "plan.json").read_text())
    assert [i["id"] for i in plan["images"]] == ["camera.jpg", "chelsea.jpg", "coffee.jpg"]
    assert len(plan["classifier"]["weights_sha256"]) == 64
    assert plan["packages"]["torch"]
    assert plan["plan"]["attacks"]["bim"]["params"]["steps"] == 2
    # every adversarial is cached as exact float32 at the classifier's input size
    npy = sorted((out / "adversarials").rglob("*.npy"))
    assert len(npy) == counted * 3
    assert np.load(npy[0], allow_pickle=False).shape == (224, 224, 3)
    fgsm8 = [r for r in rows if r["attack"] == "fgsm" and r["strength"] == "8"]
    assert fgsm8 and all(7 < float(r["linf"]) <= 8 + 1e-3 for r in fgsm8)
    assert summary["n_images"] == 3 and summary["protocol"] == "correct-only"
    assert summary["complete"]


def test_summary_equals_counts_recomputed_from_results_csv(whole):
    out = whole
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    counts: dict = {}
    for r in rows:
        if r["counted"] == "1":
            n, k = counts.get((r["attack"], float(r["strength"]), r["defense"]), (0, 0))
            counts[(r["attack"], float(r["strength"]), r["defense"])] = (n + 1, k + int(r["correct"]))
    # the worst case per image over the attacks at each budget is a pseudo-attack of its own (the headline)
    cells = {
        (c["attack"], c["strength"], c["defense"]): c for c in summary["cells"] if not is_worst(c["attack"])
    }
    assert set(cells) == set(counts)
    assert {c["attack"] for c in summary["cells"] if is_worst(c["attack"])} == {"worst-case"}
    for key, (n, k) in counts.items():
        c = cells[key]
        assert (c["n"], c["correct"]) == (n, k)
        assert c["accuracy"] == pytest.approx(k / n)
        assert (c["ci_low"], c["ci_high"]) == pytest.approx(wilson(k, n))
    # an image wrong when clean keeps its clean rows, with counted 0, and is not attacked
    wrong = {
        r["file"] for r in rows if r["defense"] == "none" and r["strength"] == "0" and r["correct"] == "0"
    }
    for r in rows:
        if r["file"] in wrong:
            assert r["counted"] == "0" and r["strength"] == "0"
    assert summary["n_counted"] == 3 - len(wrong)


def test_interrupted_then_resumed_equals_uninterrupted(photos, whole, tmp_path):
    expected = RunDirectory(whole).read_rows()

    part = tmp_path / "part"
    seen = []

    def stop_after_two_units(rows):
        seen.append(len(rows))
        if len(seen) == 3:
            raise KeyboardInterrupt  # Ctrl-C between two units

    with pytest.raises(KeyboardInterrupt):
        run_evaluation(small_plan(), [photos], part, on_rows=stop_after_two_units)
    kept = RunDirectory(part).read_rows()
    assert 0 < len(kept) < len(expected)
    with open(part / "results.csv", "a") as fh:  # power lost in the middle of a line
        fh.write("coffee.jpg,967,graybox,,fgsm,8,jp")
    written = []  # then a cancel (the GUI's button) once one more unit has landed
    with pytest.raises(Cancelled):
        run_evaluation(small_plan(), [photos], part, cancel=lambda: bool(written), on_rows=written.append)
    assert written
    run_evaluation(small_plan(), [photos], part)
    resumed = RunDirectory(part).read_rows()
    assert comparable(resumed) == comparable(expected)
    assert len(resumed) == len({(r["file"], r["attack"], r["strength"], r["defense"]) for r in resumed})


def test_adding_a_defense_reuses_the_cached_adversarials(photos, whole, tmp_path, monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(whole, out)
    from rsdesk.core.attacks.base import Attack

    def no_attacks(*args, **kwargs):
        raise AssertionError("an attack ran although its adversarials were cached")

    monkeypatch.setattr(Attack, "run", no_attacks)
    summary = run_evaluation(small_plan(defenses=("jpeg", "squeeze")), [photos], out)
    rows = RunDirectory(out).read_rows()
    assert {r["defense"] for r in rows} == {"none", "jpeg", "squeeze"}
    assert (
        len([r for r in rows if r["defense"] == "squeeze" and r["strength"] > 0]) == summary["n_counted"] * 3
    )
    assert any(c["defense"] == "squeeze" for c in summary["cells"])


def test_a_run_directory_of_other_images_or_settings_is_refused(photos, whole, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(whole, out)
    with pytest.raises(ValueError, match="other images"):
        run_evaluation(small_plan(), [photos], out, limit=2)
    changed = small_plan()
    changed["attacks"]["bim"]["params"]["steps"] = 3
    with pytest.raises(ValueError, match="attack 'bim' is configured differently"):
        run_evaluation(changed, [photos], out)


def test_ray_local_writes_the_same_rows_as_a_local_run(photos, whole, tmp_path):
    pytest.importorskip("ray")
    local = whole
    on_ray = tmp_path / "ray"
    run_evaluation(small_plan(), [photos], on_ray, ray="local")
    a, b = RunDirectory(local).read_rows(), RunDirectory(on_ray).read_rows()
    assert comparable(a) == comparable(b)
    # the driver writes in the units' order, so even the order of the rows is the same
    assert [(r["file"], r["attack"], r["strength"], r["defense"]) for r in a] == [
        (r["file"], r["attack"], r["strength"], r["defense"]) for r in b
    ]


def test_killed_with_sigkill_then_run_again_equals_uninterrupted(photos, whole, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(small_plan()))
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "rsdesk",
        "evaluate",
        str(photos),
        "--plan",
        str(plan_file),
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if any((out / "adversarials").rglob("*.npy")) if (out / "adversarials").is_dir() else False:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert comparable(RunDirectory(out).read_rows()) == comparable(RunDirectory(whole).read_rows())
    assert not list(out.rglob(".*.tmp"))  # atomic writes leave no temporary file behind after a rerun


def test_a_broken_labels_csv_is_named_and_its_folder_counts_as_unlabelled(tmp_path):
    from rsdesk.core.evaluation.engine import collect_images

    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(tmp_path / "n01440764_a.png")
    (tmp_path / "labels.csv").write_bytes(b"\x00\x01\x02binary")
    problems: list[str] = []
    items = collect_images([tmp_path], on_problem=problems.append)
    assert [i.true_index for i in items] == [0]  # the synset in the name still labels it
    assert problems == [
        f"{tmp_path.name}/labels.csv: not a text file (it holds binary data); its labels were not used"
    ]
