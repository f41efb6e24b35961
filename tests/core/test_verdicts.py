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
    verdict_story,
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


# ----- issue 19: a defense-aware win is not the defense's fault; nobody is fooled who was wrong before -----
IBEX, VIZSLA, BRAMBLING, GOLDFINCH, LAKESIDE = 350, 211, 10, 11, 975


def test_every_verdict_says_whether_it_is_good_news():
    good = {v for v in Verdict if v.good}
    assert good == {Verdict.CORRECT, Verdict.RECOVERED, Verdict.REFERENCE}
    for bad in (
        Verdict.FOOLED,
        Verdict.STILL_FOOLED,
        Verdict.BROKEN,
        Verdict.DEFEATED,
        Verdict.MISCLASSIFIED,
    ):
        assert not bad.good
    assert Verdict.DEFEATED.value == "DEFENSE BEATEN"
    assert len({v.value for v in Verdict}) == len(Verdict)  # every word is its own


def test_ibex_bpda_the_attacker_who_knows_the_defense_won_not_the_defense_broke():
    """BPDA ε 8 on ibex: the bare classifier keeps ibex, the defended one falls to vizsla while the clean
    image through the defense is right (ibex 91 %): DEFENSE BEATEN, never BROKEN."""
    adv = judge_adversarial(IBEX, IBEX, defense_aware=True)
    assert adv.verdict is Verdict.CORRECT
    assert "did not change" not in adv.note and "behind the defense" in adv.note and "Purified" in adv.note
    pur = judge_purified(
        VIZSLA, IBEX, adversarial_fooled=False, defended_clean_correct=True, defense_aware=True
    )
    assert pur.verdict is Verdict.DEFEATED and not pur.verdict.good
    assert (
        "attacker who knows the defense won" in pur.note
        and "clean image through the defense is right" in pur.note
    )
    assert verdict_story(adv.verdict, pur.verdict) == "correct → DEFENSE BEATEN"
    # unknown defended clean result: an aware attack still is the winner, a gray-box one blames the defense
    assert judge_purified(VIZSLA, IBEX, False, defense_aware=True).verdict is Verdict.DEFEATED
    assert judge_purified(VIZSLA, IBEX, False).verdict is Verdict.BROKEN


def test_gray_box_noise_that_fools_only_through_the_defense_is_defense_beaten():
    pur = judge_purified(VIZSLA, IBEX, adversarial_fooled=False, defended_clean_correct=True)
    assert pur.verdict is Verdict.DEFEATED and "only through the defense" in pur.note


def test_broken_only_when_the_defense_gets_the_clean_image_wrong_too():
    for aware in (False, True):
        broken = judge_purified(VIZSLA, IBEX, False, defended_clean_correct=False, defense_aware=aware)
        assert broken.verdict is Verdict.BROKEN and "clean image wrong too" in broken.note
        assert judge_purified(
            VIZSLA, IBEX, False, defended_clean_correct=True, defense_aware=aware
        ).verdict is (Verdict.DEFEATED)
        assert judge_purified(
            IBEX, IBEX, False, defended_clean_correct=True, defense_aware=aware
        ).verdict is (Verdict.CORRECT)
    # a successful attack that survives the defense is STILL FOOLED, with who won and the clean price named
    still = judge_purified(VIZSLA, IBEX, True, defended_clean_correct=False, defense_aware=True)
    assert still.verdict is Verdict.STILL_FOOLED
    assert "attacker who knows the defense won" in still.note and "clean image wrong too" in still.note
    assert judge_purified(VIZSLA, IBEX, True, defended_clean_correct=True).note == ""
    assert judge_purified(IBEX, IBEX, True, defended_clean_correct=False).verdict is Verdict.RECOVERED


def test_brambling_wrong_before_the_attack_is_never_fooled():
    """Brambling is goldfinch (43 %) clean: the attacked image is misclassified, not FOOLED, and the purified
    one not STILL FOOLED — there was nothing to fool."""
    assert judge_original(GOLDFINCH, BRAMBLING).verdict is Verdict.MISCLASSIFIED
    adv = judge_adversarial(LAKESIDE, BRAMBLING, clean_correct=False)
    assert adv.verdict is Verdict.MISCLASSIFIED and "nothing to fool" in adv.note
    for target in (None, LAKESIDE):  # reaching a target from a wrong answer fools nobody either
        assert (
            judge_adversarial(LAKESIDE, BRAMBLING, target, clean_correct=False).verdict
            is Verdict.MISCLASSIFIED
        )
    lands = judge_adversarial(BRAMBLING, BRAMBLING, clean_correct=False)
    assert lands.verdict is Verdict.CORRECT and "wrong before the attack" in lands.note
    for fooled in (False, True):
        for aware in (False, True):
            pur = judge_purified(LAKESIDE, BRAMBLING, fooled, clean_correct=False, defense_aware=aware)
            assert pur.verdict is Verdict.MISCLASSIFIED and "before any attack" in pur.note
            right = judge_purified(BRAMBLING, BRAMBLING, fooled, clean_correct=False, defense_aware=aware)
            assert right.verdict is Verdict.CORRECT and "got wrong before any attack" in right.note
    story = verdict_story(
        adv.verdict, judge_purified(LAKESIDE, BRAMBLING, False, clean_correct=False).verdict
    )
    assert story == "misclassified → misclassified" and "FOOLED" not in story


def test_the_clean_correct_default_keeps_the_old_rules():
    assert judge_adversarial(5, 3).verdict is Verdict.FOOLED
    assert judge_adversarial(3, 3).note == "the attack did not change the prediction"
    assert "missed the target" in judge_adversarial(5, 3, target=7).note
    assert judge_adversarial(7, 3, target=7).note == "target class reached"
