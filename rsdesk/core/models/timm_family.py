"""timm's classifiers: the paper's Inception models, and any ``timm/<name>``, with weights from a local file.

The paper evaluates Inception-v3, Inception-v4 and Inception-ResNet-v2, two of them also in adversarially
trained versions; timm ports all five TensorFlow checkpoints. RSDesk never downloads them: the user fetches
the file (e.g. ``model.safetensors`` of Hugging Face ``timm/inception_v3.tf_adv_in1k``) and names it. The
file is read here, never by timm's loader, as safetensors (which holds no code) or as a plain state dict
(:func:`read_state_dict`, ``weights_only``); timm only builds the network, with ``pretrained=False``.

timm is an optional extra (``pip install 'rsdesk[timm]'``): it is imported only when a ``timm/`` name is
looked up or built, so the app starts without it. Preprocessing (input size, interpolation, crop, mean, std)
is timm's own configuration for the name, read without building the network.
:data:`TIMM` is the family's entry in the classifier registry.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from rsdesk.core.errors import ClassifierError
from rsdesk.core.io.files import require_regular_file
from rsdesk.core.models.spec import RESIZERS, ClassifierFamily, ClassifierSpec
from rsdesk.core.models.weights import misfit, read_state_dict

PREFIX = "timm/"

#: the paper's models, in menu order (timm names: architecture.pretrained tag)
PAPER_MODELS = (
    "inception_v3.tf_in1k",
    "inception_v3.tf_adv_in1k",
    "inception_v4.tf_in1k",
    "inception_resnet_v2.tf_in1k",
    "inception_resnet_v2.tf_ens_adv_in1k",
)

_TITLES = {
    "inception_v3": "Inception-v3",
    "inception_v4": "Inception-v4",
    "inception_resnet_v2": "Inception-ResNet-v2",
}
_TRAINING = {
    "tf_adv_in1k": "adversarially trained (Kurakin et al.)",
    "tf_ens_adv_in1k": "ensemble adversarially trained (Tramèr et al.)",
}

#: keys a file may carry that inference never uses: torchvision-layout Inception-v3 files hold the auxiliary
#: classifier, which timm builds only for training (and loads non-strictly itself)
_UNUSED_PREFIXES = ("AuxLogits.",)


@dataclass(frozen=True)
class _Head:
    """Where CAM hooks in: the last feature map and the linear layer after global average pooling."""

    feature: str | None
    fc: str | None


# The paper's architectures, checked on timm's modules (feature_info's last entry names the same layers).
_ARCH_HEADS: dict[str, _Head] = {
    "inception_v3": _Head("Mixed_7c", "fc"),
    "inception_v4": _Head("features.21", "last_linear"),
    "inception_resnet_v2": _Head("conv2d_7b", "classif"),
}
# Whole timm modules whose every model shares one head layout (ResNet; EfficientNet, MobileNet-v2, MnasNet …).
_MODULE_HEADS: dict[str, _Head] = {
    "timm.models.resnet": _Head("layer4", "fc"),
    "timm.models.efficientnet": _Head("bn2", "classifier"),
}

_NOT_INSTALLED = "timm/ classifiers need timm, which is not installed: pip install 'rsdesk[timm]'"
_DAMAGED = "not a readable safetensors file: the file is damaged, truncated or in another format"


def _installed() -> bool:
    """Whether timm can be imported, without importing it (that takes seconds; menus ask often)."""
    try:
        return importlib.util.find_spec("timm") is not None
    except (ImportError, ValueError):
        return False


def _timm() -> ModuleType:
    """Import timm, offline: the Hugging Face hub it imports reads ``HF_HUB_OFFLINE`` when it loads."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import timm
        import timm.data
        import timm.models
    except ImportError:
        raise ClassifierError(_NOT_INSTALLED) from None
    except Exception as exc:  # a timm that does not fit the installed torch fails in many ways
        raise ClassifierError(
            f"timm is installed but cannot be imported ({type(exc).__name__}: {exc})"
        ) from None
    return timm


