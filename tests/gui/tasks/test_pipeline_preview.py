"""The purified image first: a defense edit shows its image before its predictions, the last edit of a rapid
series always wins, and superseded purifications never pile up."""

from __future__ import annotations

import threading
import time

import numpy as np
from gui_helpers import assert_no_threads, wait_settled

from rsdesk.core.io.images import to_uint8
from rsdesk.gui.models.results import Row, Status
from rsdesk.gui.tasks import stages
from rsdesk.gui.tasks.pipeline import PURIFY_DEBOUNCE_MS, Stage
from rsdesk.gui.widgets.qimage import from_qimage


def shown_pixels(window, row: Row) -> np.ndarray:
    return from_qimage(window.panels.column(row).image.image())


def purified_log(window) -> list[tuple[int, bool]]:
    """(K, classified) of every purified result the panel showed as current, in order."""
    log: list[tuple[int, bool]] = []

    def look(*_args: object) -> None:
        st = window.results.stage(Row.PURIFIED)
        if st.current and (not log or log[-1] != (st.result.defense.params["k"], st.classified)):
            log.append((st.result.defense.params["k"], st.classified))

    window.results.dataChanged.connect(look)
    return log


def test_the_image_arrives_before_its_predictions(window, qtbot, monkeypatch):
    wait_settled(qtbot, window)
    real = stages.run_purify

    def slow_to_classify(model, original, attack, defense, progress=None, cancel=None, shown=None):
        def then_wait(image_only):
            shown(image_only)
            time.sleep(0.5)  # the predictions come later: the image must not wait for them

        return real(model, original, attack, defense, progress, cancel, then_wait)

    monkeypatch.setattr(stages, "run_purify", slow_to_classify)
    log = purified_log(window)
    finished = []
    window.pipeline.stage_finished.connect(lambda s, r: s == Stage.PURIFY and finished.append(r))
    window.defense_controls.editor("k").box.setValue(2)  # what the user's edit does
    assert window.results.stage(Row.PURIFIED).status is Status.STALE

    st = window.results.stage
    qtbot.waitUntil(lambda: st(Row.PURIFIED).current and st(Row.PURIFIED).result.defense.params["k"] == 2)
    image_only = st(Row.PURIFIED).result
    assert not st(Row.PURIFIED).classified and image_only.prediction is None and not finished
    assert window.results.result(Row.PURIFIED) is None  # exports and CAMs wait for the whole result
    column = window.panels.column(Row.PURIFIED)
    assert np.array_equal(shown_pixels(window, Row.PURIFIED), to_uint8(image_only.image))
    assert not column.image.busy and not column.image.stale  # shown as current, not greyed
    assert column.verdict.verdict() is None
    assert "K 2" in column.subtitle.text() and "out of date" not in column.subtitle.text()

    wait_settled(qtbot, window)  # the predictions still arrive
    full = window.results.result(Row.PURIFIED)
    assert full is not None and full.prediction is not None and full.clean_prediction is not None
    assert finished == [full]
    assert np.array_equal(full.image, image_only.image)
    assert column.verdict.verdict() is full.judgement.verdict
    assert column.bars.rows() and full.cam is not None
    assert log == [(2, False), (2, True)]


def test_rapid_edits_end_with_the_last_settings_and_never_pile_up(window, qtbot, monkeypatch):
    wait_settled(qtbot, window)
    real = stages.run_purify
    lock = threading.Lock()
    running, most = [0], [0]

    def counted(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.03)  # deaf to cancel for a while: a superseded job runs on past newer edits
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(stages, "run_purify", counted)
    log = purified_log(window)
    edits = [5, 6, 3, 7, 9, 8, 10, 11, 2]  # all different, so a landing names its edit
    editor = window.defense_controls.editor("k")
    for i, k in enumerate(edits):
        editor.box.setValue(k)
        qtbot.wait(2 + 9 * (i % 3))  # a drag: some edits land before the last job's image, some after
    wait_settled(qtbot, window)
    assert_no_threads()

    assert log and log[-1] == (2, True)
    final = window.results.result(Row.PURIFIED)
    assert final.defense.params["k"] == 2
    assert np.array_equal(shown_pixels(window, Row.PURIFIED), to_uint8(final.image))
    # Whatever landed on the way, it landed in the order of the edits: never an older one after a newer.
    positions = [edits.index(k) for k, _classified in log]
    assert positions == sorted(positions)
    assert most[0] == 1  # one purification at a time: superseded ones never pile up
    assert PURIFY_DEBOUNCE_MS <= 20


def test_a_stale_image_only_result_stays_greyed(window, qtbot, monkeypatch):
    """An edit made after the image landed but before its predictions greys it and drops its predictions."""
    wait_settled(qtbot, window)
    real = stages.run_purify
    gate = threading.Event()

    def held(model, original, attack, defense, progress=None, cancel=None, shown=None):
        def then_hold(image_only):
            shown(image_only)
            if defense.params["k"] == 2:
                gate.wait(10)

        return real(model, original, attack, defense, progress, cancel, then_hold)

    monkeypatch.setattr(stages, "run_purify", held)
    log = purified_log(window)
    st = window.results.stage
    window.defense_controls.editor("k").box.setValue(2)
    qtbot.waitUntil(lambda: st(Row.PURIFIED).current and st(Row.PURIFIED).result.defense.params["k"] == 2)
    window.defense_controls.editor("k").box.setValue(5)
    assert st(Row.PURIFIED).status is Status.STALE and window.panels.column(Row.PURIFIED).image.stale
    gate.set()  # the k=2 job now classifies, but it was superseded: nothing of it may land
    wait_settled(qtbot, window)
    assert window.results.result(Row.PURIFIED).defense.params["k"] == 5
    assert (2, True) not in log and log[-1] == (5, True)
