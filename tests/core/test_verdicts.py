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


def test_batch_perturbation_stats_is_the_single_image_rule_per_image():
    from rsdesk.core.verdicts import batch_perturbation_stats

    rng = np.random.default_rng(0)
    x = rng.random((3, 6, 6, 3), dtype=np.float32)
    adv = np.clip(x + rng.normal(0, 0.02, x.shape).astype(np.float32), 0, 1)
    adv[2] = x[2]  # an unperturbed image: all zeros
    l2, linf, d = batch_perturbation_stats(x, adv)
    assert l2.dtype == linf.dtype == d.dtype == np.float64 and l2.shape == (3,)
    for i in range(3):
        s = perturbation_stats(x[i], adv[i])
        assert (s.l2, s.linf, s.d) == pytest.approx((l2[i], linf[i], d[i]), rel=1e-12)
        delta = adv[i].astype(np.float64) - x[i]
        assert linf[i] == pytest.approx(np.abs(delta).max() * 255)
        assert d[i] == pytest.approx(np.sqrt((delta**2).sum() / (x[i].astype(np.float64) ** 2).sum()))
    assert (l2[2], linf[2], d[2]) == (0.0, 0.0, 0.0)
    # any layout after the leading axis (the attacks measure B×3×H×W, the evaluation B×H×W×3)
    chw = batch_perturbation_stats(x.transpose(0, 3, 1, 2), adv.transpose(0, 3, 1, 2))
    assert np.allclose(chw, (l2, linf, d), rtol=1e-12)
    # a black image has no relative size: d does not divide by zero
    assert np.isfinite(batch_perturbation_stats(np.zeros((1, 4)), np.full((1, 4), 0.1))[2]).all()
