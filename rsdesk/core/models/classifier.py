"""Image classifiers behind one interface that takes [0, 1] RGB pixels.

Normalization lives inside :class:`Classifier`, so attacks, defenses and explanations all work in pixel
space. Which classifiers exist, and how each is built, is the registry's (:mod:`.registry`). Weights come
from pip packages or from a file the user names: nothing is downloaded at run time, and files are read with
``torch.load(weights_only=True)`` so a downloaded file can never run code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rsdesk.core.errors import ClassifierError
from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.models.registry import DEFAULT_CLASSIFIER, ClassifierSpec, classifier_spec


@dataclass(frozen=True)
class ClassScore:
    index: int
    label: str
    prob: float

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "label": self.label, "prob": round(self.prob, 6)}


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for one image."""

    probs: np.ndarray = field(repr=False)

    @property
    def index(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def confidence(self) -> float:
        return float(self.probs[self.index])

    def top(self, k: int = 5) -> list[ClassScore]:
        classes = imagenet_classes()
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [ClassScore(int(i), classes.name(int(i)), float(self.probs[i])) for i in order]


def resolve_device(device: str | torch.device | None = "cpu") -> torch.device:
    """``"auto"`` picks CUDA when present; asking for CUDA without it is a clear error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ClassifierError("CUDA was requested but no CUDA device is available; use --device cpu")
    if dev.type == "cuda":
        # cuDNN's TF32 convolutions (PyTorch's default) cost attacks their gradients: on an H100 the input
        # gradient was 19 % off the CPU's and 3.5 % of its signs flipped; in full FP32 1e-3 and none.
        torch.backends.cudnn.allow_tf32 = False
    return dev


def _get_submodule(net: nn.Module, dotted: str) -> nn.Module:
    return net.get_submodule(dotted)


class Classifier(nn.Module):
    """A frozen ImageNet classifier that takes B×3×S×S tensors of [0, 1] pixels and returns logits."""

    def __init__(self, net: nn.Module, spec: ClassifierSpec, device: torch.device) -> None:
        super().__init__()
        self.net = net.eval()
        self.spec = spec
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1))
        self.to(device)
        self.device = device

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net((x - self.mean) / self.std)
        return out.logits if hasattr(out, "logits") else out

    def train(self, mode: bool = True) -> Classifier:
        # The wrapped network always stays in eval mode: batch norm and dropout must not change
        # between the attack's forward passes and the classification of its result.
        super().train(False)
        return self

    # ----- numpy convenience -------------------------------------------------------------------
    def prepare(self, img: np.ndarray) -> np.ndarray:
        """Bring an H×W×3 [0, 1] image to the model's input size (see :meth:`ClassifierSpec.prepare`)."""
        return self.spec.prepare(img)

    def to_tensor(self, imgs: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """Stack prepared H×W×3 images into a B×3×S×S float tensor on the model's device."""
        if isinstance(imgs, np.ndarray) and imgs.ndim == 3:
            imgs = [imgs]
        batch = np.stack([self.prepare(np.asarray(im, dtype=np.float32)) for im in imgs])
        return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().to(self.device)

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """Softmax probabilities for a B×3×S×S batch (evaluated in chunks); non-finite logits are an error."""
        outs = []
        for i in range(0, x.shape[0], batch_size):
            logits = self(x[i : i + batch_size].to(self.device))
            if not bool(torch.isfinite(logits).all()):  # damaged weights would give NaN "probabilities"
                raise ClassifierError(
                    f"{self.spec.title} computed NaN or infinite outputs, so it cannot classify; its weights "
                    "are probably damaged"
                )
            outs.append(torch.softmax(logits, dim=1))
        return torch.cat(outs)

    def classify(self, img: np.ndarray) -> Prediction:
        """Classify one H×W×3 image in [0, 1]."""
        return self.classify_many([img])[0]

    def classify_many(self, imgs: Sequence[np.ndarray]) -> list[Prediction]:
        """Classify several images in one batched pass."""
        if not len(imgs):
            return []
        probs = self.probabilities(self.to_tensor(list(imgs))).float().cpu().numpy()
        return [Prediction(p) for p in probs]

    # ----- hooks for explanations ---------------------------------------------------------------
    def feature_module(self) -> nn.Module | None:
        return _get_submodule(self.net, self.spec.feature_layer) if self.spec.feature_layer else None

    def fc_module(self) -> nn.Linear | None:
        if not self.spec.fc_layer:
            return None
        mod = _get_submodule(self.net, self.spec.fc_layer)
        return mod if isinstance(mod, nn.Linear) else None

    def feature_activation(self, feature: torch.Tensor) -> torch.Tensor:
        """Apply what the network does to the feature module's output before pooling (the spec says what:
        EfficientNet-Lite's head activation, DenseNet's ReLU; most networks pool the output directly)."""
        act = self.spec.feature_activation
        return feature if act is None else act(self.net, feature)


def load_classifier(
    name: str = DEFAULT_CLASSIFIER,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = "cpu",
) -> Classifier:
    """Build a classifier by name with weights from its pip package or from ``weights``."""
    spec = classifier_spec(name)
    dev = resolve_device(device)
    path = Path(weights).expanduser() if weights else None
    try:
        net = spec.build(path)
    except ClassifierError:
        raise
    except (RuntimeError, ValueError, OSError) as exc:
        raise ClassifierError(f"could not build {spec.title}: {exc}") from exc
    return Classifier(net, spec, dev)
