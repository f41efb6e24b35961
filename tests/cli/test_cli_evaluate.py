"""``rsdesk evaluate`` in-process: the tables, --json, option errors checked before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import CAMERA, COFFEE, error_lines, records

from rsdesk.cli import main

pytestmark = pytest.mark.slow


# ----- evaluate -----------------------------------------------------------------------------------


def _labelled_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "eval"
    folder.mkdir()
    shutil.copy(COFFEE, folder / "a.jpg")
    shutil.copy(CAMERA, folder / "b.jpg")
    shutil.copy(COFFEE, folder / "unlabelled.jpg")  # no label: skipped
    (folder / "labels.csv").write_text("file,class_index\na.jpg,967\nb.jpg,872\n")
    return folder


def test_evaluate_prints_its_tables_and_writes_a_run_directory(capsys, tmp_path):
    folder = _labelled_folder(tmp_path)
    out = tmp_path / "run"
    code = main(
        [
            "evaluate",
            str(folder),
            "--attack",
            "fgsm",
            "--strengths",
            "4",
            "--defenses",
            "none,jpeg",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = captured.out
    assert "Counted: 2 of 2 images: those the classifier gets right when clean" in text
    assert "| defense | clean | FGSM ε 4/255 |" in text
    assert "| No defense | 100 (" in text  # both images are classified correctly when clean
    assert "| JPEG compression |" in text
    assert f"run directory: {out}" in text
    assert (out / "results.csv").is_file() and (out / "figures" / "evaluate.png").is_file()
    # the file the walk left out is in plan.json, so the Evaluate tab can say so beside the count
    assert json.loads((out / "plan.json").read_text())["skipped"] == [
        "unlabelled.jpg: no label (labels.csv or an ImageNet synset in its name)"
    ]


def test_evaluate_json_is_the_summary_on_one_line(capsys, tmp_path):
    folder = _labelled_folder(tmp_path)
    code = main(
        ["evaluate", str(folder), "--attack", "fgsm", "--strengths", "2", "--defenses", "none", "--json"]
    )
    captured = capsys.readouterr()
    assert code == 0
    (res,) = records(captured.out)
    assert res["n_images"] == 2 and res["protocol"] == "correct-only"
    cell = next(c for c in res["cells"] if c["strength"] == 0 and c["defense"] == "none")
    assert (cell["n"], cell["accuracy"]) == (2, 1.0)
    assert {c["name"] for c in res["checks"]}
    assert "evaluate" in captured.err  # progress goes to stderr even with --json


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--defenses", "none,magic"], "error: defense 'magic': unknown defense 'magic'"),
        (["--attack", "nope"], "error: unknown attack 'nope'"),
        (["--set", "jpeg.quality=0", "--defenses", "jpeg"], "error: defense 'jpeg': quality must be within"),
        (["--limit", "0"], "error: --limit must be at least 1, got 0"),
        (["--strengths", "abc"], "error: --strengths: 'abc' is not a number"),
        (["--plan", "paper-fig9"], "error: --plan: 'paper-fig9' is neither a preset"),
        (["--attacks", "cw", "--l2-strengths", "8"], "error: experiment 'evaluate': cw takes d"),
    ],
)
def test_evaluate_errors(capsys, tmp_path, args, message):
    folder = _labelled_folder(tmp_path)
    code = main(["evaluate", str(folder), "--strengths", "2", "--quiet", *args])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = error_lines(err)
    assert line.startswith(message)
    assert "Traceback" not in err


def test_evaluate_without_labels(capsys, tmp_path):
    folder = tmp_path / "nolabels"
    folder.mkdir()
    shutil.copy(COFFEE, folder / "x.jpg")
    assert main(["evaluate", str(folder), "--quiet"]) == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("error: no labelled images")


def test_a_preset_takes_the_dictionary_given_for_its_rows_that_name_none(tmp_path):
    import argparse

    from rsdesk.cli.evaluate import build_plan
    from rsdesk.core.io.assets import default_dictionary_path

    d = tmp_path / "mine.npz"
    shutil.copy(default_dictionary_path(), d)
    args = argparse.Namespace(
        plan="paper-fig4",
        dictionary=str(d),
        source=None,
        source_weights=None,
        model=None,
        all_images=False,
        precision=None,
    )
    defenses = build_plan(args)["defenses"]
    rs = [spec for key, spec in defenses.items() if spec.get("defense", key) == "regionsparse"]
    assert rs and all(spec.get("dictionary") for spec in rs)
    assert str(d) in {spec["dictionary"] for spec in rs}