# ----- reading the file --------------------------------------------------------------------------------
def _looks_like_safetensors(path: Path) -> bool:
    """By name, or by content: an 8-byte little-endian header length, then the header's JSON ``{``."""
    if path.suffix.lower() == ".safetensors":
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= path.stat().st_size - 8


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file (tensors and a JSON header, nothing executable); one sentence if it fails."""
    if not path.exists() and not path.is_symlink():
        raise ClassifierError(f"weights file not found: {path}")
    require_regular_file(path, "weights file")
    if path.stat().st_size == 0:
        raise ClassifierError(f"{path.name}: the weights file is empty")
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ClassifierError(
            f"{path.name}: reading .safetensors files needs the safetensors package: pip install safetensors"
        ) from None
    try:
        state = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error type, OSError or ValueError
        raise ClassifierError(f"{path.name}: {_DAMAGED}") from exc
    for key, value in state.items():
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            raise ClassifierError(
                f"{path.name}: the weights hold NaN or infinite values (first in {key}); the file is damaged"
            )
    return {k.removeprefix("module."): v for k, v in state.items()}


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: safetensors (by name or content) or a plain PyTorch state dict."""
    path = Path(path)
    if path.is_file() and _looks_like_safetensors(path):
        return _read_safetensors(path)
    return read_state_dict(path)


