"""Verdicts, attack success, perturbation statistics, PSNR and the amplified difference."""

from __future__ import annotations

import numpy as np
import pytest

from rsdesk.core.overlays import amplify_difference
from rsdesk.core.verdicts import (
    Verdict,
    judge_adversarial,
    judge_original,
    judge_purified,
    perturbation_stats,
    psnr,
)


def test_judgements():
    assert judge_original(3, 3).verdict is Verdict.CORRECT
    assert judge_original(3, None).verdict is Verdict.REFERENCE
    assert judge_original(2, 3).verdict is Verdict.MISCLASSIFIED
    assert judge_adversarial(5, 3).verdict is Verdict.FOOLED
    assert judge_adversarial(3, 3).verdict is Verdict.CORRECT
    assert "target" in judge_adversarial(5, 3, target=7).note
    assert judge_purified(3, 3, adversarial_fooled=True).verdict is Verdict.RECOVERED
    assert judge_purified(5, 3, adversarial_fooled=True).verdict is Verdict.STILL_FOOLED
    assert judge_purified(5, 3, adversarial_fooled=False).verdict is Verdict.BROKEN


def test_metrics():
    a = np.zeros((8, 8, 3), np.float32)
    b = a.copy()
    b[0, 0, 0] = 8 / 255
    s = perturbation_stats(a, b)
    assert s.linf == pytest.approx(8.0) and s.l2 == pytest.approx(8 / 255)
    assert psnr(a, a) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(1 / ((8 / 255) ** 2 / 192)), rel=1e-4)
    amp, gain = amplify_difference(b, a)
    assert amp[0, 0, 0] == pytest.approx(1.0) and amp[1, 1, 1] == pytest.approx(0.5) and gain > 1
