"""The ``rsdesk`` command line: JSON contract, many inputs per run, clear errors and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import CAMERA, COFFEE, error_lines, records

from rsdesk import __version__
from rsdesk.cli import main
from rsdesk.core.io.images import load_image

pytestmark = pytest.mark.slow


def _check_top5(top5: list) -> None:
    assert len(top5) == 5
    for c in top5:
        assert set(c) == {"index", "label", "prob"}
        assert isinstance(c["index"], int) and isinstance(c["label"], str) and 0 <= c["prob"] <= 1
    probs = [c["prob"] for c in top5]
    assert probs == sorted(probs, reverse=True)


@pytest.fixture
def bad_inputs(tmp_path) -> list[Path]:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    return [text]


# ----- classify -----------------------------------------------------------------------------------


def test_classify_json(capsys):
    assert main(["classify", "--json", str(COFFEE), str(CAMERA)]) == 0
    captured = capsys.readouterr()
    recs = records(captured.out)
    assert [r["file"] for r in recs] == [str(COFFEE), str(CAMERA)]
    for r in recs:
        assert set(r) == {"file", "top5", "seconds"}
        _check_top5(r["top5"])
        assert r["seconds"] >= 0
    assert recs[0]["top5"][0] == {"index": 967, "label": "espresso", "prob": recs[0]["top5"][0]["prob"]}
    assert recs[1]["top5"][0]["index"] == 872  # tripod
    assert not error_lines(captured.err)


def test_classify_text_and_folders(capsys, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(COFFEE, folder / "a.jpg")
    (folder / "readme.txt").write_text("ignored: not an image suffix")
    assert main(["classify", str(folder)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"{folder / 'a.jpg'}: espresso 0.")


def test_classify_bad_input_among_good_ones(capsys, bad_inputs):
    code = main(["classify", "--json", str(COFFEE), str(bad_inputs[0]), str(CAMERA)])
    captured = capsys.readouterr()
    assert code != 0
    recs = records(captured.out)
    assert [r["file"] for r in recs] == [str(COFFEE), str(CAMERA)]  # the good ones are still processed
    errors = error_lines(captured.err)
    assert errors == ["error: notes.jpg: not an image file RSDesk can read"]
    assert "Traceback" not in captured.err


def test_classify_missing_file(capsys, tmp_path):
    assert main(["classify", str(tmp_path / "gone.png")]) == 1
    assert error_lines(capsys.readouterr().err) == ["error: gone.png: file not found"]


def test_cuda_without_cuda_is_a_clear_error(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    assert main(["classify", "--device", "cuda", str(COFFEE)]) == 2
    err = capsys.readouterr().err
    assert error_lines(err) == ["error: CUDA was requested but no CUDA device is available; use --device cpu"]


def test_purify_on_cuda_without_cuda_is_a_clear_error(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    # the RegionSparse defense is built before the classifier: it must check the device the same way
    assert main(["purify", "--device", "cuda", "--out", str(tmp_path), str(COFFEE)]) == 2
    err = capsys.readouterr().err
    assert error_lines(err) == ["error: CUDA was requested but no CUDA device is available; use --device cpu"]
    assert "Traceback" not in err


def test_classifier_without_weights_is_a_clear_error(capsys):
    assert main(["classify", "--classifier", "inception-v3", str(COFFEE)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: inception-v3 needs a weights file")
    assert "Traceback" not in err


def test_classify_as_a_subprocess(tmp_path, bad_inputs):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "rsdesk", "classify", "--json", str(COFFEE), str(bad_inputs[0])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 1, proc.stderr
    recs = records(proc.stdout)
    assert len(recs) == 1 and recs[0]["file"] == str(COFFEE)
    assert recs[0]["top5"][0]["index"] == 967
    _check_top5(recs[0]["top5"])
    assert error_lines(proc.stderr) == ["error: notes.jpg: not an image file RSDesk can read"]
    assert "Traceback" not in proc.stderr


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rsdesk {__version__}"


# ----- attack -------------------------------------------------------------------------------------


def test_attack_json_png(capsys, tmp_path, classifier, bad_inputs):
    out_dir = tmp_path / "adv"
    code = main(
        [
            "attack",
            "--json",
            "--attack",
            "fgsm",
            "--eps",
            "8",
            "--out",
            str(out_dir),
            str(COFFEE),
            str(bad_inputs[0]),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1  # one input failed
    assert len(error_lines(captured.err)) == 1
    (rec,) = records(captured.out)
    assert {"file", "out", "top5", "success", "l2", "linf", "iterations", "seconds"} <= set(rec)
    assert rec["file"] == str(COFFEE)
    saved = Path(rec["out"])
    assert saved == out_dir / "coffee_fgsm.png" and saved.is_file()
    assert rec["iterations"] == 1
    assert 0 < rec["linf"] <= 8 + 1e-3
    assert rec["l2"] > 0
    _check_top5(rec["top5"])
    # top5 is the prediction on the saved (8-bit) file, and success is judged on it too
    pred = classifier.classify(load_image(saved))
    assert [c["index"] for c in rec["top5"]] == [c.index for c in pred.top(5)]
    np.testing.assert_allclose([c["prob"] for c in rec["top5"]], [c.prob for c in pred.top(5)], atol=1e-5)
    assert rec["success"] == (pred.index != 967)
    # the saved image is the attacked one: within ε of the model-sized original
    orig = classifier.prepare(load_image(COFFEE))
    assert np.abs(load_image(saved) - orig).max() <= 8.5 / 255


def test_attack_npy_keeps_the_exact_image(capsys, tmp_path, classifier):
    code = main(
        [
            "attack",
            "--json",
            "--attack",
            "fgsm",
            "--eps",
            "2",
            "--format",
            "npy",
            "--out",
            str(tmp_path),
            str(COFFEE),
        ]
    )
    assert code == 0
    (rec,) = records(capsys.readouterr().out)
    saved = Path(rec["out"])
    assert saved.suffix == ".npy"
    adv = np.load(saved, allow_pickle=False)
    assert adv.dtype == np.float32 and adv.shape == (224, 224, 3)
    orig = classifier.prepare(load_image(COFFEE))
    assert np.abs(adv - orig).max() * 255 == pytest.approx(rec["linf"], abs=1e-3)
    assert np.linalg.norm(adv.astype(np.float64) - orig) == pytest.approx(rec["l2"], rel=1e-4)  # float32 sum
    assert rec["top5"][0]["index"] == classifier.classify(adv).index


def test_outputs_with_the_same_stem_do_not_overwrite_each_other(capsys, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(COFFEE, a / "photo.2024.jpg")
    shutil.copy(CAMERA, b / "photo.2024.jpg")
    shutil.copy(CAMERA, a / "photo.2024.png")
    out = tmp_path / "out"
    inputs = [str(a / "photo.2024.jpg"), str(b / "photo.2024.jpg"), str(a / "photo.2024.png")]
    assert main(["purify", "--json", "--defense", "none", "--out", str(out), *inputs]) == 0
    recs = records(capsys.readouterr().out)
    names = [Path(r["out"]).name for r in recs]
    # the suffix is appended (a dotted stem is kept whole) and every input gets its own file
    assert names == ["photo.2024_none.png", "photo.2024_none_2.png", "photo.2024_none_3.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert [r["top5"][0]["index"] for r in recs] == [967, 872, 872]
    assert main(["attack", "--json", "--attack", "fgsm", "--eps", "1", "--out", str(out), *inputs[:2]]) == 0
    assert [Path(r["out"]).name for r in records(capsys.readouterr().out)] == [
        "photo.2024_fgsm.png",
        "photo.2024_fgsm_2.png",
    ]


def test_attack_batch_must_be_positive(capsys, tmp_path):
    assert main(["attack", "--batch", "0", "--out", str(tmp_path), str(COFFEE)]) == 2
    assert error_lines(capsys.readouterr().err) == ["error: --batch must be at least 1, got 0"]


def test_attack_batches_give_the_same_results(capsys, tmp_path):
    args = ["attack", "--json", "--attack", "fgsm", "--eps", "4", "--format", "npy", str(COFFEE), str(CAMERA)]
    assert main([*args, "--batch", "1", "--out", str(tmp_path / "one")]) == 0
    one = records(capsys.readouterr().out)
    assert main([*args, "--batch", "2", "--out", str(tmp_path / "two")]) == 0
    two = records(capsys.readouterr().out)
    assert [r["file"] for r in one] == [r["file"] for r in two] == [str(COFFEE), str(CAMERA)]
    for r1, r2 in zip(one, two):
        a1, a2 = np.load(r1["out"]), np.load(r2["out"])
        assert (np.abs(a1 - a2) > 1e-6).mean() < 1e-3  # batching may flip a rare gradient sign
        assert r1["top5"][0]["index"] == r2["top5"][0]["index"]


def test_attack_text_output(capsys, tmp_path):
    assert (
        main(["attack", "--quiet", "--attack", "fgsm", "--eps", "8", "--out", str(tmp_path), str(COFFEE)])
        == 0
    )
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{COFFEE} → {tmp_path / 'coffee_fgsm.png'}: ")
    assert "fooled" in line and "L∞ 8.0/255" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--attack", "deepfool"],
            "error: unknown attack 'deepfool'; choose one of "
            "fgsm, bim, mifgsm, cw, pgd-l2, mifgsm-l2, apgd-ce, apgd-dlr, apgd-ce-l2, apgd-dlr-l2, bpda, "
            "bpda-pgd-l2, bpda-apgd-ce, bpda-apgd-dlr, bpda-apgd-ce-l2, bpda-apgd-dlr-l2, square, square-l2",
        ),
        (["--attack", "fgsm", "--eps", "300"], "error: ε (/255) must be within 0…255, got 300"),
        (["--attack", "bim", "--steps", "0"], "error: --steps: steps must be within 1…10000, got 0"),
        (["--target", "zzzzqqq"], "error: target class 'zzzzqqq' is unknown"),
        (["--target", "cat"], "error: target class 'cat' is ambiguous"),
    ],
)
def test_attack_parameter_errors(capsys, tmp_path, args, message):
    code = main(["attack", *args, "--out", str(tmp_path), str(COFFEE)])
    err = capsys.readouterr().err
    assert code == 2
    assert error_lines(err) == [message]
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


# ----- purify -------------------------------------------------------------------------------------


def test_purify_json(capsys, tmp_path, classifier, bad_inputs):
    code = main(
        [
            "purify",
            "--json",
            "--defense",
            "jpeg",
            "--set",
            "quality=30",
            "--out",
            str(tmp_path / "p"),
            str(bad_inputs[0]),
            str(COFFEE),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert error_lines(captured.err) == ["error: notes.jpg: not an image file RSDesk can read"]
    (rec,) = records(captured.out)
    assert {"file", "out", "top5", "seconds"} <= set(rec)
    saved = Path(rec["out"])
    assert saved == tmp_path / "p" / "coffee_jpeg.png" and saved.is_file()
    _check_top5(rec["top5"])
    assert rec["top5"][0]["index"] == classifier.classify(load_image(saved)).index


def test_purify_regionsparse_npy(capsys, tmp_path):
    code = main(
        [
            "purify",
            "--json",
            "--stride",
            "4",
            "--k",
            "4",
            "--format",
            "npy",
            "--out",
            str(tmp_path),
            str(COFFEE),
        ]
    )
    assert code == 0
    (rec,) = records(capsys.readouterr().out)
    out = np.load(rec["out"], allow_pickle=False)
    assert out.shape == (224, 224, 3) and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--defense", "magnet"], "error: unknown defense 'magnet'; choose one of none, regionsparse"),
        (["--defense", "jpeg", "--set", "quality"], "error: --set expects NAME=VALUE, got 'quality'"),
        (["--defense", "jpeg", "--set", "quality=0"], "error: quality must be within 1…100, got 0"),
        (["--k", "0"], "error: K (sparsity) must be within 1…64, got 0"),
    ],
)
def test_purify_parameter_errors(capsys, tmp_path, args, message):
    code = main(["purify", *args, "--out", str(tmp_path), str(COFFEE)])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = error_lines(err)
    assert line.startswith(message)
    assert "Traceback" not in err


def test_purify_bad_dictionary(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("nope")
    assert main(["purify", "--dictionary", str(bad), "--out", str(tmp_path), str(COFFEE)]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert line.startswith("error: bad.npz: not a RegionSparse dictionary")


def test_purify_with_a_random_dictionary_is_the_notr_ablation(capsys, tmp_path, sample_image):
    from rsdesk.core.io.images import load_npy_image, save_png

    src = save_png(tmp_path / "in.png", sample_image)
    outs = {}
    for name, extra in (("random", ["--dictionary", "random"]), ("bundled", [])):
        out_dir = tmp_path / name
        code = main(["purify", str(src), *extra, "--format", "npy", "--out", str(out_dir), "--json"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        rec = json.loads(captured.out.strip().splitlines()[-1])
        outs[name] = load_npy_image(Path(rec["out"]))
    # Untrained atoms reconstruct the object region differently from the learned ones.
    assert np.abs(outs["random"] - outs["bundled"]).mean() > 1e-3
