"""▶ Attack with nothing changed: the result of these very settings shows at once — no re-run, and no panel
greyed (busy or out of date) for the seconds a re-run would take."""

from __future__ import annotations

from gui_helpers import wait_settled

from rsdesk.gui.models.results import Row, Status
from rsdesk.gui.tasks import stages


def _watch(window) -> list[tuple[Row, Status, bool]]:
    seen: list[tuple[Row, Status, bool]] = []

    def look(*_args: object) -> None:
        for row in Row:
            st = window.results.stage(row)
            seen.append((row, st.status, st.explaining))

    window.results.dataChanged.connect(look)
    return seen


def test_attack_again_with_unchanged_settings_greys_nothing(window, qtbot, monkeypatch):
    wait_settled(qtbot, window)
    shown = {row: window.results.result(row) for row in Row}
    attacks: list[object] = []
    real = stages.run_attack
    monkeypatch.setattr(stages, "run_attack", lambda *a, **k: attacks.append(a) or real(*a, **k))
    seen = _watch(window)
    window.acts.attack.trigger()  # ▶ Attack, as the toolbar or Ctrl+Enter does
    assert window.pipeline.is_idle()  # nothing started, nothing waiting
    qtbot.wait(500)
    assert attacks == []
    assert not [s for s in seen if s[1] is not Status.CURRENT or s[2]], seen
    for row in Row:
        assert window.results.stage(row).status is Status.CURRENT
        assert window.results.result(row) is shown[row]  # the very results, still on the panels
    assert not window.panels.column(Row.ADVERSARIAL).image.busy
    assert not window.panels.column(Row.PURIFIED).image.stale


def test_attack_with_new_settings_still_runs_and_back_shows_the_cached_one(window, qtbot, monkeypatch):
    wait_settled(qtbot, window)
    first = window.results.result(Row.ADVERSARIAL)
    window.pipeline.set_auto_attack(False)
    window.state.set_attack_param("eps", 4.0, "fgsm")
    window.pipeline.attack_now()
    assert window.results.stage(Row.ADVERSARIAL).status is Status.BUSY  # other settings: a real attack
    wait_settled(qtbot, window)
    assert window.results.result(Row.ADVERSARIAL).config.params["eps"] == 4.0
    window.state.set_attack_param("eps", first.config.params["eps"], "fgsm")
    seen = _watch(window)
    window.pipeline.attack_now()  # made before with these settings: from the cache, at once
    assert window.results.result(Row.ADVERSARIAL) is first
    assert not [s for s in seen if s[0] is Row.ADVERSARIAL and s[1] is Status.BUSY]
