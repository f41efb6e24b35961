"""ComDefend training: it writes weights and a record, resumes after a cancel or kill -9 to the same bits as
an uninterrupted run, does nothing when already finished, and skips unusable images."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rsdesk.core.defenses import create_defense
from rsdesk.core.defenses.comdefend import ComDefendNet, read_training_record
from rsdesk.core.progress import Cancelled
from rsdesk.core.training.checkpoint import SUFFIX
from rsdesk.core.training.comdefend import ComDefendConfig, train_comdefend

TINY = ComDefendConfig(epochs=2, steps=2, batch_size=2, patch_size=16, seed=3)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def images(tmp_path) -> list[Path]:
    """Three small PNGs: smooth gradients with a square (photo-like enough for a few steps)."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    paths = []
    for i in range(3):
        rng = np.random.default_rng(i)
        y, x = np.mgrid[0:40, 0:48] / 48.0
        img = np.stack([x, y, 0.5 + 0.4 * np.sin(6 * x + i)], axis=2)
        img[10:25, 12:30] = rng.random(3)
        path = folder / f"img{i}.png"
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert list(wa) == list(wb)
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_training_writes_changed_weights_and_a_record(tmp_path, images):
    out = tmp_path / "cd.pth"
    seen: list[tuple[int, float]] = []
    calls: list[float] = []
    result = train_comdefend(
        images,
        out,
        TINY,
        progress=lambda f, _m: calls.append(f),
        on_epoch=lambda e, loss: seen.append((e, loss)),
    )
    assert [e for e, _ in seen] == [1, 2] and calls[-1] == 1.0
    assert not result.already_done and result.start_epoch == 0 and result.n_images == 3
    assert not out.with_name(out.name + SUFFIX).exists()  # the checkpoint is gone once the output is saved
    with torch.random.fork_rng():
        torch.manual_seed(TINY.seed)
        init = ComDefendNet().state_dict()
    trained = _weights(out)
    assert set(trained) == set(init)
    assert any(not torch.equal(trained[k], init[k]) for k in init)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record == read_training_record(out)
    assert record["n_images"] == 3 and record["epochs"] == 2 and record["seed"] == 3
    assert record["noise"] == 20.0 and record["lam"] == 1e-4 and record["dtype"] == "float32"
    assert [m["name"] for m in record["images"]] == ["img0.png", "img1.png", "img2.png"]
    assert all(len(m["sha256"]) == 64 for m in record["images"])
    assert record["final_loss"] == pytest.approx(seen[-1][1]) and "torch" in record["versions"]
    assert "trained here on 3 images, 2 epochs" in create_defense("comdefend", file=out).describe()


def test_a_finished_run_does_nothing(tmp_path, images):
    out = tmp_path / "cd.pth"
    train_comdefend(images, out, TINY)
    stamp = out.stat().st_mtime_ns
    again = train_comdefend(images, out, TINY, on_epoch=lambda e, loss: pytest.fail("trained again"))
    assert again.already_done and "nothing to do" in again.describe()
    assert out.stat().st_mtime_ns == stamp
    other = train_comdefend(images, out, ComDefendConfig(**{**TINY.__dict__, "seed": 4}))
    assert not other.already_done  # other settings: trained anew


def test_resume_after_a_cancel_gives_the_uninterrupted_bits(tmp_path, images):
    straight = tmp_path / "straight.pth"
    train_comdefend(images, straight, TINY)
    out = tmp_path / "resumed.pth"
    epochs: list[int] = []
    with pytest.raises(Cancelled):
        train_comdefend(
            images, out, TINY, cancel=lambda: bool(epochs), on_epoch=lambda e, loss: epochs.append(e)
        )
    assert epochs == [1] and not out.exists() and out.with_name(out.name + SUFFIX).is_file()
    more: list[int] = []
    result = train_comdefend(images, out, TINY, on_epoch=lambda e, loss: more.append(e))
    assert result.start_epoch == 1 and more == [2]  # epoch 1 is not repeated
    _assert_same(straight, out)
    # torch.save writes the same bytes for the same tensors, so the files are identical too
    assert straight.read_bytes() == out.read_bytes()
    a, b = (json.loads(p.with_suffix(".json").read_text()) for p in (straight, out))
    assert a == b


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path, images):
    out = tmp_path / "cd.pth"
    epochs: list[int] = []
    with pytest.raises(Cancelled):
        train_comdefend(
            images, out, TINY, cancel=lambda: bool(epochs), on_epoch=lambda e, loss: epochs.append(e)
        )
    other = ComDefendConfig(**{**TINY.__dict__, "lr": 2e-3})
    result = train_comdefend(images, out, other)
    assert result.stale_checkpoint and result.start_epoch == 0