# ----- fitting it to the network -----------------------------------------------------------------------
def _misfit(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str:
    """What keeps ``state`` from loading into a network with state dict ``own`` ("" when it fits)."""
    # batch norm fills in a missing step counter itself (it is bookkeeping for training, not a weight)
    return misfit(own, state, optional=(".num_batches_tracked",))


def _filtered(net: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """``state`` through timm's checkpoint filter for the architecture, which maps original-layout files
    (e.g. JAX-ported ViTs) to timm's names; None where there is none or it fails. Tensor code only: the file
    was already read, so nothing here unpickles."""
    module = sys.modules.get(type(net).__module__)
    filter_fn = getattr(module, "checkpoint_filter_fn", None)
    if not callable(filter_fn):
        return None
    try:
        try:
            out = filter_fn(dict(state), net)
        except TypeError:  # older filters take the state dict alone, as timm's own loader allows
            out = filter_fn(dict(state))
    except Exception:  # a filter written for another layout; the unfiltered misfit is the message
        return None
    if not isinstance(out, dict) or not all(isinstance(v, torch.Tensor) for v in out.values()):
        return None
    return out


def load_weights(net: nn.Module, path: Path, title: str) -> nn.Module:
    """Load the file at ``path`` into ``net`` only if every parameter fits (after timm's checkpoint filter
    where the file needs it); else one sentence naming what does not, like :func:`load_into`."""
    return _fit(net, read_weights(path), Path(path), title)


def _fit(net: nn.Module, state: dict[str, torch.Tensor], path: Path, title: str) -> nn.Module:
    own = net.state_dict()
    state = {k: v for k, v in state.items() if k in own or not k.startswith(_UNUSED_PREFIXES)}
    problem = _misfit(own, state)
    if problem:
        filtered = _filtered(net, state)
        if filtered is not None and not _misfit(own, filtered):
            state, problem = filtered, ""
    if problem:
        raise ClassifierError(f"{path.name} does not fit {title}: parameters {problem}")
    net.load_state_dict(state)
    return net


def _build(model_name: str, weights: Path | None) -> nn.Module:
    if weights is None:
        raise ClassifierError(
            f"timm/{model_name} needs a weights file, which you fetch yourself (e.g. model.safetensors "
            f"from Hugging Face timm/{model_name}) and pass with --weights or in Settings; RSDesk never "
            "downloads weights"
        )
    timm = _timm()
    path = Path(weights)
    state = read_weights(path)  # a missing, damaged or unsafe file is reported before the network is built
    net = timm.create_model(model_name, pretrained=False, num_classes=1000)
    return _fit(net, state, path, f"timm/{model_name}")


# ----- the spec ----------------------------------------------------------------------------------------
def _head(timm: ModuleType, arch: str, cfg: dict[str, Any]) -> _Head:
    """CAM's layers: known for the paper's architectures and whole timm modules; else timm's classifier
    name only (no feature layer: explanations fall back to Grad-CAM on the last feature map)."""
    if arch in _ARCH_HEADS:
        return _ARCH_HEADS[arch]
    module = getattr(timm.models.model_entrypoint(arch), "__module__", "")
    if module in _MODULE_HEADS:
        return _MODULE_HEADS[module]
    classifier = cfg.get("classifier")
    return _Head(None, classifier if isinstance(classifier, str) else None)


def _description(model_name: str, training: str | None, data: dict[str, Any], interpolation: str) -> str:
    """What the menus say; it also notes where RSDesk's resize differs from timm's eval transform."""
    text = ("The paper's model: " if model_name in PAPER_MODELS else "") + f"timm's {model_name}"
    text += (f", {training}" if training else "") + "; weights from a local file"
    differences = []
    if interpolation != data["interpolation"]:
        differences.append(f"resized {interpolation}, not {data['interpolation']}")
    if data.get("crop_mode", "center") != "center":
        differences.append(f"center crop, not {data['crop_mode']}")
    return text + (f" ({'; '.join(differences)})" if differences else "")


def _triple(values: Any) -> tuple[float, float, float]:
    red, green, blue = (float(v) for v in values)
    return red, green, blue


@functools.lru_cache(maxsize=64)
def _make_spec(model_name: str) -> ClassifierSpec | None:
    timm = _timm()
    if not model_name or not timm.is_model(model_name):
        return None
    arch, tag = timm.models.split_model_name_tag(model_name)
    try:
        pretrained = timm.models.get_pretrained_cfg(model_name)  # metadata only: nothing is built or fetched
    except RuntimeError:  # timm knows the architecture but not this weights tag
        tags = sorted(n.split(".", 1)[1] for n in timm.list_pretrained(f"{arch}.*"))
        raise ClassifierError(
            f"timm has no weights tag {tag!r} for {arch}; choose "
            + (", ".join(f"timm/{arch}.{t}" for t in tags) or f"timm/{arch}")
        ) from None
    cfg = pretrained.to_dict() if pretrained is not None else timm.models.PretrainedCfg().to_dict()
    data = timm.data.resolve_model_data_config(None, pretrained_cfg=cfg)
    _, height, width = data["input_size"]
    if height != width:
        raise ClassifierError(
            f"timm/{model_name} takes {height}×{width} inputs; RSDesk feeds square ones only"
        )
    interpolation = data["interpolation"] if data["interpolation"] in RESIZERS else "bicubic"
    head = _head(timm, arch, cfg)
    tag = tag or (pretrained.tag if pretrained is not None else "") or ""
    title = _TITLES.get(arch, arch)
    return ClassifierSpec(
        name=PREFIX + model_name,
        title=f"{title} (timm, {tag})" if tag else f"{title} (timm)",
        input_size=int(height),
        mean=_triple(data["mean"]),
        std=_triple(data["std"]),
        build=lambda weights: _build(model_name, weights),
        needs_weights=True,
        feature_layer=head.feature,
        fc_layer=head.fc,
        description=_description(model_name, _TRAINING.get(tag), data, interpolation),
        interpolation=interpolation,
        tag=model_name,
        crop_pct=float(data["crop_pct"]),
    )


def _spec(name: str) -> ClassifierSpec | None:
    """The spec of ``timm/<name>`` (None for other names); one sentence when timm is not installed."""
    if not name.startswith(PREFIX):
        return None
    _timm()  # checked on every lookup (cheap once imported), so a removed timm is never served from the cache
    return _make_spec(name.removeprefix(PREFIX))


def _names() -> list[str]:
    """The paper's five models where timm is installed (any other ``timm/<name>`` is accepted too)."""
    return [PREFIX + n for n in PAPER_MODELS] if _installed() else []


TIMM = ClassifierFamily(names=_names, spec=_spec, hint=PREFIX + "<name>")
