"""What each stage of the pipeline produces for one image: plain, Qt-free records the tasks create on a
worker and the views read on the GUI thread.

Immutable by convention once handed over, except ``cam`` and ``profile``, which the explain stage fills in
later on the GUI thread (kept with the result, so a cached result keeps its CAM).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rsdesk.core.attacks import AttackOutcome
from rsdesk.core.classifier import Prediction
from rsdesk.core.explain import ActivationProfile, Heatmap
from rsdesk.core.verdicts import Judgement, PerturbationStats, Verdict
from rsdesk.gui.models.configs import AttackConfig, DefenseConfig


@dataclass
class OriginalResult:
    path: Path
    image: np.ndarray
    prediction: Prediction
    true_label: int | None
    judgement: Judgement
    cam: Heatmap | None = None
    profile: ActivationProfile | None = None

    @property
    def reference(self) -> int:
        """The class later stages are judged against: the true label, else the clean prediction."""
        return self.true_label if self.true_label is not None else self.prediction.index


@dataclass
class AttackResult:
    config: AttackConfig
    outcome: AttackOutcome
    image: np.ndarray
    prediction: Prediction  # the bare classifier on the adversarial image
    judgement: Judgement
    stats: PerturbationStats
    psnr: float
    seconds: float
    cam: Heatmap | None = None
    profile: ActivationProfile | None = None

    @property
    def fooled(self) -> bool:
        return self.judgement.verdict is Verdict.FOOLED


@dataclass
class PurifyResult:
    defense: DefenseConfig
    title: str
    image: np.ndarray
    prediction: Prediction
    judgement: Judgement
    mask: np.ndarray | None
    coverage: float | None
    removed: np.ndarray  # what the defense changed, amplified (mid-grey = unchanged)
    removed_gain: float
    psnr: float  # purified vs. the clean original
    clean_prediction: Prediction  # the same defense applied to the clean image (the price of defending)
    clean_correct: bool
    seconds: float
    cam: Heatmap | None = None
    profile: ActivationProfile | None = None

    @property
    def recovered(self) -> bool:
        return self.judgement.verdict is Verdict.RECOVERED


@dataclass
class ExplainResult:
    cams: dict[str, Heatmap] = field(default_factory=dict)
    profiles: dict[str, ActivationProfile] = field(default_factory=dict)
