"""Explanations (spec §8): CAM / Grad-CAM heatmaps and the paper's activation visualization (Section III).

CAM (Zhou et al. 2016) applies to networks that end in global average pooling and one linear layer: the map
is the predicted (or chosen) class's linear weights applied to the last feature map. Other networks get
Grad-CAM (Selvaraju et al. 2017), whose channel weights are the spatially averaged gradients.

Activation visualization: every convolution channel is a feature detector; its activation is the global
max-pool of its output. A layer's total activation is V_l = Σ p_i over p_i > γ (eq. 7), and the paper plots
V_l(adversarial) / V_l(benign) across layers. Heatmaps are drawn over their image by
:func:`rsdesk.core.overlays.overlay_heatmap`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rsdesk.core.models.classifier import Classifier


@dataclass(frozen=True)
class Heatmap:
    heat: np.ndarray  # H×W float32 in [0, 1], at the classifier's input size
    class_index: int
    method: str  # "CAM" or "Grad-CAM"


@contextmanager
def _capture(module: nn.Module, store: dict[str, torch.Tensor]) -> Iterator[None]:
    def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        store["out"] = out

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _last_feature_module(model: Classifier, x: torch.Tensor) -> nn.Module:
    """The module that produced the last spatial feature map in a forward pass (no declared head).

    Only 4-D outputs larger than 1×1 count: a global pooling layer also outputs N×C×1×1, and Grad-CAM
    on it would give a constant heatmap.
    """
    order: list[nn.Module] = []

    def is_map(out: object) -> bool:
        return isinstance(out, torch.Tensor) and out.ndim == 4 and min(out.shape[-2:]) > 1

    handles = [
        m.register_forward_hook(lambda mod, _i, out: order.append(mod) if is_map(out) else None)
        for m in model.net.modules()
        if not list(m.children())
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise ValueError(f"{model.spec.title} has no convolutional feature map to explain")
    return order[-1]


def _normalize(cam: torch.Tensor, size: int) -> np.ndarray:
    cam = F.interpolate(cam[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    cam = cam.clamp_min(0)
    top = float(cam.max())
    if top <= 0:
        return np.zeros((size, size), dtype=np.float32)
    return (cam / top).cpu().numpy().astype(np.float32)


def class_activation_map(model: Classifier, img: np.ndarray, class_index: int | None = None) -> Heatmap:
    """CAM where the network allows it, else Grad-CAM, for ``class_index`` (default: the top-1 class)."""
    x = model.to_tensor(img)
    feature = model.feature_module()
    fc = model.fc_module()
    store: dict[str, torch.Tensor] = {}
    if feature is not None and fc is not None:
        with torch.no_grad(), _capture(feature, store):
            logits = model(x)
        cls = int(logits.argmax(1)) if class_index is None else int(class_index)
        fmap = model.feature_activation(store["out"])[0]  # C×h×w
        cam = torch.einsum("c,chw->hw", fc.weight[cls].to(fmap.dtype), fmap)
        return Heatmap(_normalize(cam, model.input_size), cls, "CAM")
    target = feature if feature is not None else _last_feature_module(model, x)
    with torch.enable_grad(), _capture(target, store):
        xg = x.clone().requires_grad_(True)
        logits = model(xg)
        cls = int(logits.argmax(1)) if class_index is None else int(class_index)
        fmap = store["out"]
        (grad,) = torch.autograd.grad(logits[0, cls], fmap)
    weights = grad[0].mean(dim=(1, 2))
    cam = torch.einsum("c,chw->hw", weights, fmap[0].detach())
    return Heatmap(_normalize(cam, model.input_size), cls, "Grad-CAM")


@dataclass
class ActivationProfile:
    """Global max-pooled activation of every channel of every convolution, in network order."""

    layer_names: list[str]
    values: list[np.ndarray] = field(repr=False)  # one 1-D array (channels) per layer

    def total(self, gamma: float) -> np.ndarray:
        """V_l = Σ p_i over channels with p_i > γ, for every layer (eq. 7)."""
        return np.array([float(v[v > gamma].sum()) for v in self.values], dtype=np.float64)

    def active_fraction(self, gamma: float) -> np.ndarray:
        return np.array([float((v > gamma).mean()) for v in self.values])


def activation_profile(model: Classifier, img: np.ndarray) -> ActivationProfile:
    """Record every Conv2d's channel maxima for one image (one forward pass)."""
    names: list[str] = []
    values: list[np.ndarray] = []
    handles = []

    def make_hook(name: str):  # noqa: ANN202
        def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
            names.append(name)
            values.append(out[0].amax(dim=(1, 2)).float().cpu().numpy())

        return hook

    for name, mod in model.net.named_modules():
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(make_hook(name)))
    try:
        with torch.no_grad():
            model(model.to_tensor(img))
    finally:
        for h in handles:
            h.remove()
    return ActivationProfile(names, values)


def activation_ratio(
    adversarial: ActivationProfile, benign: ActivationProfile, gamma: float = 0.0
) -> np.ndarray:
    """V_l(adversarial) / V_l(benign) per layer (NaN where the benign layer has no active detector)."""
    a, b = adversarial.total(gamma), benign.total(gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / b, np.nan)
