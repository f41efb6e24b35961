"""An evaluation's cached adversarial image shown without running the attack, purified as usual."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import wait_settled

from rsdesk.gui.models.configs import AttackConfig
from rsdesk.gui.models.results import Row
from rsdesk.gui.models.stage_results import CachedAttack
from rsdesk.gui.tasks import stages
from rsdesk.gui.widgets.qimage import from_qimage, to_qimage

SUMMARY = "BIM ε 14/255 (from evaluation)"


def cached_adversarial(clean: np.ndarray, seed: int = 0) -> np.ndarray:
    """A float32 image as an evaluation caches it: ±14/255 noise on the clean one, not on the uint8 grid."""
    rng = np.random.default_rng(seed)
    adv = clean + rng.uniform(-14 / 255, 14 / 255, clean.shape)
    return np.clip(adv, 0.0, 1.0).astype(np.float32)


def refuse_attacks(monkeypatch) -> list:
    """From now on the attack stage function fails if it runs; the list records each call."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the attack ran")

    monkeypatch.setattr(stages, "run_attack", refuse)
    return calls


def assert_shows(window, adv: np.ndarray) -> None:
    res = window.results.result(Row.ADVERSARIAL)
    assert isinstance(res.config, CachedAttack)
    assert np.array_equal(res.image, adv) and res.image.dtype == np.float32
    column = window.panels.column(Row.ADVERSARIAL)
    shown = from_qimage(column.image.image())
    assert np.array_equal(shown, from_qimage(to_qimage(adv)))  # exactly the given pixels
    assert column.subtitle.text() == SUMMARY
    pur = window.results.result(Row.PURIFIED)
    assert pur is not None and pur.prediction is not None
    assert pur.defense.key() == window.state.defense_config().key()


def test_shows_the_cached_adversarial_of_the_current_image(window, qtbot, monkeypatch):
    wait_settled(qtbot, window)
    no_attack = refuse_attacks(monkeypatch)
    orig = window.results.result(Row.ORIGINAL)
    adv = cached_adversarial(orig.image)
    given = adv.copy()
    window.pipeline.show_cached_adversarial(orig.path, given, SUMMARY)
    given[:] = 0  # the pipeline keeps its own copy
    wait_settled(qtbot, window)
    assert_shows(window, adv)
    res = window.results.result(Row.ADVERSARIAL)
    assert res.prediction is not None and res.stats.linf <= 14.01 and res.outcome.iterations == 0
    assert res.judgement.verdict is not None and not no_attack

    # A defense edit purifies the cached image again, still without attacking.
    before = window.results.result(Row.PURIFIED)
    window.defense_controls.editor("k").box.setValue(2)
    wait_settled(qtbot, window)
    assert window.results.result(Row.PURIFIED) is not before
    assert window.results.result(Row.PURIFIED).defense.params["k"] == 2
    assert_shows(window, adv)
    assert not no_attack

    # An attack edit is the user's own attack again.
    monkeypatch.undo()
    window.state.set_attack_param("eps", 4.0)
    wait_settled(qtbot, window)
    res = window.results.result(Row.ADVERSARIAL)
    assert isinstance(res.config, AttackConfig) and res.config.params["eps"] == 4.0
    assert "(from evaluation)" not in window.panels.column(Row.ADVERSARIAL).subtitle.text()


def test_applies_when_its_image_becomes_current_and_ends_with_it(window, qtbot, monkeypatch):
    wait_settled(qtbot, window)
    no_attack = refuse_attacks(monkeypatch)
    first = window.results.result(Row.ADVERSARIAL)
    first_path = window.state.image
    items = [window.gallery.item(r).path for r in range(window.gallery.rowCount())]
    other = next(p for p in items if p != window.state.image)
    adv = cached_adversarial(stages.prepare_path(other, 224), seed=1)
    spelled_otherwise = other.parent / ".." / other.parent.name / other.name  # as a results.csv may
    window.pipeline.show_cached_adversarial(spelled_otherwise, adv, SUMMARY)
    assert window.results.result(Row.ADVERSARIAL) is first  # not this image's: nothing changes yet

    window.state.set_image(other)  # what selecting it in the gallery does
    wait_settled(qtbot, window)
    assert_shows(window, adv)
    assert not no_attack

    # Another image: attacks as usual (FGSM here), and coming back attacks it too.
    third = next(p for p in items if p not in (other, first_path))
    window.state.set_image(third)
    qtbot.waitUntil(lambda: len(no_attack) == 1, timeout=30000)  # the toolbar's attack was asked for
    wait_settled(qtbot, window)
    window.state.set_image(other)
    qtbot.waitUntil(lambda: len(no_attack) == 2, timeout=30000)
    wait_settled(qtbot, window)


def test_a_wrong_shape_is_refused_and_a_wrong_size_is_a_message(window, qtbot, monkeypatch):
    wait_settled(qtbot, window)
    no_attack = refuse_attacks(monkeypatch)
    path = window.state.image
    with pytest.raises(ValueError, match="H×W×3"):
        window.pipeline.show_cached_adversarial(path, np.zeros((224, 224), np.float32), SUMMARY)
    window.pipeline.show_cached_adversarial(path, np.zeros((100, 100, 3), np.float32), SUMMARY)
    wait_settled(qtbot, window)
    st = window.results.stage(Row.ADVERSARIAL)
    assert "100×100" in st.message and "224×224" in st.message
    assert "Attack failed" in window.messages.text.text()
    assert not no_attack


def test_a_cached_adversarial_is_named_after_its_attack_in_file_names():
    img = np.zeros((8, 8, 3), np.float32)
    assert CachedAttack.of(img, SUMMARY).name == "evaluation"
    assert CachedAttack.of(img, SUMMARY, "bim").name == "bim"
    assert CachedAttack.of(img, SUMMARY, "../bim x/").name == "bim-x"  # never a path in a file name
