"""ComDefend (Jia et al., CVPR 2019; the RegionSparse paper's baseline [13]) as a learned defense, with
weights trained by RSDesk (:mod:`rsdesk.core.training.comdefend`), never the authors'.

ComDefend compresses an image to a binary code and reconstructs it: a compression CNN (ComCNN) maps every
24-bit pixel to 12 channels, the code is binarized, and a reconstruction CNN (RecCNN) decodes it. What is
followed, from the paper and the authors' code (``compression_imagenet.py``, ``Train_comdefend_TF.py``):

* ComCNN: the input shifted by −0.5, then nine 3×3 convolutions (stride 1, zero padding, bias)
  3→16→32→64→128→256→128→64→32→12, ELU after each but the last; its output is the linear code.
* RecCNN: nine 3×3 convolutions 12→32→64→128→256→128→64→32→16→3, ELU after each but the last, then a
  sigmoid. No batch normalization (the authors' is commented out), no down-sampling: fully convolutional.
* Training: Gaussian noise (σ 20 in the authors' ImageNet weights, ``enc20``) is subtracted from the linear
  code before the sigmoid, so the decoder learns to read an almost binary code; loss
  ``mean((x − Rec(code))²) + λ · mean(code²)`` with λ = 1e-4, where ``code`` is that noisy sigmoid (the
  paper writes the compactness term on Com(x); the authors' code applies it to the sigmoid code, as here).
* Test: the code is ``sigmoid(linear code) > threshold`` (0.5), decoded by RecCNN.

Deviations: the authors' test graph still subtracts noise of σ 1 before thresholding (its ``code_noise``
variable is never fed there); here the threshold is applied to the noiseless code, so the defense is
deterministic. The authors cut ImageNet images into patches; here a large image is processed in tiles
with a margin of the networks' receptive field (18 pixels), which gives the whole-image result. Training
(:mod:`rsdesk.core.training.comdefend`) takes random 32×32 crops and Adam at 5e-4 falling on a cosine: the
authors' constant 1e-3 grew the code past the noise within a few dozen steps here, which stops the
encoder learning. The bundled weights are trained here on 11 license-clean images (with random channel
order, bfloat16 compute; ``resources/PROVENANCE.md``), not on ImageNet, and are not the authors'.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rsdesk.core.defenses.base import Defense, DefenseResult, LearnedFile
from rsdesk.core.io.assets import comdefend_weights_path, file_sha256
from rsdesk.core.models.weights import load_into
from rsdesk.core.params import Param
from rsdesk.core.progress import check_cancel, report

#: ComCNN's channel widths (input → code), as in the authors' code.
COM_WIDTHS = (3, 16, 32, 64, 128, 256, 128, 64, 32, 12)
#: RecCNN's channel widths (code → image).
REC_WIDTHS = (12, 32, 64, 128, 256, 128, 64, 32, 16, 3)
#: how far a pixel's reconstruction looks: 9 + 9 convolutions of radius 1
RECEPTIVE_RADIUS = len(COM_WIDTHS) - 1 + len(REC_WIDTHS) - 1
#: a plan's word for the bundled weights (giving none means the same)
BUNDLED_WEIGHTS = "bundled"
#: the learned file's option: the constructor's keyword, the plan entry's key, ``--defense-weights``
WEIGHTS_OPTION = "defense_weights"
#: the side of the square tiles a large image is reconstructed in (plus the margin on every side)
TILE = 256
#: the largest training record read beside a weights file
_MAX_RECORD_BYTES = 1 << 20


def _conv_stack(widths: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Conv2d(a, b, kernel_size=3, padding=1, bias=True))
        if i < len(widths) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class ComCNN(nn.Module):
    """The compression CNN: an N×3×H×W image in [0, 1] → its N×12×H×W linear (pre-sigmoid) code."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _conv_stack(COM_WIDTHS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x - 0.5)


