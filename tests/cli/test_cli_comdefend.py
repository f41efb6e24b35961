"""``rsdesk train-comdefend`` and ``rsdesk purify --defense comdefend``: training, resuming, the record, and
bad weights refused with one ``error:`` line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import COFFEE, error_lines, records, rsdesk
from PIL import Image

from rsdesk.cli import main
from rsdesk.core.io.assets import resource_path
from rsdesk.core.io.images import load_image

SMALL = ["--epochs", "1", "--steps", "2", "--batch-size", "2", "--patch-size", "16", "--quiet"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "train"
    folder.mkdir()
    for name in ("coffee.jpg", "camera.jpg"):
        img = load_image(resource_path("samples", name))[:40, :48]
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"{Path(name).stem}.png")
    return folder


def test_train_then_again_does_nothing(capsys, tmp_path, folder):
    out = tmp_path / "cd.pth"
    assert main(["train-comdefend", str(folder), *SMALL, "--seed", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"saved {out}: ComDefend trained here on 2 images, 1 epochs")
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["n_images"] == 2 and record["seed"] == 1 and record["steps"] == 2
    assert main(["train-comdefend", str(folder), *SMALL, "--seed", "1", "--out", str(out), "--json"]) == 0
    (rec,) = records(capsys.readouterr().out)
    assert rec["already_done"] is True and rec["n_images"] == 2 and rec["out"] == str(out)


def test_unusable_images_are_reported_and_skipped(capsys, tmp_path, folder):
    (folder / "broken.png").write_text("not a png")
    out = tmp_path / "cd.pth"
    assert main(["train-comdefend", str(folder), *SMALL, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    (line,) = error_lines(captured.err)
    assert line.startswith("error: broken.png") and "Traceback" not in captured.err
    assert out.is_file() and "on 2 images" in captured.out


def test_training_errors(capsys, tmp_path, folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train-comdefend", str(empty), "--quiet", "--out", str(tmp_path / "x.pth")]) == 1
    assert error_lines(capsys.readouterr().err) == ["error: empty: no image files in this folder"]
    assert main(["train-comdefend", str(folder), "--epochs", "0", "--out", str(tmp_path / "x.pth")]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert "epochs must be at least 1" in line
    missing = tmp_path / "nowhere" / "x.pth"
    assert main(["train-comdefend", str(folder), "--quiet", "--out", str(missing)]) == 2
    assert "does not exist" in error_lines(capsys.readouterr().err)[0]


@pytest.mark.slow
def test_purify_with_comdefend_bundled_and_trained(capsys, tmp_path, folder):
    out = tmp_path / "cd.pth"
    assert main(["train-comdefend", str(folder), *SMALL, "--out", str(out)]) == 0
    capsys.readouterr()
    for extra in ([], ["--defense-weights", str(out)]):
        dest = tmp_path / ("own" if extra else "bundled")
        args = ["purify", str(COFFEE), "--defense", "comdefend", *extra, "--out", str(dest), "--json"]
        code = main([*args, "--quiet"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        (rec,) = records(captured.out)
        assert Path(rec["out"]).name == "coffee_comdefend.png" and Path(rec["out"]).is_file()


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_bytes(b"\x00garbage" * 64), "not a plain PyTorch state dict"),
        (lambda p: torch.save({"com.features.0.weight": torch.full((16, 3, 3, 3), float("nan"))}, p), "NaN"),
        (lambda p: torch.save({"fc.weight": torch.zeros(2)}, p), "does not fit ComDefend"),
    ],
)
def test_purify_refuses_bad_weights_in_one_line(capsys, tmp_path, write, message):
    bad = tmp_path / "bad.pth"
    write(bad)
    code = main(
        [
            "purify",
            str(COFFEE),
            "--defense",
            "comdefend",
            "--defense-weights",
            str(bad),
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    (line,) = error_lines(err)
    assert line.startswith("error: bad.pth") and message in line


def test_a_learned_file_option_for_a_defense_that_takes_another(capsys, tmp_path):
    args = ["purify", str(COFFEE), "--defense", "jpeg", "--defense-weights", "w.pth", "--out", str(tmp_path)]
    assert main(args) == 2
    assert error_lines(capsys.readouterr().err) == [
        "error: --defense-weights: JPEG compression takes no ComDefend weights"
    ]
    args = ["purify", str(COFFEE), "--defense", "comdefend", "--dictionary", "random", "--out", str(tmp_path)]
    assert main(args) == 2
    assert error_lines(capsys.readouterr().err) == [
        "error: --dictionary: ComDefend (trained here) takes no dictionary"
    ]


def test_a_truncated_weights_file_in_a_fresh_process(tmp_path):
    bad = tmp_path / "cut.pth"
    bad.write_bytes(resource_path("comdefend.pth").read_bytes()[:5000])
    run = rsdesk(
        "purify", str(COFFEE), "--defense", "comdefend", "--defense-weights", str(bad), "--out", str(tmp_path)
    )
    assert run.code == 2, run.describe()
    assert "Traceback" not in run.err
    assert run.errors == [
        "error: cut.pth: not a plain PyTorch state dict: the file is damaged, truncated or in another format"
    ]
