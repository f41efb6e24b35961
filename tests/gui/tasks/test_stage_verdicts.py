"""The window's stages judge by core/verdicts (issue 19): a defense-aware attack that beats the defense while
the bare classifier resists is DEFENSE BEATEN, not BROKEN; the verdicts reach the gallery's story."""

from __future__ import annotations

import numpy as np
import pytest

from rsdesk.core.io.assets import resource_path
from rsdesk.core.io.images import load_image, resize_center_crop
from rsdesk.core.models.classifier import Prediction
from rsdesk.core.verdicts import AIMS_BEHIND, Verdict, verdict_story
from rsdesk.gui.models.configs import AttackConfig, DefenseConfig
from rsdesk.gui.models.stage_results import CachedAttack
from rsdesk.gui.tasks import stages

ESPRESSO, VIZSLA = 967, 211
JPEG = DefenseConfig("jpeg", (("quality", 75),))


def _certain(index: int) -> Prediction:
    probs = np.full(1000, 0.05 / 999, np.float32)
    probs[index] = 0.95
    return Prediction(probs)


@pytest.fixture
def coffee(classifier, tmp_path):
    img = resize_center_crop(load_image(resource_path("samples", "coffee.jpg")), classifier.input_size)
    orig = stages.run_original(classifier, tmp_path / "coffee.jpg", img, ESPRESSO)
    assert orig.judgement.verdict is Verdict.CORRECT and orig.clean_correct
    return orig


def _defended_answers(monkeypatch, classifier, purified: int, clean: int) -> None:
    """The defended pipeline's answers in run_purify's one batched pass: [purified adversarial, clean]."""
    monkeypatch.setattr(classifier, "classify_many", lambda imgs: [_certain(purified), _certain(clean)])


def test_bpda_that_beats_the_defense_is_defense_beaten_not_broken(classifier, coffee, monkeypatch):
    """The ibex case at stage level: BPDA through the defense leaves the bare classifier right; through the
    defense the adversarial falls (vizsla) while the clean image through it is right."""
    cfg = AttackConfig("bpda", (("eps", 0.5), ("steps", 1)))
    adv = stages.run_attack(classifier, coffee, cfg, JPEG)
    assert adv.defense_aware and adv.prediction.index == ESPRESSO
    assert adv.judgement.verdict is Verdict.CORRECT and adv.judgement.note == AIMS_BEHIND
    assert not adv.fooled
    _defended_answers(monkeypatch, classifier, VIZSLA, ESPRESSO)
    pur = stages.run_purify(classifier, coffee, adv, JPEG)
    assert pur.clean_correct is True and pur.prediction.index == VIZSLA
    assert pur.judgement.verdict is Verdict.DEFEATED and pur.beaten and not pur.recovered
    assert "attacker who knows the defense won" in pur.judgement.note
    assert verdict_story(adv.judgement.verdict, pur.judgement.verdict) == "correct → DEFENSE BEATEN"
    # the same outcome when the defense gets the clean image wrong too: then it is the defense's fault
    _defended_answers(monkeypatch, classifier, VIZSLA, VIZSLA)
    assert stages.run_purify(classifier, coffee, adv, JPEG).judgement.verdict is Verdict.BROKEN


def test_a_gray_box_attack_judged_the_same_way(classifier, coffee, monkeypatch):
    adv = stages.run_attack(classifier, coffee, AttackConfig("fgsm", (("eps", 0.25),)), None)
    assert adv.judgement.verdict is Verdict.CORRECT and "did not change" in adv.judgement.note
    _defended_answers(monkeypatch, classifier, VIZSLA, ESPRESSO)
    pur = stages.run_purify(classifier, coffee, adv, JPEG)
    assert pur.judgement.verdict is Verdict.DEFEATED and "only through the defense" in pur.judgement.note


def test_a_cached_adversarial_carries_defense_aware_into_the_judgement(classifier, coffee, monkeypatch):
    aware = CachedAttack.of(coffee.image, "BPDA ε 8/255 (from evaluation)", "bpda", defense_aware=True)
    plain = CachedAttack.of(coffee.image, "BPDA ε 8/255 (from evaluation)", "bpda")
    assert aware.key() != plain.key()  # a result cached under one reading is never shown under the other
    adv = stages.run_cached_adversarial(classifier, coffee, aware)
    assert adv.judgement.note == AIMS_BEHIND and not adv.outcome.success
    assert "did not change" in stages.run_cached_adversarial(classifier, coffee, plain).judgement.note
    _defended_answers(monkeypatch, classifier, VIZSLA, ESPRESSO)
    assert stages.run_purify(classifier, coffee, adv, JPEG).judgement.verdict is Verdict.DEFEATED


def test_an_image_wrong_before_the_attack_is_not_fooled_by_any_stage(classifier, tmp_path, monkeypatch):
    img = resize_center_crop(load_image(resource_path("samples", "coffee.jpg")), classifier.input_size)
    wrong = stages.run_original(classifier, tmp_path / "coffee.jpg", img, VIZSLA)  # a wrong true label
    assert wrong.judgement.verdict is Verdict.MISCLASSIFIED and not wrong.clean_correct
    adv = stages.run_attack(classifier, wrong, AttackConfig("fgsm", (("eps", 4.0),)), None)
    assert adv.judgement.verdict is Verdict.MISCLASSIFIED and not adv.fooled
    cached = stages.run_cached_adversarial(classifier, wrong, CachedAttack.of(adv.image, "FGSM"))
    assert cached.judgement.verdict is Verdict.MISCLASSIFIED and not cached.outcome.success
    _defended_answers(monkeypatch, classifier, ESPRESSO, ESPRESSO)
    pur = stages.run_purify(classifier, wrong, adv, JPEG)
    assert pur.judgement.verdict is Verdict.MISCLASSIFIED
    assert verdict_story(adv.judgement.verdict, pur.judgement.verdict) == "misclassified → misclassified"


def test_the_batch_counts_in_the_panels_words(classifier, coffee, tmp_path):
    img = coffee.image
    items = [
        stages.BatchItem(tmp_path / "a.jpg", img, ESPRESSO, None),
        stages.BatchItem(tmp_path / "b.jpg", img, VIZSLA, None),  # wrong before the attack
    ]
    seen = []
    counts = stages.run_batch(
        classifier, items, AttackConfig("fgsm", (("eps", 8.0),)), JPEG, None, None, seen.append
    )
    assert counts.done == 2 and counts.misclassified == 1 and counts.failed == 0
    assert seen[1].attack.judgement.verdict is Verdict.MISCLASSIFIED
    assert counts.fooled == int(seen[0].attack.fooled) and counts.fooled <= 1


def test_the_batch_message_counts_nobody_fooled_who_was_wrong_before(qtbot):
    from rsdesk.gui.tasks.batch import BatchAttack
    from rsdesk.gui.tasks.cache import StageCache
    from rsdesk.gui.tasks.runner import JobRunner

    batch = BatchAttack(JobRunner(), StageCache(), lambda _p: None)
    said = []
    batch.message.connect(lambda kind, text, _details: said.append((kind, text)))
    cfg = AttackConfig("bpda", (("eps", 8.0),))
    batch._done(cfg, JPEG, stages.BatchCounts(5, 2, 1, 2, 1, 0))
    kind, text = said[-1]
    assert kind == "info" and "fooled 2/4 (1 misclassified before the attack)" in text
    assert "recovered 1/2" in text and "defense beaten on 2" in text
