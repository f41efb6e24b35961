"""Training ComDefend's two networks (:mod:`rsdesk.core.defenses.comdefend`) on benign images, resumably.

Each step takes a batch of random square crops (seeded: epoch ``e`` draws from ``SeedSequence([seed,
e])``, so a resumed run draws what an uninterrupted one would), subtracts Gaussian noise of σ ``noise``
from the linear code before the sigmoid (the authors' way to make the decoder read a binary code) and
minimizes ``mean((x − Rec(code))²) + λ · mean(code²)`` with Adam (the authors' σ 20 and λ 1e-4; a
learning rate of 5e-4 falling to 0 on a cosine, where the authors' constant 1e-3 failed here; bfloat16
compute on request). After every epoch the networks, Adam's state and the losses are checkpointed
atomically beside the output (:mod:`.checkpoint`): a run stopped by Ctrl-C, a cancel or kill -9 and
started again with the same arguments resumes after its last finished epoch. The end result is a plain
state dict (``torch.load(weights_only=True)`` reads it) and a JSON training record beside it
(``F.pth`` → ``F.json``); a run whose output and record are already there with the same fingerprint
does nothing.

The same images, settings, library versions and torch thread count give bit-identical weights, resumed
or not (CPU convolutions reduce in a fixed order for a given thread count). The decoded training
images are held in memory at 8 bits a channel.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdesk.core.defenses.comdefend import ComDefendNet, read_training_record, record_path
from rsdesk.core.errors import ImageError
from rsdesk.core.io.images import load_image, to_uint8
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report
from rsdesk.core.training.checkpoint import (
    Checkpoint,
    file_sha256,
    fingerprint,
    library_versions,
    save_json,
    save_state_dict,
)

#: what the training record and the fingerprint say this is (changes when the training does)
FORMAT = "rsdesk-comdefend-1"

ImageSource = str | os.PathLike[str] | np.ndarray
#: the learning-rate schedules :attr:`ComDefendConfig.schedule` names
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class ComDefendConfig:
    """Every setting of a training run (all of them enter its fingerprint)."""

    epochs: int = 10
    #: batches in one epoch (the crops are drawn at random, so an epoch is a number of steps)
    steps: int = 100
    batch_size: int = 8
    #: the side of the square training crops
    patch_size: int = 32
    #: Adam's learning rate: the authors' 1e-3 grows this deep, normalization-free net's code past any
    #: noise within a few dozen steps here (its encoder then stops learning); 5e-4 with cosine trains
    lr: float = 5e-4
    #: "cosine": the learning rate falls from ``lr`` to 0 over the run (by step, so resuming keeps it);
    #: "constant": ``lr`` throughout (the authors')
    schedule: str = "cosine"
    #: σ of the Gaussian noise subtracted from the linear code before the sigmoid (training only)
    noise: float = 20.0
    #: λ, the weight of the compactness term mean(code²)
    lam: float = 1e-4
    seed: int = 0
    #: each crop gets a random channel order (hue swaps: more colours from few images; not the authors')
    augment: bool = False
    #: store the weights as float16 (half the file; the defense computes in float32)
    half: bool = False
    #: compute in bfloat16 (autocast, channels-last): several times faster on CPUs with AMX or AVX-512
    #: BF16, slower on others; the weights and Adam's state stay float32
    bf16: bool = False

    def validate(self) -> None:
        """Refuse settings that cannot train, in one sentence each."""
        for name in ("epochs", "steps", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ComDefend training: {name} must be at least 1, got {getattr(self, name)}")
        if not 4 <= self.patch_size <= 512:
            raise ValueError(f"ComDefend training: patch size must be 4 to 512 pixels, got {self.patch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"ComDefend training: the learning rate must be positive, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"ComDefend training: schedule must be one of {', '.join(SCHEDULES)}")
        for name in ("noise", "lam"):
            value = float(getattr(self, name))
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"ComDefend training: {name} must be ≥ 0, got {value}")


@dataclass
class ComDefendTraining:
    """What a call did: where the weights and the record are, and how far it got."""

    out: Path
    record: Path
    n_images: int
    epochs: int
    #: the first epoch this call trained (0: from the start; ``epochs``: nothing was left)
    start_epoch: int = 0
    #: the output was already there with this run's fingerprint: nothing was done
    already_done: bool = False
    #: a checkpoint of another run (or a damaged one) was there and ignored
    stale_checkpoint: bool = False
    final_loss: float = float("nan")
    skipped: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.already_done:
            return f"{self.out} is already trained with these settings and images; nothing to do"
        resumed = f", resumed after epoch {self.start_epoch}" if self.start_epoch else ""
        return (
            f"saved {self.out}: ComDefend trained here on {self.n_images} images, {self.epochs} epochs"
            f"{resumed}; final loss {self.final_loss:.5f}"
        )


def _load(
    files: Sequence[ImageSource], names: Sequence[str] | None, patch: int, cancel: CancelFn | None
) -> tuple[list[np.ndarray], list[dict[str, Any]], list[str]]:
    """The usable images as uint8 H×W×3, one record each (name, SHA-256, size), and the skipped notes."""
    images: list[np.ndarray] = []
    meta: list[dict[str, Any]] = []
    skipped: list[str] = []
    for i, item in enumerate(files):
        check_cancel(cancel)
        is_array = isinstance(item, np.ndarray)
        name = names[i] if names is not None else (f"image #{i}" if is_array else Path(item).name)
        try:
            if is_array:
                img = np.asarray(item)
                if img.ndim != 3 or img.shape[2] != 3:
                    raise ImageError(f"{name}: not an H×W×3 image (shape {img.shape})")
                if min(img.shape[:2]) < patch:
                    raise ImageError(f"{name}: smaller than the {patch}×{patch} training crops")
                pixels = to_uint8(img)
                digest = hashlib.sha256(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()
            else:
                pixels = to_uint8(load_image(item, min_side=patch))
                digest = file_sha256(item)
        except (ImageError, OSError) as exc:
            text = str(exc)
            skipped.append(text if text.startswith(name) else f"{name}: {text}")
            continue
        images.append(np.ascontiguousarray(pixels))
        meta.append({"name": name, "sha256": digest, "size": list(pixels.shape[:2])})
    if not images:
        raise ValueError("no usable training images (" + "; ".join(skipped[:3]) + ")")
    return images, meta, skipped


def _epoch_seed(seed: int, epoch: int, stream: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, epoch, stream])


def _batches(images: list[np.ndarray], config: ComDefendConfig, epoch: int) -> list[torch.Tensor]:
    """The epoch's batches of random crops (N×3×p×p floats in [0, 1]), the same in every run."""
    rng = np.random.default_rng(_epoch_seed(config.seed, epoch, 0))
    p = config.patch_size
    out = []
    for _ in range(config.steps):
        crops = []
        for k in rng.integers(len(images), size=config.batch_size):
            img = images[k]
            y = int(rng.integers(img.shape[0] - p + 1))
            x = int(rng.integers(img.shape[1] - p + 1))
            crops.append(img[y : y + p, x : x + p])
        batch = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
        if config.augment:
            order = torch.from_numpy(np.stack([rng.permutation(3) for _ in crops]))
            batch = batch[torch.arange(len(crops))[:, None], order]
        out.append(batch)
    return out


