"""The PURIFY stage on its own: it needs no pipeline, only what it is handed and the hooks it calls."""

from __future__ import annotations

from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.gui.models.results import ResultsModel, Row, Status
from rsdesk.gui.models.state import AppState, DictionaryInfo
from rsdesk.gui.tasks.cache import StageCache
from rsdesk.gui.tasks.purify_stage import PurifyHooks, PurifyStage
from rsdesk.gui.tasks.runner import JobRunner


def _stage(qtbot, calls: list[str]) -> tuple[PurifyStage, AppState, ResultsModel]:
    state = AppState(DictionaryInfo(load_dictionary(default_dictionary_path())))
    results = ResultsModel()
    runner = JobRunner()

    def submit(*_args: object) -> None:
        raise AssertionError("nothing to purify: no job may start")

    hooks = PurifyHooks(
        submit=submit,  # type: ignore[arg-type]
        supersede=lambda: calls.append("supersede"),
        explain=lambda: calls.append("explain"),
        update_busy=lambda: calls.append("busy"),
        story=lambda *_a: calls.append("story"),
    )
    return PurifyStage(state, results, runner, StageCache(), hooks), state, results


def test_without_an_adversarial_image_there_is_nothing_to_purify(qtbot):
    calls: list[str] = []
    stage, _state, results = _stage(qtbot, calls)
    stage.resume()
    assert calls == ["busy"] and not stage.running() and not stage.pending()
    stage.defense_changed()
    assert calls == ["busy", "supersede", "busy"]  # superseded, but no debounce started
    assert not stage.pending() and results.stage(Row.PURIFIED).status is not Status.BUSY


def test_defense_off_is_said_at_once_and_the_cam_stage_follows(qtbot):
    calls: list[str] = []
    stage, state, results = _stage(qtbot, calls)
    state.set_defense_enabled(False)
    stage.defense_changed()
    assert results.stage(Row.PURIFIED).status is Status.OFF
    assert "press D" in results.stage(Row.PURIFIED).message
    assert calls == ["supersede", "supersede", "explain"]
    stage.drop_queued()
    stage.hold()
    assert not stage.running() and not stage.pending()
