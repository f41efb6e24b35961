"""Classifiers: the registry of families (one ClassifierSpec each), the classifier wrapper, weights files,
CAM and activation profiles.

``rsdesk.core.models.load_classifier`` is the successor of the old ``rsdesk.core.classifier.load_classifier``;
which names it accepts is :data:`rsdesk.core.models.registry.FAMILIES`'s business.
"""

from rsdesk.core.models.classifier import Classifier, load_classifier, resolve_device
from rsdesk.core.models.registry import (
    DEFAULT_CLASSIFIER,
    ClassifierSpec,
    available_classifiers,
    classifier_spec,
    source_tag,
)

__all__ = [
    "DEFAULT_CLASSIFIER",
    "Classifier",
    "ClassifierSpec",
    "available_classifiers",
    "classifier_spec",
    "load_classifier",
    "resolve_device",
    "source_tag",
]
