"""Verdicts (correct / FOOLED / RECOVERED …), attack success, perturbation statistics and PSNR.

The one place these rules live: the window's panels and gallery, the command line's ``success`` and the
evaluations all call them, so they can never disagree. The verdict words are what the audience reads from
the back of the room.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np


class Verdict(Enum):
    """What one panel's prediction means relative to the reference class. Values are the shown words."""

    CORRECT = "correct"
    MISCLASSIFIED = "misclassified"  # the clean image is already wrong (true label known)
    REFERENCE = "reference"  # no true label: the clean prediction is what later stages are judged against
    FOOLED = "FOOLED"
    RECOVERED = "RECOVERED"
    STILL_FOOLED = "STILL FOOLED"
    BROKEN = "BROKEN"  # the defense gets the clean image wrong too: it, not the attack, broke the answer
    DEFEATED = "DEFENSE BEATEN"  # the bare model resists, the defended one falls: the noise beat the defense

    @property
    def good(self) -> bool:
        """Good news (drawn ✓, told in blue): right, recovered, or the reference."""
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


def attack_success(predicted: int, reference: int, target: int | None = None) -> bool:
    """Whether an attack did what it was asked: untargeted, leave the reference class; targeted, reach the
    target (moving off the class but missing the target is not a success)."""
    return predicted == target if target is not None else predicted != reference


#: Why a defense-aware attack that leaves the bare classifier right is no failure of the attack.
AIMS_BEHIND = "this attack aims at the model behind the defense: see the Purified panel"
#: Who won when a defense-aware attack gets through.
AWARE_WON = "the attacker who knows the defense won"


def judge_adversarial(
    predicted: int,
    reference: int,
    target: int | None = None,
    *,
    clean_correct: bool = True,
    defense_aware: bool = False,
) -> Judgement:
    """The attacked image on the bare classifier: FOOLED when it left the reference class.

    Nobody is fooled who was wrong before: a clean image the model already gets wrong (``clean_correct``
    False, a true label known) is MISCLASSIFIED, never FOOLED. A defense-aware attack (BPDA) is aimed at the
    defended pipeline, so the bare classifier staying right says nothing of its success: the note says
    where to look instead of "the attack did not change the prediction"."""
    if not clean_correct:
        if predicted == reference:
            return Judgement(
                Verdict.CORRECT, "wrong before the attack; the attacked image lands on the true class"
            )
        return Judgement(Verdict.MISCLASSIFIED, "wrong before the attack: there was nothing to fool")
    if predicted == reference:
        if defense_aware:
            return Judgement(Verdict.CORRECT, AIMS_BEHIND)
        return Judgement(Verdict.CORRECT, "the attack did not change the prediction")
    if target is None:
        return Judgement(Verdict.FOOLED)
    if attack_success(predicted, reference, target):
        return Judgement(Verdict.FOOLED, "target class reached")
    return Judgement(Verdict.FOOLED, "moved off the class, but missed the target")


def judge_purified(
    predicted: int,
    reference: int,
    adversarial_fooled: bool,
    *,
    clean_correct: bool = True,
    defended_clean_correct: bool | None = None,
    defense_aware: bool = False,
) -> Judgement:
    """The purified adversarial image: RECOVERED / STILL FOOLED after a successful attack; correct, BROKEN
    or DEFENSE BEATEN after one that left the bare classifier right.

    ``clean_correct``: the bare classifier gets the clean image right (no true label: True);
    ``defended_clean_correct``: the clean image through the defense is right (None: unknown). The defense
    is only blamed (BROKEN) when it gets the clean image wrong too; otherwise the noise won through the
    defense (DEFEATED): the attacker who knows the defense, or a gray-box noise that fools the model only
    after purification."""
    right = predicted == reference
    if not clean_correct:
        if right:
            return Judgement(
                Verdict.CORRECT, "the defense gets right what the model got wrong before any attack"
            )
        return Judgement(Verdict.MISCLASSIFIED, "wrong before any attack")
    clean_too = "the defense gets the clean image wrong too"
    if adversarial_fooled:
        if right:
            return Judgement(Verdict.RECOVERED)
        notes = [AWARE_WON] if defense_aware else []
        if defended_clean_correct is False:
            notes.append(clean_too)
        return Judgement(Verdict.STILL_FOOLED, "; ".join(notes))
    if right:
        return Judgement(Verdict.CORRECT)
    if defended_clean_correct is False:
        return Judgement(Verdict.BROKEN, clean_too)
    if defended_clean_correct is None and not defense_aware:
        return Judgement(Verdict.BROKEN, "the defense itself changed the prediction")
    if defense_aware:
        known = ": the clean image through the defense is right" if defended_clean_correct else ""
        return Judgement(Verdict.DEFEATED, AWARE_WON + known)
    return Judgement(Verdict.DEFEATED, "the noise fools the model only through the defense")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two [0, 1] images (inf when identical)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


@dataclass(frozen=True)
class PerturbationStats:
    """One image's perturbation, as the panels and the export show it."""

    l2: float  # ‖δ‖₂ in [0, 1] pixel units
    linf: float  # max |δ| in /255 units
    d: float  # ‖δ‖₂ / ‖x‖₂


def batch_perturbation_stats(
    original: np.ndarray, adversarial: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image of a batch (leading axis; any layout after it): ``(l2, linf, d)`` of ``adversarial −
    original`` in float64 — ‖δ‖₂ in [0, 1] pixel units, max |δ| in /255 units, ‖δ‖₂ / ‖x‖₂.

    The one definition of these numbers: an attack's outcome, the evaluation's results.csv and the window's
    panels all measure with it, so they agree to the last digit."""
    x = np.asarray(original, np.float64)
    x = x.reshape(len(x), -1)
    delta = np.asarray(adversarial, np.float64).reshape(len(x), -1) - x
    l2 = np.linalg.norm(delta, axis=1)
    linf = np.abs(delta).max(axis=1, initial=0.0) * 255.0
    d = l2 / np.maximum(np.linalg.norm(x, axis=1), 1e-12)
    return l2, linf, d


def perturbation_stats(original: np.ndarray, adversarial: np.ndarray) -> PerturbationStats:
    """L2 / L∞ / relative d of one image (:func:`batch_perturbation_stats` on a batch of one)."""
    l2, linf, d = batch_perturbation_stats(np.asarray(original)[None], np.asarray(adversarial)[None])
    return PerturbationStats(float(l2[0]), float(linf[0]), float(d[0]))


def verdict_story(adversarial: Verdict, purified: Verdict | None = None) -> str:
    """``FOOLED → RECOVERED``: what happened to one image, in the words the panels use."""
    return adversarial.value + (" → " + purified.value if purified is not None else "")
