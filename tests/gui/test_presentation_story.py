"""Presentation mode: ←/→ move through the images wherever the focus is (a slider, a spin box), and the
story reveals original → attack → defense one Space at a time, each with its verdict and a caption."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from gui_helpers import wait_settled
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from rsdesk.core.models.classifier import Prediction
from rsdesk.core.verdicts import Verdict, judge_adversarial, judge_purified
from rsdesk.gui.models.configs import AttackConfig
from rsdesk.gui.models.results import Row, Status


def focus(qtbot, window, widget) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus, timeout=5000)


def key(qtbot, window, k) -> None:
    qtbot.keyClick(QApplication.focusWidget() or window, k)


def test_arrows_change_the_image_even_when_a_slider_or_spin_box_has_focus(window, qtbot):
    wait_settled(qtbot, window)
    window.acts.presentation.setChecked(True)
    eps = window.attack_controls.editor("eps")
    before = window.state.attack_values()["eps"]
    first = window.state.image
    focus(qtbot, window, eps.slider)
    key(qtbot, window, Qt.Key.Key_Right)
    assert window.state.image != first
    second = window.state.image
    focus(qtbot, window, eps.box)  # a spin box takes ←/→ for its cursor outside presentation mode
    key(qtbot, window, Qt.Key.Key_Right)
    assert window.state.image not in (first, second)
    key(qtbot, window, Qt.Key.Key_Left)
    assert window.state.image == second
    assert window.state.attack_values()["eps"] == before  # the slider did not move
    window.acts.presentation.setChecked(False)
    assert QApplication.instance() is not None and not window.presentation.active


def test_the_story_reveals_the_stages_one_key_at_a_time(window, qtbot):
    wait_settled(qtbot, window)
    story, p = window.story, window.presentation
    first = window.state.image
    key(qtbot, window, Qt.Key.Key_F11)
    assert p.active and p.story_step == 0 and window.panels.isVisible() and not story.isVisible()
    focus(qtbot, window, window.attack_controls.buttons[0])  # Space must not press a focused button
    steps = []
    for _ in range(3):
        key(qtbot, window, Qt.Key.Key_Space)
        steps.append((p.story_step, story.visible_cards(), story.caption.text()))
    assert [s[:2] for s in steps] == [(1, [1]), (2, [1, 2]), (3, [1, 2, 3])]
    assert story.isVisible() and not window.panels.isVisible()
    orig, adv, pur = (window.results.result(r) for r in Row)
    assert steps[0][2].startswith("The model sees") and orig.prediction.top(1)[0].label in steps[0][2]
    assert "hardly see" in steps[1][2] and adv.prediction.top(1)[0].label in steps[1][2]
    assert "RegionSparse" in steps[2][2] and pur.prediction.top(1)[0].label in steps[2][2]
    for card, res in zip(story.cards, (orig, adv, pur)):  # icon + word, as large as fits
        assert card.verdict.verdict() is res.judgement.verdict
        assert card.verdict.font().pointSizeF() > window.font().pointSizeF()
    key(qtbot, window, Qt.Key.Key_Backspace)
    assert (p.story_step, story.visible_cards()) == (2, [1, 2])
    key(qtbot, window, Qt.Key.Key_Space)
    key(qtbot, window, Qt.Key.Key_Space)  # after the defense: the next image, from its first step
    assert window.state.image != first and (p.story_step, story.visible_cards()) == (1, [1])
    key(qtbot, window, Qt.Key.Key_Backspace)  # before step 1: the full panel grid again
    assert p.story_step == 0 and window.panels.isVisible() and not story.isVisible()
    key(qtbot, window, Qt.Key.Key_Space)
    window.acts.presentation.setChecked(False)  # leaving presentation mode ends the story
    assert p.story_step == 0 and not story.isVisible() and window.panels.isVisible()
    assert window.gallery_dock.isVisible()


def test_the_story_menu_entry_starts_presentation_mode(window, qtbot):
    wait_settled(qtbot, window)
    window.acts.story.trigger()
    assert window.acts.presentation.isChecked() and window.presentation.story_step == 1
    key(qtbot, window, Qt.Key.Key_Escape)
    assert not window.presentation.active and window.presentation.story_step == 0


def test_the_story_fits_both_screens_at_every_step(window, qtbot):
    """Presentation mode's larger fonts at 1366×768 and 1920×1080: no caption, answer ("… 63 %") or verdict
    clipped, nothing overlapping, the noise inset on the attacked card."""
    from layout_helpers import SIZES, layout_problems

    wait_settled(qtbot, window)
    window.showFullScreen = lambda: None  # the offscreen screen's size is not the one under test
    window.acts.story.trigger()
    for size in SIZES:
        window.resize(*size)
        qtbot.waitUntil(lambda size=size: window.size().toTuple() == size, timeout=5000)
        for step in (1, 2, 3):
            window.presentation.set_story_step(step)
            qtbot.wait(50)
            problems = layout_problems(window, root=window.story)
            assert not problems, (size, step, problems)
            for card in window.story.cards[:step]:
                assert card.answer.heightForWidth(card.answer.width()) <= card.answer.height() + 1
        inset, caption = window.story.cards[1].image.inset()
        assert inset is not None and caption.startswith("this is the noise, ×")
    # the longest words the story can have: a 30-letter class at 63 % and DEFENSE BEATEN's caption
    _longest_story(window)
    for size in SIZES:
        window.resize(*size)
        qtbot.waitUntil(lambda size=size: window.size().toTuple() == size, timeout=5000)
        for step in (2, 3):
            window.presentation.set_story_step(step)
            qtbot.wait(50)
            problems = layout_problems(window, root=window.story)
            assert not problems, (size, step, problems)
            assert "63 %" in window.story.cards[step - 1].answer.text()
        assert window.story.cards[2].verdict.verdict() is Verdict.DEFEATED
        assert "American Staffordshire terrier" in window.story.caption.text()
    window.acts.presentation.setChecked(False)


def _longest_story(window) -> None:
    """The current rows, re-judged as BPDA beating the defense with the longest ImageNet class name."""
    orig, adv, pur = (window.results.result(r) for r in Row)
    longest = 180  # American Staffordshire terrier
    probs = np.full(1000, 0.37 / 999, np.float32)
    probs[longest] = 0.63
    beaten = Prediction(probs)
    aware = AttackConfig("bpda", (("eps", 8.0), ("steps", 10)))
    ref = orig.reference
    adv = replace(
        adv,
        config=aware,
        prediction=orig.prediction,
        judgement=judge_adversarial(ref, ref, defense_aware=True),
    )
    judgement = judge_purified(longest, ref, False, defended_clean_correct=True, defense_aware=True)
    pur = replace(
        pur, prediction=beaten, clean_prediction=orig.prediction, clean_correct=True, judgement=judgement
    )
    # the attacked card's answer gets the long name too (its verdict stays correct): a layout stress only
    window.results.update(Row.ADVERSARIAL, status=Status.CURRENT, result=replace(adv, prediction=beaten))
    window.results.update(Row.PURIFIED, status=Status.CURRENT, result=pur)
