"""The numeric precision of an attack's gradient steps: fp32 (the default) or bf16 autocast.

Only the crafting runs in bf16: an attack's reference labels and its final verdict are always the fp32
classifier's (:meth:`rsdesk.core.attacks.base.Attack.run`), so a bf16 run is judged exactly as an fp32 one.
bf16 makes each step cheaper (BIM on Lite0, 2 CPU cores with AVX-512 BF16: 1.37× faster per image) at the
price of rougher gradients (82.5 % of the input gradient's signs agree with fp32's on the dev images): at a
budget that fools everything nothing changes, at ε 0.25/255 bf16 fooled 52 of 88 images against fp32's 57
(``benchmarks/bench_precision.py``). fp32 stays the default and the reference for published numbers.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from rsdesk.core.errors import ClassifierError
from rsdesk.core.models.classifier import Classifier
from rsdesk.core.params import Param

PRECISIONS = ("fp32", "bf16")
DEFAULT_PRECISION = "fp32"

#: The setting and option: one spec for the CLI, the plan and the window.
PRECISION = Param(
    "precision",
    "Attack gradients",
    DEFAULT_PRECISION,
    help="bf16: the attack's gradient steps run under bfloat16 autocast (faster where the processor has "
    "bf16 instructions, rougher gradients); labels and verdicts stay fp32",
    choices=PRECISIONS,
)


def check_precision(precision: str) -> str:
    """The precision by its canonical name; an unknown one is a ValueError listing the choices."""
    text = str(precision).strip().lower()
    if text not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return text


@functools.lru_cache(maxsize=8)
def _bf16_reason(device_type: str, index: int | None) -> str | None:
    """Why bf16 autocast cannot be used on the device (None: it can); probed once per device."""
    if device_type == "cuda":
        if not torch.cuda.is_available():
            return "CUDA is not available"
        # Only native bf16: an emulated one would be slower than fp32, which is the point of asking.
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            return f"{torch.cuda.get_device_name(index)} has no native bf16 support"
        return None
    if device_type != "cpu":
        return f"bf16 autocast is not offered for {device_type} devices here"
    if not torch.amp.autocast_mode.is_autocast_available("cpu"):
        return "this PyTorch build has no CPU autocast"
    # PyTorch runs CPU bf16 anywhere, but oneDNN needs AVX-512 (or AVX-512 BF16 / AMX) for its bf16
    # convolutions; without them they fall back to reference kernels far slower than fp32.
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    if not native:
        return "this processor has no bf16 instructions oneDNN can use (AVX-512 or AMX)"
    try:  # and the autocast itself: a tiny convolution must come out in bf16
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = nn.functional.conv2d(torch.ones(1, 3, 4, 4), torch.ones(2, 3, 3, 3))
    except RuntimeError as exc:
        return f"bf16 autocast failed ({exc})"
    if out.dtype != torch.bfloat16:
        return "autocast did not run the convolution in bf16"
    return None


def bf16_unsupported_reason(device: torch.device | str) -> str | None:
    """Why the attacks cannot run in bf16 on ``device``, in words; None where they can."""
    dev = torch.device(device)
    return _bf16_reason(dev.type, dev.index)


def bf16_supported(device: torch.device | str) -> bool:
    """Whether bf16 autocast runs natively on ``device`` (CPU: AVX-512/AMX through oneDNN; CUDA: Ampere+)."""
    return bf16_unsupported_reason(device) is None


def require_precision(precision: str, device: torch.device | str) -> str:
    """The checked precision, usable on ``device``; otherwise one ValueError naming the device and why."""
    name = check_precision(precision)
    if name == "bf16":
        reason = bf16_unsupported_reason(device)
        if reason is not None:
            raise ValueError(f"bf16 attack gradients are not supported on {device}: {reason}; use fp32")
    return name


class GradientModel(nn.Module):
    """A classifier whose forward pass runs under bf16 autocast, returning float32 logits: what an attack
    differentiates when asked for bf16 gradients. Everything else (``device``, ``input_size``, ``spec``,
    ``prepare`` …) is the wrapped classifier's."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model
        self.dtype = torch.bfloat16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.model.device.type, dtype=self.dtype):
            logits = self.model(x)
        return logits.float()

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("model"), name)

    def train(self, mode: bool = True) -> GradientModel:
        super().train(False)  # as the classifier: always in eval mode
        return self

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """Softmax of the bf16 forward pass, in chunks (as :meth:`Classifier.probabilities`)."""
        outs = []
        for i in range(0, x.shape[0], batch_size):
            logits = self(x[i : i + batch_size].to(self.model.device))
            if not bool(torch.isfinite(logits).all()):
                raise ClassifierError(
                    f"{self.model.spec.title} computed NaN or infinite outputs under bf16 autocast"
                )
            outs.append(torch.softmax(logits, dim=1))
        return torch.cat(outs)


def gradient_model(model: Classifier, precision: str = DEFAULT_PRECISION) -> Classifier:
    """The model an attack's gradient steps should use: ``model`` itself for fp32, a bf16-autocast
    :class:`GradientModel` around it for bf16 (ValueError where the device cannot, or for another name)."""
    name = require_precision(precision, model.device)
    if name == "fp32":
        return model
    return GradientModel(model)  # type: ignore[return-value]
