"""Qt-free judgements the panels show: verdicts, distortion metrics, and derived images.

The verdict words are what the audience reads from the back of the room, so they are decided here once,
with the reasoning in one place, instead of in each widget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np


class Verdict(Enum):
    """What one panel's prediction means relative to the reference class. Values are the shown words."""

    CORRECT = "correct"
    MISCLASSIFIED = "misclassified"  # the clean image is already wrong (true label known)
    REFERENCE = "reference"  # no true label: the clean prediction is what later stages are judged against
    FOOLED = "FOOLED"
    RECOVERED = "RECOVERED"
    STILL_FOOLED = "STILL FOOLED"
    BROKEN = "BROKEN"  # the attack failed but the defense itself changed the prediction

    @property
    def good(self) -> bool:
        return self in (Verdict.CORRECT, Verdict.RECOVERED, Verdict.REFERENCE)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    note: str = ""


def judge_original(predicted: int, true_label: int | None) -> Judgement:
    """The clean image: correct / misclassified against a known label, else it becomes the reference."""
    if true_label is None:
        return Judgement(Verdict.REFERENCE, "no true label: later panels are judged against this prediction")
    if predicted == true_label:
        return Judgement(Verdict.CORRECT)
    return Judgement(Verdict.MISCLASSIFIED, "wrong even before any attack")


def judge_adversarial(predicted: int, reference: int, target: int | None = None) -> Judgement:
    """The attacked image on the bare classifier: FOOLED when it left the reference class."""
    if predicted == reference:
        return Judgement(Verdict.CORRECT, "the attack did not change the prediction")
    if target is None:
        return Judgement(Verdict.FOOLED)
    if predicted == target:
        return Judgement(Verdict.FOOLED, "target class reached")
    return Judgement(Verdict.FOOLED, "moved off the class, but missed the target")


def judge_purified(predicted: int, reference: int, adversarial_fooled: bool) -> Judgement:
    """The purified adversarial image: RECOVERED / STILL FOOLED (or correct / BROKEN if the attack failed)."""
    if adversarial_fooled:
        if predicted == reference:
            return Judgement(Verdict.RECOVERED)
        return Judgement(Verdict.STILL_FOOLED)
    if predicted == reference:
        return Judgement(Verdict.CORRECT)
    return Judgement(Verdict.BROKEN, "the defense itself changed the prediction")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two [0, 1] images (inf when identical)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


@dataclass(frozen=True)
class PerturbationStats:
    l2: float  # ‖δ‖₂ in [0, 1] pixel units
    linf: float  # max |δ| in /255 units
    d: float  # ‖δ‖₂ / ‖x‖₂


def perturbation_stats(original: np.ndarray, adversarial: np.ndarray) -> PerturbationStats:
    """L2 / L∞ / relative d of ``adversarial − original`` (same units as the core's AttackOutcome)."""
    delta = np.asarray(adversarial, np.float64) - np.asarray(original, np.float64)
    l2 = float(np.linalg.norm(delta))
    norm = float(np.linalg.norm(np.asarray(original, np.float64)))
    return PerturbationStats(l2, float(np.abs(delta).max(initial=0.0)) * 255.0, l2 / max(norm, 1e-12))


def amplify_difference(a: np.ndarray, b: np.ndarray, gain: float | None = None) -> tuple[np.ndarray, float]:
    """``(a − b)`` made visible: mid-grey is zero, scaled by ``gain`` (auto: the largest change fills 0…1).

    Returns the image and the gain used, so the panel can say "×N".
    """
    delta = np.asarray(a, np.float32) - np.asarray(b, np.float32)
    peak = float(np.abs(delta).max(initial=0.0))
    if gain is None:
        gain = 0.5 / peak if peak > 1e-8 else 1.0
    return np.clip(0.5 + gain * delta, 0.0, 1.0).astype(np.float32), float(gain)


def overlay_mask(img: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Tint the object region and darken the background, with the region's outline drawn in white."""
    base = np.asarray(img, np.float32)
    m = np.asarray(mask, bool)
    tint = np.array([1.0, 0.75, 0.1], np.float32)
    out = base * 0.45  # background: darkened, still recognisable
    out[m] = (1 - alpha) * base[m] + alpha * tint
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.ascontiguousarray(out)
    cv2.drawContours(out, contours, -1, (1.0, 1.0, 1.0), thickness=1)
    return np.clip(out, 0.0, 1.0)
