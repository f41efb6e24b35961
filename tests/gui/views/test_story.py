"""The story view's words and pictures (issue 19 item 12): captions that follow core/verdicts (the ibex and
brambling cases), the attacked card's amplified noise inset, and "What if the attacker knows the defense?"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint

from rsdesk.core.attacks import AttackOutcome
from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.models.classifier import Prediction
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.core.verdicts import (
    Verdict,
    judge_adversarial,
    judge_original,
    judge_purified,
    perturbation_stats,
)
from rsdesk.gui.models.configs import AttackConfig, DefenseConfig, DictionaryInfo
from rsdesk.gui.models.results import ResultsModel, Row, Status
from rsdesk.gui.models.stage_results import AttackResult, OriginalResult, PurifyResult
from rsdesk.gui.models.state import AppState
from rsdesk.gui.views.story import WHAT_IF, StoryView, aware_counterpart
from rsdesk.gui.views.story_text import attack_caption, purify_caption

IBEX, VIZSLA, BRAMBLING, GOLDFINCH, LAKESIDE = 350, 211, 10, 11, 975
REGIONSPARSE = DefenseConfig("regionsparse", (("k", 4), ("stride", 4), ("theta", 1.0)))


def _says(index: int, p: float = 0.9) -> Prediction:
    probs = np.full(1000, (1 - p) / 999, np.float32)
    probs[index] = p
    return Prediction(probs)


def fill(
    results: ResultsModel,
    truth: int | None,
    clean: int,
    attacked: int,
    purified: int | None,
    defended_clean: int | None = None,
    config: AttackConfig | None = None,
    delta: float = 4 / 255,
) -> None:
    """The three rows as the pipeline writes them, judged by core/verdicts."""
    image = np.full((32, 32, 3), 0.5, np.float32)
    adv_image = image.copy()
    adv_image[..., 0] += delta  # the noise: +δ in the red channel only
    orig = OriginalResult(Path("photo.jpg"), image, _says(clean), truth, judge_original(clean, truth))
    ref, ok = orig.reference, orig.clean_correct
    config = config or AttackConfig("bpda", (("eps", 8.0), ("steps", 10)))
    adv_j = judge_adversarial(attacked, ref, clean_correct=ok, defense_aware=config.defense_aware)
    outcome = AttackOutcome(adv_image, adv_j.verdict is Verdict.FOOLED, 0.1, 0.01, 4.0, 10, ref, attacked)
    stats = perturbation_stats(image, adv_image)
    adv = AttackResult(config, outcome, adv_image, _says(attacked, 0.63), adv_j, stats, 40.0, 1.0)
    results.update(Row.ORIGINAL, status=Status.CURRENT, result=orig)
    results.update(Row.ADVERSARIAL, status=Status.CURRENT, result=adv)
    if purified is None:
        return
    defended_ok = None if defended_clean is None else defended_clean == ref
    pur_j = judge_purified(
        *(purified, ref, adv.fooled),
        clean_correct=ok,
        defended_clean_correct=defended_ok,
        defense_aware=adv.defense_aware,
    )
    pur = PurifyResult(
        REGIONSPARSE, "RegionSparse", image, None, None, image, 1.0, 40.0, 1.0,
        _says(purified), pur_j, None if defended_clean is None else _says(defended_clean), defended_ok,
    )  # fmt: skip
    results.update(Row.PURIFIED, status=Status.CURRENT, result=pur)


@pytest.fixture
def results(qtbot):
    return ResultsModel()


def test_ibex_bpda_the_story_names_the_attacker_as_the_winner(results):
    fill(results, IBEX, IBEX, IBEX, VIZSLA, defended_clean=IBEX)
    assert results.result(Row.PURIFIED).judgement.verdict is Verdict.DEFEATED
    step2 = attack_caption(results)
    assert "behind the defense" in step2 and "did not fool" not in step2
    assert purify_caption(results) == (
        "RegionSparse cleans the image, but the attacker who knew the defense won: now it says “vizsla” "
        "(the clean photo through RegionSparse: “ibex”)."
    )
    fill(results, IBEX, IBEX, IBEX, VIZSLA, defended_clean=VIZSLA)  # the defense gets the clean image wrong
    assert results.result(Row.PURIFIED).judgement.verdict is Verdict.BROKEN
    assert purify_caption(results).startswith("RegionSparse changes the image too much")
    assert "wrong too" in purify_caption(results)


def test_brambling_the_story_never_says_fooled_or_still(results):
    fill(results, BRAMBLING, GOLDFINCH, LAKESIDE, LAKESIDE, defended_clean=GOLDFINCH)
    step2, step3 = attack_caption(results), purify_caption(results)
    assert step2.startswith("The model was already wrong (“goldfinch”): there was nothing to fool")
    assert "“lakeside”" in step2 and "still" not in step2 and "FOOLED" not in step2.upper()
    assert "still" not in step3 and "“lakeside”" in step3 and "wrong as before any attack" in step3
    fill(results, BRAMBLING, GOLDFINCH, GOLDFINCH, GOLDFINCH, defended_clean=GOLDFINCH)
    assert "still says “goldfinch”" in attack_caption(results)  # it did say it, clean: "still" is true
    assert "still" not in purify_caption(results)


def test_still_is_said_only_of_what_was_said(results):
    fill(
        results,
        IBEX,
        IBEX,
        VIZSLA,
        LAKESIDE,
        defended_clean=IBEX,
        config=AttackConfig("bim", (("eps", 8.0),)),
    )
    assert results.result(Row.PURIFIED).judgement.verdict is Verdict.STILL_FOOLED
    assert purify_caption(results) == "RegionSparse cleans the image, but the model now says “lakeside”."
    fill(
        results, IBEX, IBEX, VIZSLA, VIZSLA, defended_clean=IBEX, config=AttackConfig("bim", (("eps", 8.0),))
    )
    assert purify_caption(results) == "RegionSparse cleans the image, but the model still says “vizsla”."


def test_the_attacked_card_shows_the_noise_amplified(results, qtbot):
    fill(results, IBEX, IBEX, VIZSLA, None, config=AttackConfig("bim", (("eps", 4.0),)))
    view = StoryView(results)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    view.set_step(2)
    qtbot.waitExposed(view)
    card = view.cards[1].image
    inset, caption = card.inset()
    assert inset is not None and caption == "this is the noise, ×32"  # 0.5 / (4/255) ≈ 32
    assert view.cards[0].image.inset() == (None, "")  # the photo itself has none
    r = card.inset_rect()
    assert r.width() > 0.3 * card.width() * 0.9 and card.rect().contains(r.toRect())
    shot = card.grab().toImage()
    ratio = shot.width() / card.width()
    inside = shot.pixelColor(QPoint(int(r.center().x() * ratio), int(r.center().y() * ratio)))
    outside = shot.pixelColor(QPoint(int((r.left() - 20) * ratio), int(r.center().y() * ratio)))
    assert inside.red() > 240 and abs(inside.green() - 128) < 8  # +δ in red, amplified to full red
    assert abs(outside.red() - 128) < 8  # the photo beside it: mid-grey (+4/255), δ invisible


def test_what_if_the_attacker_knows_the_defense_runs_bpda_at_the_same_eps(results, qtbot):
    state = AppState(DictionaryInfo(load_dictionary(default_dictionary_path())))
    state.set_attack("bim")
    gray = AttackConfig("bim", (("eps", 6.0), ("steps", 10)))
    fill(results, IBEX, IBEX, VIZSLA, IBEX, defended_clean=IBEX, config=gray)  # RECOVERED
    view = StoryView(results, state)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    view.set_step(2)
    assert view.what_if.isHidden()  # only after the defense has spoken
    view.set_step(3)
    assert not view.what_if.isHidden() and view.what_if.text() == WHAT_IF
    aware = aware_counterpart("bim")
    assert aware is not None and aware.defense_aware and aware.strength.kind == "linf"
    with qtbot.waitSignal(state.attack_changed):
        view.what_if.click()
    assert state.attack == aware.name and state.attack_values()["eps"] == 6.0
    fill(results, IBEX, IBEX, IBEX, VIZSLA, defended_clean=IBEX)  # its outcome: told as it is
    assert view.what_if.isHidden() and "attacker who knew the defense won" in view.caption.text()
    assert StoryView(results).what_if.isHidden()  # no state (a picture for an export): no button
    assert aware_counterpart(aware.name) is None