def _lr(config: ComDefendConfig, step: int, total: int) -> float:
    """The learning rate of global step ``step`` (0-based) of ``total``."""
    if config.schedule == "constant":
        return config.lr
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))


def train_comdefend(
    files: Sequence[ImageSource],
    out: str | os.PathLike[str],
    config: ComDefendConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    *,
    names: Sequence[str] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> ComDefendTraining:
    """Train ComDefend on ``files`` (image paths or H×W×3 [0, 1] arrays; ``names`` label arrays in the
    record) and save the weights to ``out`` and the training record beside it.

    Unusable images are skipped (``on_skip`` hears why; none usable is a ``ValueError``); ``on_epoch(n,
    loss)`` is called after epoch ``n`` (1-based) is checkpointed; ``cancel`` is checked every step and
    raises :class:`~rsdesk.core.progress.Cancelled` (the last finished epoch stays checkpointed).
    """
    config = config or ComDefendConfig()
    config.validate()
    out = Path(out)
    if record_path(out) == out:
        raise ValueError(f"{out.name}: the weights need a name other than the training record's (.json)")
    if not files:
        raise ValueError("no training images given")
    images, meta, skipped = _load(files, names, config.patch_size, cancel)
    for note in skipped:
        if on_skip is not None:
            on_skip(note)
    settings = {
        "format": FORMAT,
        "config": asdict(config),
        "images": [m["sha256"] for m in meta],
        "torch": torch.__version__,
    }
    fp = fingerprint(settings)
    result = ComDefendTraining(out, record_path(out), len(images), config.epochs, skipped=skipped)
    done = read_training_record(out) if out.is_file() else None
    if done is not None and done.get("fingerprint") == fp:
        result.already_done, result.start_epoch = True, config.epochs
        result.final_loss = float(done.get("final_loss", float("nan")))
        report(progress, 1.0, "already trained")
        return result

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = ComDefendNet()
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, betas=(0.9, 0.999))
    ckpt = Checkpoint.beside(out, fp)
    state = ckpt.load()
    result.stale_checkpoint = ckpt.stale
    losses: list[float] = []
    if state is not None:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        losses = [float(v) for v in state["losses"]]
        result.start_epoch = int(state["epoch"])
    net.train()
    layout = torch.channels_last if config.bf16 else torch.contiguous_format
    net = net.to(memory_format=layout)
    total = config.epochs * config.steps
    for epoch in range(result.start_epoch, config.epochs):
        noise = torch.Generator().manual_seed(int(_epoch_seed(config.seed, epoch, 1).generate_state(1)[0]))
        running = 0.0
        for step, x in enumerate(_batches(images, config, epoch)):
            check_cancel(cancel)
            x = x.contiguous(memory_format=layout)
            for group in opt.param_groups:
                group["lr"] = _lr(config, epoch * config.steps + step, total)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                recon, code = net(x, config.noise, noise)
            loss = ((recon.float() - x) ** 2).mean() + config.lam * (code.float() ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise ValueError(
                    "ComDefend training diverged (the loss is not finite); lower the learning rate"
                )
            running += value
            done_steps = epoch * config.steps + step + 1
            report(progress, done_steps / total, f"epoch {epoch + 1}/{config.epochs}, loss {value:.5f}")
        losses.append(running / config.steps)
        ckpt.save(
            {"epoch": epoch + 1, "model": net.state_dict(), "optimizer": opt.state_dict(), "losses": losses}
        )
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1])

    weights = {k: (v.half() if config.half else v) for k, v in net.state_dict().items()}
    save_state_dict(out, weights)
    result.final_loss = losses[-1] if losses else float("nan")
    record = {
        "format": FORMAT,
        "what": "ComDefend (Jia et al., CVPR 2019) weights trained by RSDesk, not the authors' weights",
        "fingerprint": fp,
        "weights_sha256": file_sha256(out),
        "dtype": "float16" if config.half else "float32",
        "n_images": len(images),
        "images": meta,
        **{k: v for k, v in asdict(config).items() if k != "half"},
        "final_loss": result.final_loss,
        "epoch_losses": losses,
        "versions": library_versions(),
        "torch_threads": torch.get_num_threads(),
    }
    save_json(result.record, record)
    ckpt.remove()
    report(progress, 1.0, "saved")
    return result
