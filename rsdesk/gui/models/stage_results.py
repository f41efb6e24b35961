"""What each stage of the pipeline produces for one image: plain, Qt-free records the tasks create on a
worker and the views read on the GUI thread.

Immutable by convention once handed over, except ``cam`` and ``profile``, which the explain stage fills in
later on the GUI thread (kept with the result, so a cached result keeps its CAM). A purified image is shown
before it is classified: a :class:`PurifyResult` without ``prediction`` is that first, image-only part.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rsdesk.core.attacks import AttackOutcome
from rsdesk.core.models.classifier import Prediction
from rsdesk.core.models.explain import ActivationProfile, Heatmap
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

    @property
    def clean_correct(self) -> bool:
        """The bare classifier gets the clean image right (True without a true label: it is the reference).
        An image it gets wrong before any attack is never FOOLED: there is nothing to fool."""
        return self.prediction.index == self.reference


@dataclass
class AttackResult:
    config: AttackConfig | CachedAttack
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
        """The attack moved a clean image the model got right off its class (never for one it got wrong)."""
        return self.judgement.verdict is Verdict.FOOLED

    @property
    def defense_aware(self) -> bool:
        """The attack aimed at the defended pipeline (BPDA, Square through the defense): its success is
        judged on the Purified panel."""
        return bool(self.config.defense_aware)


@dataclass
class PurifyResult:
    defense: DefenseConfig
    title: str
    image: np.ndarray
    mask: np.ndarray | None
    coverage: float | None
    removed: np.ndarray  # what the defense changed, amplified (mid-grey = unchanged)
    removed_gain: float
    psnr: float  # purified vs. the clean original
    seconds: float
    # The classification, None in the image-only part that the panel shows first.
    prediction: Prediction | None = None
    judgement: Judgement | None = None
    clean_prediction: Prediction | None = None  # the defense applied to the clean image (its price)
    clean_correct: bool | None = None
    cam: Heatmap | None = None
    profile: ActivationProfile | None = None

    @property
    def classified(self) -> bool:
        return self.prediction is not None

    @property
    def recovered(self) -> bool:
        return self.judgement is not None and self.judgement.verdict is Verdict.RECOVERED

    @property
    def beaten(self) -> bool:
        """The noise got through the defense although the bare classifier resisted it (DEFENSE BEATEN)."""
        return self.judgement is not None and self.judgement.verdict is Verdict.DEFEATED


@dataclass(frozen=True)
class CachedAttack:
    """Stands in for an :class:`AttackConfig` when the adversarial image was not crafted here but comes
    from elsewhere (an evaluation's cache): it carries the image and the text that describes it, and its
    key (the pixels' digest) keeps its cached results apart from every attack the toolbar can run."""

    summary: str  # e.g. "BIM ε 14/255 (from evaluation)"
    image: np.ndarray = field(compare=False, repr=False)  # float32 H×W×3 at the classifier's input size
    digest: str = ""
    name: str = "evaluation"  # what an export's file names say
    values: tuple = ()
    target: int | None = None
    defense_key: tuple | None = None
    #: the run's attack aimed at the defended pipeline (set by whoever builds it from the run's attack):
    #: the verdicts judge its success on the Purified panel, as for the toolbar's BPDA
    defense_aware: bool = False

    @classmethod
    def of(
        cls, image: np.ndarray, summary: str, name: str = "evaluation", *, defense_aware: bool = False
    ) -> CachedAttack:
        """A private float32 copy of ``image`` (H×W×3; ValueError otherwise) and its digest; ``name`` is
        what export file names say (the run's attack key, e.g. ``bim``); ``defense_aware``: the run's attack
        went through the defense (``dataclasses.replace`` sets it on one already made just as well)."""
        img = np.array(image, dtype=np.float32, copy=True)
        if img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
            raise ValueError(f"an adversarial image must be H×W×3, got shape {img.shape}")
        safe = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "evaluation"
        digest = hashlib.sha1(img.tobytes()).hexdigest()
        return cls(summary, img, digest, safe, defense_aware=defense_aware)

    @property
    def params(self) -> dict[str, object]:
        return {}

    @property
    def title(self) -> str:
        return self.summary

    @property
    def name_text(self) -> str:
        return self.summary

    def key(self) -> tuple:
        # the judgement depends on defense_aware: a cached result is never shown under the other reading
        return ("cached adversarial", self.summary, self.digest, self.image.shape, self.defense_aware)

    def describe(self) -> str:
        return self.summary


@dataclass
class ExplainResult:
    cams: dict[str, Heatmap] = field(default_factory=dict)
    profiles: dict[str, ActivationProfile] = field(default_factory=dict)
