"""What the registry records about a classifier (:class:`ClassifierSpec`) and about a family of them
(:class:`ClassifierFamily`).

These types live apart from :mod:`.registry` so that a family's module can build its specs without
importing the registry that lists it (the registry imports every family).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from rsdesk.core.io.images import resize_center_crop

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: how a crop is brought to the input size, by the name a spec records (see :meth:`ClassifierSpec.prepare`)
RESIZERS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"bicubic": resize_center_crop}


@dataclass(frozen=True)
class ClassifierSpec:
    """How to build one classifier and feed it: input size, resize, normalization, builder, CAM head."""

    name: str
    title: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    build: Callable[[Path | None], nn.Module] = field(repr=False)
    needs_weights: bool
    #: dotted name of the module whose output is the last convolutional feature map
    feature_layer: str | None = None
    #: dotted name of the linear layer that follows global average pooling (CAM applies), if any
    fc_layer: str | None = None
    description: str = ""
    #: how an image is resized to ``input_size`` (a key of :data:`RESIZERS`)
    interpolation: str = "bicubic"
    #: what the network applies to the feature module's output before pooling (None: nothing)
    feature_activation: Callable[[nn.Module, Tensor], Tensor] | None = field(default=None, repr=False)
    #: short name in plan keys (``fgsm@lite2``); empty: derived from ``name`` (see :func:`default_tag`)
    tag: str = ""
    #: the weights file used when the user names none (one shipped in a pip package), if there is one
    default_weights: Callable[[], Path] | None = field(default=None, repr=False)
    #: the share of the scaled image the center crop keeps (timm's ``crop_pct``; 1.0: the whole shorter side)
    crop_pct: float = 1.0

    def __post_init__(self) -> None:
        if self.interpolation not in RESIZERS:
            raise ValueError(f"{self.name}: unknown interpolation {self.interpolation!r}")
        if not 0.0 < self.crop_pct <= 1.0:
            raise ValueError(f"{self.name}: crop_pct must be in (0, 1], not {self.crop_pct!r}")
        if not self.tag:
            object.__setattr__(self, "tag", default_tag(self.name))

    def prepare(self, img: np.ndarray) -> np.ndarray:
        """Bring an H×W×3 [0, 1] image to the input size the way this classifier expects.

        The shorter side is scaled to ``input_size / crop_pct`` (rounded down, as timm's eval transform
        does) and the central ``input_size`` square is cut. An image already at the input size comes back
        unchanged, so an adversarial image saved at the model's resolution is classified as it was attacked.
        """
        size = self.input_size
        resize = RESIZERS[self.interpolation]
        h, w = img.shape[:2]
        if self.crop_pct >= 1.0 or (h == size and w == size):
            return resize(img, size)
        scaled = resize(img, max(size, math.floor(size / self.crop_pct)))
        top, left = (scaled.shape[0] - size) // 2, (scaled.shape[1] - size) // 2
        return np.ascontiguousarray(scaled[top : top + size, left : left + size])


def default_tag(name: str) -> str:
    """A plan-key tag for a name no spec describes: its last path part, less a leading ``efficientnet-``."""
    return name.split("/")[-1].removeprefix("efficientnet-")


@dataclass(frozen=True)
class ClassifierFamily:
    """A set of classifiers one module knows how to build; the registry asks each family in turn."""

    #: the names offered in menus and by ``available_classifiers()``, in menu order
    names: Callable[[], list[str]]
    #: the spec of one of this family's names; None for a name that is not the family's
    spec: Callable[[str], ClassifierSpec | None]
    #: how the "unknown classifier" error names this family's choices (``torchvision/<arch>``)
    hint: str
