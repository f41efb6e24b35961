"""The command line's answers to bad options and empty inputs (issue 10, items 4, 7, 8): named errors before
any work, nothing found said out loud, non-finite results refused, and progress with an early estimate on
stderr in every mode."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import CAMERA, COFFEE, error_lines

from rsdesk.cli import main
from rsdesk.cli.output import NonFiniteResult, emit
from rsdesk.cli.progress import ProgressBar

# ----- item 4: a non-finite result is an error, and --json stays JSON ----------------------------------


def test_a_record_with_nan_is_an_error_and_nothing_is_printed(capsys):
    record = {"file": "/x/cat.jpg", "top5": [{"index": 1, "label": "goldfish", "prob": float("nan")}]}
    for as_json in (True, False):
        with pytest.raises(NonFiniteResult, match=r"^cat\.jpg: the classifier's output is not a finite"):
            emit(argparse.Namespace(json=as_json), record, "cat.jpg: goldfish nan")
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_classify_with_nan_weights_is_an_error_line_and_no_record(capsys, tmp_path):
    from bad_input_corpus import _nan_state_dict

    torch.save(_nan_state_dict(), tmp_path / "nan.pt")
    code = main(["classify", "--json", "--quiet", str(COFFEE), "--weights", str(tmp_path / "nan.pt")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    (line,) = error_lines(captured.err)
    assert "NaN" in line and "Traceback" not in captured.err


# ----- item 7: nothing found is said, naming the folder, with a non-zero exit --------------------------


@pytest.fixture
def odd_folders(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    (tmp_path / "onlydirs" / "a.jpg").mkdir(parents=True)
    (tmp_path / "onlyfifo").mkdir()
    os.mkfifo(tmp_path / "onlyfifo" / "p.jpg")
    (tmp_path / "loops").mkdir()
    os.symlink("x.jpg", tmp_path / "loops" / "x.jpg")
    os.symlink(".", tmp_path / "loops" / "again")
    return tmp_path


@pytest.mark.parametrize(
    ("folder", "lines"),
    [
        ("empty", ["error: empty: no image files in this folder"]),
        ("onlydirs", ["error: onlydirs: no image files in this folder"]),
        (
            "onlyfifo",
            [
                "error: p.jpg: is not a regular file (a named pipe); skipped",
                "error: onlyfifo: no image files in this folder",
            ],
        ),
        (
            "loops",
            ["error: x.jpg: is a symbolic link loop; skipped", "error: loops: no image files in this folder"],
        ),
    ],
)
@pytest.mark.parametrize("command", ["classify", "attack", "purify", "train-dictionary", "evaluate"])
def test_nothing_found_is_said_and_exits_non_zero(capsys, odd_folders, monkeypatch, folder, lines, command):
    import rsdesk.core.models.classifier as classifier

    def never(*args, **kwargs):
        raise AssertionError("the classifier was loaded although there is nothing to do")

    monkeypatch.setattr(classifier, "load_classifier", never)
    out = odd_folders / ("d.npz" if command == "train-dictionary" else "out")
    extra = {"classify": [], "evaluate": ["--quiet"]}.get(command, ["--quiet", "--out", str(out)])
    assert main([command, str(odd_folders / folder), *extra]) == 1
    errors = error_lines(capsys.readouterr().err)
    if command == "evaluate":  # the evaluation adds why it cannot run
        assert errors[-1].startswith("error: no labelled images")
        errors = errors[:-1]
    assert errors == lines
    assert not out.exists()


# ----- item 8: option errors named before any work -----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alpha", "0"], "error: --alpha: step size (/255) must be greater than 0, got 0"),
        (["--alpha", "-1"], "error: --alpha: step size (/255) must be greater than 0, got -1"),
        (["--eps", "0"], "error: --eps: ε (/255) must be greater than 0, got 0"),
        (["--eps", "inf"], "error: --eps: ε (/255) must be a finite number, got inf"),
        (["--eps", "nan"], "error: --eps: ε (/255) must be a finite number, got nan"),
        (["--steps", "100000000"], "error: --steps: steps must be within 1…10000, got 100000000"),
        (["--steps", "-2"], "error: --steps: steps must be within 1…10000, got -2"),
        (["--attack", "cw", "--d", "0"], "error: --d: target d = ‖δ‖₂/‖x‖₂ must be greater than 0, got 0"),
        (["--attack", "cw", "--c", "-1"], "error: --c: c must be greater than 0, got -1"),
        (["--attack", "cw", "--kappa", "-1"], "error: κ (margin) must be within 0…1000, got -1"),
        (["--attack", "cw", "--steps", "1e8"], None),  # argparse: "invalid int value: '1e8'"
    ],
)
def test_attack_options_are_named_errors_before_any_work(capsys, tmp_path, args, message):
    out = tmp_path / "out"
    if message is None:
        with pytest.raises(SystemExit) as info:
            main(["attack", str(COFFEE), *args, "--out", str(out)])
        assert info.value.code == 2
        assert "argument --steps: invalid int value: '1e8'" in capsys.readouterr().err
    else:
        assert main(["attack", str(COFFEE), *args, "--out", str(out)]) == 2
        assert error_lines(capsys.readouterr().err) == [message]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "error: --limit must be at least 1, got 0"),
        (["--limit", "-3"], "error: --limit must be at least 1, got -3"),
        (["--strengths", "abc"], "error: --strengths: 'abc' is not a number"),
        (["--strengths", "2,nan"], "error: --strengths: 'nan' is not a strength (a finite number ≥ 0)"),
        (["--l2-strengths", "-0.1", "--attacks", "cw"], "error: --l2-strengths: '-0.1' is not a strength"),
        (["--steps", "100000000"], "error: --steps: steps must be within 1…10000, got 100000000"),
    ],
)
def test_evaluate_options_are_named_errors_before_the_images_are_read(capsys, tmp_path, args, message):
    import rsdesk.core.evaluation as evaluation

    def never(*a, **k):
        raise AssertionError("images were read although an option is wrong")

    shutil.copy(COFFEE, tmp_path / "n07920052_coffee.jpg")
    original = evaluation.collect_images
    evaluation.collect_images = never
    try:
        assert main(["evaluate", str(tmp_path), "--quiet", *args]) == 2
    finally:
        evaluation.collect_images = original
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith(message)


def test_evaluate_out_that_is_a_file_is_refused_at_once(capsys, tmp_path):
    (tmp_path / "run").write_text("not a folder")
    assert main(["evaluate", str(tmp_path), "--quiet", "--out", str(tmp_path / "run")]) == 2
    assert error_lines(capsys.readouterr().err) == [
        f"error: cannot save into {tmp_path / 'run'}: it exists and is not a folder"
    ]


@pytest.mark.parametrize("kind", ["loop", "folder"])
def test_weights_that_are_a_link_loop_or_a_folder_are_not_called_missing(capsys, tmp_path, kind):
    weights = tmp_path / "w.pt"
    if kind == "loop":
        os.symlink("w.pt", weights)
    else:
        weights.mkdir()
    assert main(["classify", str(COFFEE), "--weights", str(weights)]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert "not found" not in line and "w.pt" in line
    assert ("link loop" if kind == "loop" else "is a folder") in line


# ----- item 8: progress on stderr in every mode, with an estimate from the first item on ---------------


def test_progress_off_a_terminal_shows_an_estimate_after_the_first_item(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with ProgressBar("work") as bar:
        bar(0.01, "item 1")  # 1 of 100 items: far below the sparse 10 % step
        lines = err.getvalue().splitlines()
    assert lines[0].startswith("work |") and "<?" in lines[0]  # the start: no estimate yet
    assert re.search(r"  1\.0% \[\d\d:\d\d<\d\d:\d\d, item 1\]", lines[1]), lines


@pytest.mark.slow
def test_json_mode_keeps_stdout_pure_and_shows_progress_on_stderr(capsys, tmp_path):
    code = main(["classify", "--json", str(COFFEE), str(CAMERA)])
    captured = capsys.readouterr()
    assert code == 0
    assert [json.loads(line)["file"] for line in captured.out.splitlines()] == [str(COFFEE), str(CAMERA)]
    assert re.search(r"^classify \|.*50\.0% \[\d\d:\d\d<\d\d:\d\d, coffee\.jpg\]", captured.err, re.M), (
        captured.err
    )
