"""Fault injection in the pipeline: a worker that raises mid-attack is one message and the next request
runs; 100 rapid parameter changes never land a stale result (the panel shows the last parameters' pixels,
the same as a direct core call)."""

from __future__ import annotations

import numpy as np
from gui_helpers import assert_no_threads, wait_settled

from rsdesk.core.io.images import to_uint8
from rsdesk.gui.models.results import Row, Status
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.crash_log import log_file
from rsdesk.gui.widgets.qimage import from_qimage


def test_a_worker_that_raises_mid_attack_is_one_message_and_the_next_attack_runs(window, qtbot, monkeypatch):
    w = window
    wait_settled(qtbot, w)
    real = stages.run_attack
    calls: list[int] = []

    def faulty(model, original, config, defense, progress=None, cancel=None):
        calls.append(1)

        def progress_then_fail(fraction: float, message: str) -> None:
            if fraction > 0.3:
                raise RuntimeError("simulated fault in the attack loop")
            if progress is not None:
                progress(fraction, message)

        return real(model, original, config, defense, progress_then_fail, cancel)

    monkeypatch.setattr(stages, "run_attack", faulty)
    errors: list[tuple[str, str]] = []
    w.messages.shown.connect(lambda kind, text, details: kind == "error" and errors.append((text, details)))
    w.state.set_attack_param("steps", 10, "bim")
    w.state.set_attack("bim")
    w.pipeline.attack_now()
    qtbot.waitUntil(lambda: len(errors) > 0, timeout=60000)
    wait_settled(qtbot, w)
    assert len(calls) == 1 and len(errors) == 1
    text, details = errors[0]
    assert text == "Attack failed: RuntimeError: simulated fault in the attack loop"
    assert details.endswith(f"(logged to {log_file()})") and "Traceback" in details
    assert w.results.stage(Row.ADVERSARIAL).status is Status.FAILED

    monkeypatch.setattr(stages, "run_attack", real)  # the fault is gone: the next request runs and lands
    w.pipeline.attack_now()
    wait_settled(qtbot, w)
    adv = w.results.result(Row.ADVERSARIAL)
    assert adv is not None and adv.config.name == "bim" and len(errors) == 1
    assert_no_threads()


def test_a_hundred_rapid_changes_land_only_the_last_parameters(window, qtbot):
    w = window
    wait_settled(qtbot, w)
    landed: list[tuple] = []

    def look(*_args: object) -> None:
        st = w.results.stage(Row.PURIFIED)
        if st.current and st.classified:
            landed.append((st.result.defense.params["k"], st.result.defense.params["theta"]))

    w.results.dataChanged.connect(look)
    rng = np.random.default_rng(0)
    for i in range(100):  # a burst with no event processing between the changes
        which = i % 3
        if which == 0:
            w.state.set_defense_param("k", int(rng.integers(1, 9)))
        elif which == 1:
            w.state.set_defense_param("theta", float(np.round(rng.random(), 2)))
        else:
            w.state.set_attack_param("eps", float(rng.integers(1, 16)), "fgsm")
    final_k, final_theta = w.state.defense_values()["k"], w.state.defense_values()["theta"]
    final_eps = w.state.attack_config().params["eps"]
    w.pipeline.attack_now()
    wait_settled(qtbot, w)
    assert_no_threads()

    adv = w.results.result(Row.ADVERSARIAL)
    pur = w.results.result(Row.PURIFIED)
    assert adv.config.params["eps"] == final_eps
    assert (pur.defense.params["k"], pur.defense.params["theta"]) == (final_k, final_theta)
    assert landed[-1] == (final_k, final_theta)
    # the same pixels as the core on the same parameters, computed directly
    expected = w.state.defense_config().create().purify(adv.image).purified
    assert np.array_equal(pur.image, expected)
    shown = from_qimage(w.panels.column(Row.PURIFIED).image.image())
    assert np.array_equal(shown, to_uint8(expected))
