"""``rsdesk train-dictionary`` in-process: training, its messages and its --out checks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import error_lines
from PIL import Image

from rsdesk.cli import main
from rsdesk.core.io.assets import resource_path
from rsdesk.core.io.images import load_image
from rsdesk.core.sparse.dictionary_file import load_dictionary

pytestmark = pytest.mark.slow


SMALL = ["--atoms", "16", "--patches-per-image", "200", "--patch-size", "4", "--h", "5"]


@pytest.fixture
def training_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "train"
    folder.mkdir()
    for name in ("coffee.jpg", "camera.jpg", "chelsea.jpg"):
        img = load_image(resource_path("samples", name))[:96, :96]
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"{Path(name).stem}.png")
    return folder


def test_train_dictionary(capsys, tmp_path, training_folder):
    out = tmp_path / "d.npz"
    code = main(["train-dictionary", str(training_folder), *SMALL, "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    d = load_dictionary(out)
    assert d.n_atoms == 16 and d.patch_size == 4 and d.n_images == 3 and d.h == 5
    assert captured.out.startswith(f"saved {out}: 16 atoms, 4×4 patches")


def test_train_dictionary_errors(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train-dictionary", str(empty), "--quiet", "--out", str(tmp_path / "d.npz")]) == 1
    assert error_lines(capsys.readouterr().err) == ["error: empty: no image files in this folder"]
    assert not (tmp_path / "d.npz").exists()
    (empty / "x.png").write_text("not a png")
    assert main(["train-dictionary", str(empty), "--quiet", "--out", str(tmp_path / "d.npz")]) == 2
    err = capsys.readouterr().err
    assert "x.png" in err and "no usable training images" in err
    assert "Traceback" not in err


def test_a_folder_of_only_pipes_links_and_folders_finds_nothing(capsys, tmp_path):
    odd = tmp_path / "odd"
    (odd / "sub.jpg").mkdir(parents=True)
    os.mkfifo(odd / "pipe.jpg")
    os.symlink("loop.jpg", odd / "loop.jpg")
    code = main(["train-dictionary", str(odd), "--quiet", "--out", str(tmp_path / "d.npz")])
    assert code == 1
    assert sorted(error_lines(capsys.readouterr().err)) == [
        "error: loop.jpg: is a symbolic link loop; skipped",
        "error: odd: no image files in this folder",
        "error: pipe.jpg: is not a regular file (a named pipe); skipped",
    ]
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.parametrize(
    "where", ["missing folder", "a folder", "a file as folder", "a folder that takes no files"]
)
def test_out_is_checked_before_any_training(capsys, tmp_path, training_folder, monkeypatch, where):
    if where == "a folder that takes no files" and not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux's /proc")
    import rsdesk.core.sparse.training as dictionary

    def never(*args, **kwargs):
        raise AssertionError("training started although --out cannot be written")

    monkeypatch.setattr(dictionary, "train_dictionary", never)
    (tmp_path / "file").write_text("x")
    out, message = {
        "missing folder": (
            tmp_path / "nowhere" / "d.npz",
            f"cannot save {tmp_path / 'nowhere' / 'd.npz'}: the folder {tmp_path / 'nowhere'} does not exist",
        ),
        "a folder": (tmp_path, f"cannot save {tmp_path}: it is a folder; give a file name"),
        "a file as folder": (
            tmp_path / "file" / "d.npz",
            f"cannot save {tmp_path / 'file' / 'd.npz'}: {tmp_path / 'file'} is not a folder",
        ),
        "a folder that takes no files": (
            Path("/proc/forbidden.npz"),
            "cannot save /proc/forbidden.npz: no file can be created in the folder /proc "
            "(No such file or directory)",
        ),
    }[where]
    assert main(["train-dictionary", str(training_folder), *SMALL, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert error_lines(err) == [f"error: {message}"]
    assert "training" not in err  # no progress: nothing started
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "train"]


def test_bad_training_options_are_named_before_the_images_are_read(capsys, tmp_path):
    out = str(tmp_path / "d.npz")
    code = main(["train-dictionary", str(tmp_path / "nothing"), "--h", "nan", "--out", out])
    assert code == 2
    assert error_lines(capsys.readouterr().err) == ["error: h must be within 0…100, got nan"]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--patch-size", "40"], "error: patch size must be 2…32, got 40"),
        (["--atoms", "5000"], "error: atoms must be 2…4096, got 5000"),
        (["--patches-per-image", "0"], "error: patches per image must be 1…10000000, got 0"),
    ],
)
def test_training_options_are_checked_against_the_core_training_specs(capsys, tmp_path, option, message):
    out = str(tmp_path / "d.npz")
    assert main(["train-dictionary", str(tmp_path / "nothing"), *option, "--out", out]) == 2
    assert error_lines(capsys.readouterr().err) == [message]


def test_options_left_out_take_the_core_training_defaults():
    from rsdesk.cli.router import build_parser
    from rsdesk.core.sparse.training import TRAINING_PARAMS

    args = build_parser().parse_args(["train-dictionary", "x", "--out", "d.npz"])
    assert all(getattr(args, p.name) is None for p in TRAINING_PARAMS)  # the specs' defaults apply at run
