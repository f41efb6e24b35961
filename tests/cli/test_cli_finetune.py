"""``rsdesk finetune``: its output, exit codes and ``error:`` lines, Ctrl-C, and resuming after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import error_lines, records, rsdesk
from PIL import Image

from rsdesk.cli import main
from rsdesk.core.io.assets import resource_path

#: one optimization step per epoch on two images (the third is the validation image)
FAST = ["--batch", "2", "--quiet"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ftcli")
    for name in ("camera.jpg", "chelsea.jpg", "coffee.jpg"):
        im = Image.open(resource_path("samples", name)).convert("RGB").resize((128, 96))
        im.save(folder / f"{Path(name).stem}.png")
    return folder


@pytest.mark.slow
def test_finetune_prints_each_epoch_and_the_result_then_finds_it_done(capsys, folder, tmp_path):
    out = tmp_path / "model.pth"
    args = ["finetune", str(folder), "--out", str(out), "--epochs", "1", "--train", "head", *FAST]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch 1/1: loss ") and "validation clean 100.0% (before 100.0%)" in lines[0]
    assert lines[-1].startswith(f"saved {out} (epoch 1 of 1") and lines[-1].endswith(
        f"metadata {tmp_path / 'model.json'}"
    )
    assert main([*args, "--json"]) == 0  # the same command again: finished, nothing to do
    (result,) = records(capsys.readouterr().out)
    assert result["type"] == "result" and result["already_done"] and result["metadata"]["train"] == "head"


@pytest.mark.slow
def test_json_prints_every_epoch_then_the_metadata(capsys, folder, tmp_path):
    out = tmp_path / "m.pth"
    code = main(
        ["finetune", str(folder), "--out", str(out), "--epochs", "1", "--train", "head", "--json", *FAST]
    )
    assert code == 0
    epoch, result = records(capsys.readouterr().out)
    assert epoch["type"] == "epoch" and epoch["epoch"] == 1 and epoch["val_images"] == 1
    assert result["metadata"]["epoch_reports"][0]["train_loss"] == epoch["train_loss"]
    assert result["resumed_from"] == 0 and not result["already_done"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--train", "everything"], "error: train must be one of bn, head, all, got 'everything'"),
        (["--targets", "truth"], "error: targets must be one of model, labels, got 'truth'"),
        (["--epochs", "0"], "error: epochs must be a whole number within 1…10000, got 0"),
        (["--adversarial", "bim"], "error: adversarial must be fgsm (or none), got 'bim'"),
        (["--set", "k=3"], "error: transform parameters or a transform file were given without a transform"),
        (["--transform", "regionsparse", "--set", "k"], "error: --set expects NAME=VALUE, got 'k'"),
        (["--transform", "jpeg", "--dictionary", "d.npz"], "error: JPEG"),
    ],
)
def test_bad_option_values_are_one_error_line_and_exit_2(capsys, folder, tmp_path, options, message):
    assert main(["finetune", str(folder), "--out", str(tmp_path / "m.pth"), *options]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith(message)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_transform_is_one_error_line(capsys, folder, tmp_path):
    assert main(["finetune", str(folder), "--out", str(tmp_path / "m.pth"), "--transform", "nope"]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("error: unknown defense 'nope'; choose one of none, regionsparse")


def test_no_images_is_one_error_line_and_exit_1(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["finetune", str(empty), "--out", str(tmp_path / "m.pth"), "--quiet"]) == 1
    assert error_lines(capsys.readouterr().err) == ["error: empty: no image files in this folder"]
    assert not (tmp_path / "m.pth").exists()


def test_out_is_checked_before_anything(capsys, folder, tmp_path):
    out = tmp_path / "nowhere" / "m.pth"
    assert main(["finetune", str(folder), "--out", str(out), "--train", "everything"]) == 2
    assert error_lines(capsys.readouterr().err) == [
        f"error: cannot save {out}: the folder {tmp_path / 'nowhere'} does not exist"
    ]


@pytest.mark.parametrize("epoch_done", [True, False])
def test_ctrl_c_exits_130_saying_how_to_resume(capsys, folder, tmp_path, monkeypatch, epoch_done):
    import rsdesk.core.training.finetune as core

    out = tmp_path / "m.pth"

    def interrupted(files, config, out_path, **kwargs):
        if epoch_done:
            Path(str(out_path) + ".ckpt").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(core, "finetune", interrupted)
    assert main(["finetune", str(folder), "--out", str(out), "--quiet"]) == 130
    (line,) = error_lines(capsys.readouterr().err)
    if epoch_done:
        kept = f"the finished epochs are kept in {out}.ckpt"
        assert line == f"error: interrupted: {kept}; run the same command to resume"
    else:
        assert line == "error: interrupted before an epoch finished; run the same command to start again"


@pytest.mark.slow
def test_a_run_killed_after_an_epoch_resumes_and_ends_in_the_uninterrupted_file(folder, tmp_path):
    args = [str(folder), "--epochs", "3", *FAST]
    reference = tmp_path / "reference.pth"
    done = rsdesk("finetune", *args, "--out", str(reference), timeout=600)
    assert done.code == 0, done.describe()

    out = tmp_path / "killed.pth"
    checkpoint = Path(f"{out}.ckpt")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rsdesk", "finetune", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpoint.exists(), "no checkpoint was written"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not out.exists()  # killed between epochs: only the checkpoint is there

    resumed = rsdesk("finetune", *args, "--out", str(out), timeout=600)
    assert resumed.code == 0, resumed.describe()
    assert "resumed after epoch " in resumed.out
    assert out.read_bytes() == reference.read_bytes()
    assert not checkpoint.exists()
