"""The pipeline on the real window and classifier: attack, cancel, supersede, re-purify, batch, failures."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gui_helpers import assert_no_threads, wait_settled

from rsdesk.core.verdicts import Verdict
from rsdesk.gui.models.gallery import SummaryCurrentRole, SummaryRole
from rsdesk.gui.models.results import Row, Status
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.pipeline import Stage
from rsdesk.gui.widgets.qimage import from_qimage


def attack_done(cfg_check=None):
    def check(stage, result):
        return stage == Stage.ATTACK and (cfg_check is None or cfg_check(result.config))

    return check


def test_first_image_is_attacked_purified_and_explained(window, qtbot):
    wait_settled(qtbot, window)
    for row in Row:
        assert window.results.stage(row).status is Status.CURRENT, row
        assert window.results.stage(row).result.cam is not None, row
    orig = window.results.result(Row.ORIGINAL)
    assert orig.path.name == "camera.jpg" and orig.true_label == 872
    assert orig.judgement.verdict is Verdict.CORRECT
    adv = window.results.result(Row.ADVERSARIAL)
    assert adv.config.name == "fgsm"
    assert adv.image.shape == orig.image.shape == (224, 224, 3)
    assert 7.9 < adv.stats.linf <= 8.01
    pur = window.results.result(Row.PURIFIED)
    assert pur.mask is not None and 0 < pur.coverage < 1
    assert window.gallery.index(0).data(SummaryRole) == "FOOLED → RECOVERED" or window.gallery.index(0).data(
        SummaryRole
    )


def test_attack_action_runs_and_lands(window, qtbot):
    wait_settled(qtbot, window)
    window.acts.auto_attack.setChecked(False)
    window.state.set_attack("bim")
    window.state.set_attack_param("steps", 3)
    assert window.results.stage(Row.ADVERSARIAL).status is Status.STALE  # never shown as current
    assert window.panels.column(Row.ADVERSARIAL).image.stale
    with qtbot.waitSignal(
        window.pipeline.stage_finished, timeout=60000, check_params_cb=attack_done(lambda c: c.name == "bim")
    ) as blocker:
        window.acts.attack.trigger()
    res = blocker.args[1]
    assert res.config.params["steps"] == 3
    assert res.outcome.iterations == 3
    wait_settled(qtbot, window)
    assert window.results.result(Row.ADVERSARIAL) is res
    shown = from_qimage(window.panels.column(Row.ADVERSARIAL).image.image())
    assert np.abs(shown.astype(int) - np.rint(res.image * 255)).max() <= 1


def test_cancel_a_running_attack(window, qtbot):
    wait_settled(qtbot, window)
    window.state.set_attack("bim")
    window.state.set_attack_param("steps", 5000)  # minutes if it were not cancelled
    qtbot.waitUntil(lambda: window.results.stage(Row.ADVERSARIAL).progress > 0, timeout=30000)
    assert window.panels.column(Row.ADVERSARIAL).image.busy
    window.acts.cancel.trigger()
    st = window.results.stage(Row.ADVERSARIAL)
    assert st.status is not Status.CURRENT and "cancelled" in st.message
    qtbot.waitUntil(lambda: not window.session.runner.active(), timeout=10000)
    assert_no_threads(10000)
    assert window.pipeline.is_idle()
    assert not window.panels.column(Row.ADVERSARIAL).image.busy


def test_a_superseded_result_never_lands(window, qtbot, monkeypatch):
    """A job that ignores cancel and finishes late must still be dropped (generation counter)."""
    wait_settled(qtbot, window)
    real = stages.run_attack

    def slow_deaf(model, original, config, defense, progress=None, cancel=None):
        if config.params["eps"] == 2.0:
            time.sleep(1.0)  # finishes after the newer request, and never looks at cancel
        return real(model, original, config, defense)

    monkeypatch.setattr(stages, "run_attack", slow_deaf)
    landed = []
    window.results.dataChanged.connect(
        lambda *_: (
            window.results.stage(Row.ADVERSARIAL).current
            and landed.append(window.results.result(Row.ADVERSARIAL).config.params["eps"])
        )
    )
    window.state.set_attack_param("eps", 2.0)
    window.pipeline.attack_now()  # starts the slow one at once (no debounce)
    qtbot.waitUntil(lambda: window.results.stage(Row.ADVERSARIAL).status is Status.BUSY, timeout=5000)
    window.state.set_attack_param("eps", 6.0)
    window.pipeline.attack_now()
    wait_settled(qtbot, window)
    qtbot.wait(1500)  # the slow job has finished by now
    assert_no_threads()
    assert set(landed) == {6.0}
    assert window.results.result(Row.ADVERSARIAL).config.params["eps"] == 6.0


def test_changing_k_repurifies(window, qtbot):
    wait_settled(qtbot, window)
    before = window.results.result(Row.PURIFIED)
    editor = window.defense_controls.editor("k")
    with qtbot.waitSignal(
        window.pipeline.stage_finished,
        timeout=30000,
        check_params_cb=lambda s, r: s == Stage.PURIFY and r.defense.params["k"] == 2,
    ):
        editor.box.setValue(2)  # what the user's edit does
        assert window.results.stage(Row.PURIFIED).status is Status.STALE
    wait_settled(qtbot, window)
    after = window.results.result(Row.PURIFIED)
    assert after is not before and after.defense.params["k"] == 2
    assert np.abs(after.image - before.image).max() > 0.01
    shown = from_qimage(window.panels.column(Row.PURIFIED).image.image())
    assert np.abs(shown.astype(int) - np.rint(after.image * 255)).max() <= 1
    assert "K 2" in window.panels.column(Row.PURIFIED).subtitle.text()


def test_defense_toggle_and_baseline(window, qtbot):
    wait_settled(qtbot, window)
    window.acts.toggle_defense.trigger()
    assert window.results.stage(Row.PURIFIED).status is Status.OFF
    assert window.panels.column(Row.PURIFIED).verdict.verdict() is None
    wait_settled(qtbot, window)
    window.acts.toggle_defense.trigger()
    window.state.set_defense("jpeg")
    with qtbot.waitSignal(
        window.pipeline.stage_finished,
        timeout=30000,
        check_params_cb=lambda s, r: s == Stage.PURIFY and r.defense.name == "jpeg",
    ):
        pass
    wait_settled(qtbot, window)
    pur = window.results.result(Row.PURIFIED)
    assert pur.mask is None
    assert "no object mask" in window.panels.mask_column().image._placeholder


@pytest.mark.parametrize(
    ("attack", "params"), [("bpda", {"steps": 2}), ("cw", {"steps": 5, "c": 1.0}), ("mifgsm", {"steps": 2})]
)
def test_other_attacks_run(window, qtbot, attack, params):
    wait_settled(qtbot, window)
    for k, v in params.items():
        window.state.set_attack_param(k, v, attack)
    with qtbot.waitSignal(
        window.pipeline.stage_finished, timeout=60000, check_params_cb=attack_done(lambda c: c.name == attack)
    ) as blocker:
        window.state.set_attack(attack)
    assert blocker.args[1].outcome.iterations == params["steps"]
    wait_settled(qtbot, window)
    assert window.results.stage(Row.PURIFIED).current


def test_failure_is_a_message_not_a_crash(window, qtbot):
    wait_settled(qtbot, window)
    window.state.set_defense_enabled(False)
    window.state.set_attack_param("steps", 2, "bpda")
    window.state.set_attack("bpda")
    qtbot.waitUntil(lambda: window.results.stage(Row.ADVERSARIAL).status is Status.FAILED, timeout=30000)
    assert "defense on" in window.results.stage(Row.ADVERSARIAL).message
    assert window.messages.isVisible() and window.messages.kind == "error"
    assert "Attack failed" in window.messages.text.text()
    window.state.set_defense_enabled(True)  # BPDA can now attack through it
    wait_settled(qtbot, window)
    assert window.results.stage(Row.ADVERSARIAL).current


def test_batch_attack_of_selected_images(window, qtbot):
    wait_settled(qtbot, window)
    window.gallery_view.selectAll()
    with qtbot.waitSignal(window.pipeline.batch_finished, timeout=60000):
        window.acts.attack_selected.trigger()
    summaries = [window.gallery.item(r).summary for r in range(window.gallery.rowCount())]
    assert all(" → " in s for s in summaries), summaries
    assert "Batch" in window.messages.text.text()
    assert all(window.gallery.index(r).data(SummaryCurrentRole) for r in range(3))
    # the batch filled the caches: stepping to another image shows its results at once
    window.acts.next_image.trigger()
    assert window.results.stage(Row.ADVERSARIAL).current
    assert window.results.stage(Row.PURIFIED).current
    # stories made with other settings are marked so, not shown as current
    window.state.set_attack_param("eps", 3.0)
    assert not any(window.gallery.index(r).data(SummaryCurrentRole) for r in range(3))
    window.state.set_attack_param("eps", 8.0)
    assert all(window.gallery.index(r).data(SummaryCurrentRole) for r in range(3))
