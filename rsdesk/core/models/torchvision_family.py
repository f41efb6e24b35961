"""torchvision's classifiers: the paper's Inception-v3 and every ``torchvision/<arch>``, weights from a file.

RSDesk never downloads weights at run time, so each of these needs a state dict the user names. torchvision
is imported only when one is listed or built: a bundle without it still classifies with EfficientNet-Lite.
:data:`INCEPTION` and :data:`TORCHVISION` are their entries in the classifier registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from rsdesk.core.errors import ClassifierError
from rsdesk.core.models.spec import IMAGENET_MEAN, IMAGENET_STD, ClassifierFamily, ClassifierSpec
from rsdesk.core.models.weights import load_into, read_state_dict

INCEPTION_NAME = "inception-v3"
PREFIX = "torchvision/"


def _relu(_net: nn.Module, feature: Tensor) -> Tensor:
    return torch.relu(feature)


@dataclass(frozen=True)
class _Head:
    """Where CAM hooks in: the last feature map, the linear layer after pooling, and what comes between."""

    feature: str | None
    fc: str | None = None
    activation: Callable[[nn.Module, Tensor], Tensor] | None = None


# By architecture prefix. A ``fc`` means CAM applies directly (global average pooling, then one linear layer).
_HEADS: dict[str, _Head] = {
    "resnet": _Head("layer4", "fc"),
    "resnext": _Head("layer4", "fc"),
    "wide_resnet": _Head("layer4", "fc"),
    "regnet": _Head("trunk_output", "fc"),
    "googlenet": _Head("inception5b", "fc"),
    "efficientnet": _Head("features", "classifier.1"),
    "mobilenet_v2": _Head("features", "classifier.1"),
    "mnasnet": _Head("layers", "classifier.1"),
    "shufflenet": _Head("conv5", "fc"),
    "densenet": _Head("features", None, _relu),  # DenseNet applies a ReLU after ``features``
    "mobilenet_v3": _Head("features"),
    "vgg": _Head("features"),
    "alexnet": _Head("features"),
    "convnext": _Head("features"),
    "squeezenet": _Head("features"),
}


# ----- Inception-v3 ------------------------------------------------------------------------------------
def _build_inception_v3(weights: Path | None) -> nn.Module:
    from torchvision.models import inception_v3

    if weights is None:
        raise ClassifierError(
            "inception-v3 needs a weights file (torchvision's inception_v3 state dict, e.g. "
            "inception_v3_google-0cc3c7bd.pth); pass it with --weights or in Settings"
        )
    state = read_state_dict(Path(weights))
    aux = any(k.startswith("AuxLogits.") for k in state)
    # torchvision's published Inception-v3 weights expect its `transform_input` re-normalization.
    net = inception_v3(weights=None, aux_logits=aux, transform_input=True, init_weights=False)
    return load_into(net, Path(weights), INCEPTION_NAME)


_INCEPTION_SPEC = ClassifierSpec(
    name=INCEPTION_NAME,
    title="Inception-v3",
    input_size=299,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    build=_build_inception_v3,
    needs_weights=True,
    feature_layer="Mixed_7c",
    fc_layer="fc",
    description="The paper's model (torchvision architecture); weights from a local file",
    tag=INCEPTION_NAME,
)

INCEPTION = ClassifierFamily(
    names=lambda: [INCEPTION_NAME],
    spec=lambda name: _INCEPTION_SPEC if name == INCEPTION_NAME else None,
    hint=INCEPTION_NAME,
)


# ----- torchvision/<arch> ------------------------------------------------------------------------------
def _architectures() -> list[str]:
    """torchvision's classification models, sorted; none where torchvision is not installed."""
    try:
        import torchvision
    except ImportError:
        return []
    return sorted(torchvision.models.list_models(torchvision.models))


def _build_torchvision(arch: str, weights: Path | None) -> nn.Module:
    import torchvision

    if weights is None:
        raise ClassifierError(
            f"torchvision/{arch} needs a weights file (an ImageNet state dict saved by torchvision); "
            "RSDesk never downloads weights at run time"
        )
    net = torchvision.models.get_model(arch, weights=None)
    return load_into(net, Path(weights), f"torchvision/{arch}")


def _input_size(arch: str) -> int:
    """The crop size of torchvision's default weights for ``arch`` (metadata only; 224 without any)."""
    import torchvision

    try:
        weights_enum = torchvision.models.get_model_weights(arch)
        crop = getattr(weights_enum.DEFAULT.transforms(), "crop_size", [224])
        return int(crop[0])
    except Exception:  # metadata only; any model without it keeps 224
        return 224


def _torchvision_spec(name: str) -> ClassifierSpec | None:
    if not name.startswith(PREFIX):
        return None
    arch = name.removeprefix(PREFIX)
    if arch not in _architectures():
        return None
    head = next((h for k, h in _HEADS.items() if arch.startswith(k)), _Head(None))
    return ClassifierSpec(
        name=name,
        title=f"torchvision {arch}",
        input_size=_input_size(arch),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        build=lambda weights: _build_torchvision(arch, weights),
        needs_weights=True,
        feature_layer=head.feature,
        fc_layer=head.fc,
        description=f"torchvision's {arch} with ImageNet weights from a local file",
        feature_activation=head.activation,
        tag=arch,
    )


TORCHVISION = ClassifierFamily(
    names=lambda: [PREFIX + a for a in _architectures()],
    spec=_torchvision_spec,
    hint=PREFIX + "<arch>",
)