def test_seeded_and_half(tmp_path, images):
    a = train_comdefend(images, tmp_path / "a.pth", TINY).out
    b = train_comdefend(images, tmp_path / "b.pth", TINY).out
    c = train_comdefend(images, tmp_path / "c.pth", ComDefendConfig(**{**TINY.__dict__, "seed": 9})).out
    _assert_same(a, b)
    assert any(not torch.equal(x, y) for x, y in zip(_weights(a).values(), _weights(c).values()))
    half = train_comdefend(images, tmp_path / "h.pth", ComDefendConfig(**{**TINY.__dict__, "half": True})).out
    assert all(t.dtype == torch.float16 for t in _weights(half).values())
    assert half.stat().st_size < 0.6 * a.stat().st_size
    assert create_defense("comdefend", file=half).purify(
        np.full((20, 20, 3), 0.5, np.float32)
    ).purified.shape == (20, 20, 3)


def test_unusable_images_are_skipped_and_none_usable_is_an_error(tmp_path, images):
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    small = np.zeros((8, 8, 3), np.float32)
    skipped: list[str] = []
    result = train_comdefend([*images[:2], bad, small], tmp_path / "cd.pth", TINY, on_skip=skipped.append)
    assert result.n_images == 2 and len(skipped) == 2
    assert skipped[0].startswith("bad.png") and "smaller than the 16×16" in skipped[1]
    with pytest.raises(ValueError, match="no usable training images"):
        train_comdefend([bad], tmp_path / "x.pth", TINY)
    with pytest.raises(ValueError, match="other than the training record"):
        train_comdefend(images, tmp_path / "x.json", TINY)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        train_comdefend(images, tmp_path / "x.pth", ComDefendConfig(epochs=0))


_CHILD = """
import sys, time, torch
from pathlib import Path
from rsdesk.core.training.comdefend import ComDefendConfig, train_comdefend
torch.set_num_threads({threads})
config = ComDefendConfig(epochs=2, steps=2, batch_size=2, patch_size=16, seed=3)
def on_epoch(epoch, loss):
    if epoch == 1:
        time.sleep(120)  # killed here, with epoch 1 checkpointed
train_comdefend([Path(p) for p in sys.argv[2:]], sys.argv[1], config, on_epoch=on_epoch)
"""


def test_resume_after_kill_9_gives_the_uninterrupted_bits(tmp_path, images):
    out = tmp_path / "killed.pth"
    ckpt = out.with_name(out.name + SUFFIX)
    code = _CHILD.format(threads=torch.get_num_threads())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(out), *map(str, images)], env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not ckpt.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ckpt.is_file(), "the child never checkpointed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not out.exists()
    result = train_comdefend(images, out, TINY)
    assert result.start_epoch == 1
    straight = train_comdefend(images, tmp_path / "straight.pth", TINY).out
    _assert_same(straight, out)


def test_augmentation_swaps_channels_and_the_schedule_falls():
    from rsdesk.core.training.comdefend import _batches, _lr

    imgs = [(np.random.default_rng(0).random((30, 30, 3)) * 255).astype(np.uint8)]
    plain = _batches(imgs, ComDefendConfig(steps=1, batch_size=4, patch_size=8), 0)[0]
    swapped = _batches(imgs, ComDefendConfig(steps=1, batch_size=4, patch_size=8, augment=True), 0)[0]
    for p, s in zip(plain, swapped):  # the same crops, each in some channel order
        assert sorted(s.flatten().tolist()) == sorted(p.flatten().tolist())
        assert any(
            torch.equal(s, p[list(order)])
            for order in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
        )
    cosine = ComDefendConfig(lr=1e-3)
    assert (
        _lr(cosine, 0, 100) == 1e-3
        and _lr(cosine, 50, 100) == pytest.approx(5e-4)
        and _lr(cosine, 99, 100) < 1e-5
    )
    assert _lr(ComDefendConfig(lr=1e-3, schedule="constant"), 99, 100) == 1e-3
    with pytest.raises(ValueError, match="schedule must be one of cosine, constant"):
        ComDefendConfig(schedule="step").validate()