class RecCNN(nn.Module):
    """The reconstruction CNN: an N×12×H×W code → the N×3×H×W image in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _conv_stack(REC_WIDTHS)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.features(code))


class ComDefendNet(nn.Module):
    """ComCNN and RecCNN; its state dict (``com.*``, ``rec.*``) is what a ComDefend weights file holds."""

    def __init__(self) -> None:
        super().__init__()
        self.com = ComCNN()
        self.rec = RecCNN()

    def forward(
        self, x: torch.Tensor, noise: float = 0.0, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training's path: (reconstruction, soft code ``sigmoid(linear code − noise · N(0, 1))``)."""
        linear = self.com(x)
        if noise:
            # drawn in float32 whatever the compute type, so bfloat16 training draws the same noise
            eps = torch.randn(linear.shape, generator=generator, device=linear.device, dtype=torch.float32)
            linear = linear.float() - noise * eps
        code = torch.sigmoid(linear)
        return self.rec(code), code

    @torch.no_grad()
    def binary_code(self, x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
        """The test-time code: ``sigmoid(linear code) > threshold`` as 0/1 floats."""
        return (torch.sigmoid(self.com(x)) > threshold).to(x.dtype)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
        """Compress to the binary code and decode it (the defense)."""
        return self.rec(self.binary_code(x, threshold))


def record_path(weights: str | os.PathLike[str]) -> Path:
    """The training record beside a weights file: ``F.pth`` → ``F.json``."""
    return Path(weights).with_suffix(".json")


def read_training_record(weights: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON record :func:`~rsdesk.core.training.comdefend.train_comdefend` wrote beside ``weights``,
    if it is there, readable and about this very file (its ``weights_sha256``); else None. A missing or
    damaged record never stops the weights from loading: it only leaves the title without the details."""
    path = record_path(weights)
    try:
        if not path.is_file() or path.stat().st_size > _MAX_RECORD_BYTES:
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("weights_sha256") != file_sha256(weights):
            return None
    except (OSError, ValueError):
        return None
    return record


def record_summary(record: Mapping[str, Any] | None) -> str:
    """``trained here on 11 images, 40 epochs`` (or ``trained here; no training record``)."""
    if not record:
        return "trained here; no training record beside the weights"
    images, epochs = record.get("n_images"), record.get("epochs")
    text = f"trained here on {images} images" if isinstance(images, int) else "trained here"
    return text + (f", {epochs} epochs" if isinstance(epochs, int) else "")


def weights_source(value: object) -> Path:
    """What a plan's or the command line's weights value means: None or ``"bundled"`` → the bundled file,
    anything else → that path (nothing is read)."""
    if value is None or value == BUNDLED_WEIGHTS:
        return comdefend_weights_path()
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise ValueError(f"ComDefend weights must be a file or {BUNDLED_WEIGHTS!r}, not {type(value).__name__}")


def load_comdefend(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> ComDefendNet:
    """A :class:`ComDefendNet` with the weights of ``path`` (a plain state dict: ``torch.load`` with
    ``weights_only``); a damaged, foreign, non-finite or ill-fitting file is one sentence
    (:class:`~rsdesk.core.errors.ClassifierError`, a ``ValueError``)."""
    net = load_into(ComDefendNet(), Path(path), "ComDefend (a ComCNN + RecCNN state dict)")
    return net.float().eval().to(device)


#: ComDefend's learned file: its weights (a file, or the bundled ones).
WEIGHTS_FILE = LearnedFile(
    WEIGHTS_OPTION, "ComDefend weights", (BUNDLED_WEIGHTS,), BUNDLED_WEIGHTS, weights_source
)


def _tiles(size: int, tile: int) -> list[tuple[int, int]]:
    return [(start, min(start + tile, size)) for start in range(0, size, tile)]


class ComDefend(Defense):
    name, title = "comdefend", "ComDefend (trained here)"
    short_title = "ComDefend"
    learned_file = WEIGHTS_FILE
    PARAMS = (
        Param(
            "threshold",
            "code threshold",
            0.5,
            0.01,
            0.99,
            "a code bit is 1 where sigmoid(code) exceeds it (the authors: 0.5)",
        ),
    )
    MAIN_PARAMS = ("threshold",)

    def __init__(
        self,
        defense_weights: str | os.PathLike[str] | None = None,
        device: torch.device | str = "cpu",
        **values: object,
    ) -> None:
        super().__init__(**values)
        self.weights = weights_source(defense_weights)
        self.bundled = self.weights == comdefend_weights_path()
        self.device = torch.device(device)
        self.net = load_comdefend(self.weights, self.device)
        self.record = read_training_record(self.weights)

    def describe(self) -> str:
        """``ComDefend (trained here) (threshold=0.5) [bundled weights: trained here on 11 images, …]``."""
        which = "bundled weights" if self.bundled else f"weights {self.weights.name}"
        return super().describe() + f" [{which}: {record_summary(self.record)}]"

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        check_cancel(cancel)
        x = np.asarray(img, dtype=np.float32)
        if x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"ComDefend purifies H×W×3 images, got shape {x.shape}")
        h, w = x.shape[:2]
        threshold = float(self.values["threshold"])
        src = torch.from_numpy(np.clip(x, 0.0, 1.0)).permute(2, 0, 1)[None].to(self.device)
        out = np.empty_like(x)
        m = RECEPTIVE_RADIUS
        pieces = [(r, c) for r in _tiles(h, TILE) for c in _tiles(w, TILE)]
        for n, ((r0, r1), (c0, c1)) in enumerate(pieces):
            check_cancel(cancel)
            # the tile plus a margin of the receptive field: its centre is exactly the whole image's result
            a0, a1, b0, b1 = max(0, r0 - m), min(h, r1 + m), max(0, c0 - m), min(w, c1 + m)
            y = self.net.reconstruct(src[:, :, a0:a1, b0:b1], threshold)
            part = y[0, :, r0 - a0 : r1 - a0, c0 - b0 : c1 - b0].permute(1, 2, 0)
            out[r0:r1, c0:c1] = part.float().cpu().numpy()
            report(progress, (n + 1) / len(pieces), f"tile {n + 1}/{len(pieces)}")
        return DefenseResult(purified=np.clip(out, 0.0, 1.0), info={"weights": str(self.weights)})
