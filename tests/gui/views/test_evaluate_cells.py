"""The Evaluate tab and the window in agreement (issue 19, items 8–10): a preset run from the tab uses the
window's dictionary and a run made with another one says so (and offers it); a cell whose adversarial the run
did not keep is crafted again at the cell's attack and strength, or says why not, never the toolbar's other
attack; the gallery's line of a cell's image is the panels' verdict of it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from evaluation_helpers import SAMPLES, labelled_folder, wait_shown
from gui_helpers import wait_settled
from layout_helpers import SIZES, layout_problems
from PySide6.QtCore import Qt

from rsdesk.core.evaluation import COLUMNS, RunDirectory, parse_plan
from rsdesk.core.io.assets import default_dictionary_path, file_sha256
from rsdesk.core.sparse.dictionary_file import load_dictionary, save_dictionary
from rsdesk.core.verdicts import verdict_story
from rsdesk.gui.models.evaluation_plan import PlanChoice, build_plan
from rsdesk.gui.models.gallery import SummaryCurrentRole, SummaryRole
from rsdesk.gui.models.results import Row, Status
from rsdesk.gui.models.stage_results import CachedAttack

GRAYBOX = PlanChoice(attacks=("fgsm",), linf=(4.0, 12.0), defenses=("jpeg",))
TRANSFER = PlanChoice(attacks=("fgsm",), linf=(4.0, 12.0), defenses=("jpeg",), threat="transfer")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    return labelled_folder(tmp_path_factory.mktemp("cells") / "images")


@pytest.fixture(scope="module")
def other_dictionary(tmp_path_factory):
    """A dictionary that is not the bundled one (its atoms in another order, so another SHA-256)."""
    d = load_dictionary(default_dictionary_path())
    other = replace(d, atoms=d.atoms[::-1].copy())
    return save_dictionary(tmp_path_factory.mktemp("dicts") / "other.npz", other)


def made_up_run(out, choice: PlanChoice, images, dictionaries=None):
    """A run directory of ``choice``'s plan on ``images`` (the real files) with made-up rows (every attack
    wins undefended, JPEG recovers) and no adversarials/ folder, as the shipped dev run."""
    plan = parse_plan(build_plan(choice))
    run = RunDirectory(out)
    run.create()
    data = {
        "plan": plan.as_dict(),
        "classifier": {"name": "efficientnet-lite0", "title": "EfficientNet-Lite0"},
        "images": [{"id": p.name, "path": str(p), "true_index": SAMPLES[p.name]} for p in images],
    }
    if dictionaries is not None:
        data["dictionaries"] = dictionaries
    run.write_json("plan.json", data)
    rows = []
    for key, entry in plan.attacks.items():
        for s in (0.0, 4.0, 12.0):
            for d in plan.defenses:
                for p in images:
                    ok = s == 0 or d != "none"
                    t = SAMPLES[p.name]
                    rows.append(
                        dict.fromkeys(COLUMNS, 0)
                        | {"file": p.name, "true_index": t, "threat": entry.threat, "attack": key}
                        | {"source": entry.source or "", "strength": s, "defense": d}
                        | {"pred_index": t if ok else t + 1, "correct": int(ok), "counted": 1, "in_range": 1}
                    )
    run.append_rows(rows)
    return out


def click_cell(qtbot, tab, cell) -> None:
    tab.outcome.setCurrentIndex(tab.outcome.findData("all"))
    rect = tab.table.visualRect(tab.table_model.index_of(cell))
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def images_of(labelled):
    return sorted(labelled.glob("*.jpg"))


# ----- item 8: the dictionary ---------------------------------------------------------------------------
def test_a_preset_plan_takes_the_windows_dictionary_where_it_names_none(other_dictionary):
    demo = build_plan(PlanChoice(preset="demo", dictionary=str(other_dictionary)))
    assert demo["defenses"]["regionsparse"]["dictionary"] == str(other_dictionary)
    assert "dictionary" not in demo["defenses"]["jpeg"]
    fig4 = build_plan(PlanChoice(preset="paper-fig4", dictionary=str(other_dictionary)))
    assert fig4["defenses"]["Region"]["dictionary"] == str(other_dictionary)
    assert fig4["defenses"]["noIS"]["dictionary"] == "noIS"  # an ablation keeps its own
    assert "dictionary" not in build_plan(PlanChoice(preset="demo"))["defenses"]["regionsparse"]


def test_a_preset_run_from_the_tab_records_the_windows_dictionary(
    make_window, qtbot, labelled, other_dictionary, tmp_path
):
    w = make_window()
    assert w.session.use_dictionary(other_dictionary)
    tab, runner = w.evaluation.tab, w.session.evaluation
    s = tab.setup
    s.preset.setCurrentIndex(s.preset.findData("demo"))
    s.use_folder.setChecked(True)
    s.folder.setText(str(labelled))
    out = tmp_path / "demo"
    s.run_dir.setText(str(out))
    assert tab.run()
    plan_json = out / "plan.json"
    qtbot.waitUntil(plan_json.is_file, timeout=120000)  # written before the first unit of work
    tab.runner.cancel()
    qtbot.waitUntil(lambda: not runner.is_running(), timeout=30000)
    recorded = json.loads(plan_json.read_text(encoding="utf-8"))["dictionaries"]["regionsparse"]
    assert recorded["sha256"] == file_sha256(other_dictionary) != file_sha256(default_dictionary_path())
    qtbot.waitUntil(lambda: not runner.is_loading(), timeout=30000)
    assert not any("dictionary" in line for line in tab.notes.lines())  # the window's own: nothing to say


def test_a_run_made_with_another_dictionary_says_so_and_offers_it(
    make_window, qtbot, labelled, other_dictionary, tmp_path
):
    identity = {"file": str(other_dictionary), "sha256": file_sha256(other_dictionary)}
    choice = PlanChoice(attacks=("fgsm",), linf=(4.0, 12.0), defenses=("regionsparse", "jpeg"))
    run = made_up_run(tmp_path / "other", choice, images_of(labelled), {"regionsparse": identity})
    w = make_window()
    tab = w.evaluation.tab
    assert w.evaluation.open_run(run)
    wait_shown(qtbot, tab, 60000)
    lines = tab.notes.lines()
    said = [line for line in lines if "dictionary other.npz" in line]
    assert len(said) == 1 and "the window uses default" in said[0], lines
    assert "dictionary other.npz" in tab.run_label.text()  # which dictionary the run used, always
    assert tab.notes.use_run_dictionary.isVisible()
    assert any("kept no adversarial images" in line for line in lines)  # the run kept none (item 9)
    qtbot.mouseClick(tab.notes.use_run_dictionary, Qt.MouseButton.LeftButton)
    assert w.state.dictionary.path == other_dictionary
    assert w.session.settings.dictionary_path == str(other_dictionary)
    assert not any("dictionary" in line for line in tab.notes.lines())  # the same now
    assert not tab.notes.use_run_dictionary.isVisible()
    assert w.session.use_dictionary(None)  # back to the bundled one: the line says so again
    assert any("dictionary other.npz" in line for line in tab.notes.lines())
    wait_settled(qtbot, w)


# ----- item 9: a run without its adversarials -----------------------------------------------------------
def test_a_cell_without_its_adversarial_is_crafted_again_at_its_attack_and_strength(
    make_window, qtbot, labelled, tmp_path
):
    run = made_up_run(tmp_path / "graybox", GRAYBOX, images_of(labelled))
    w = make_window()
    w.state.set_attack("bim")  # the toolbar's unrelated attack: BIM ε 8
    tab = w.evaluation.tab
    assert w.evaluation.open_run(run)
    wait_shown(qtbot, tab, 60000)
    assert any("kept no adversarial images" in line for line in tab.notes.lines())
    click_cell(qtbot, tab, ("fgsm", 12.0, "jpeg"))

    def crafted():
        adv = w.results.stage(Row.ADVERSARIAL)
        cfg = getattr(adv.result, "config", None)
        return adv.current and cfg is not None and cfg.name == "fgsm"

    qtbot.waitUntil(crafted, timeout=60000)
    cfg = w.results.result(Row.ADVERSARIAL).config
    assert dict(cfg.values)["eps"] == 12.0 and cfg.target is None
    assert w.state.attack == "fgsm" and w.state.defense == "jpeg"
    log = w.log.toPlainText()
    assert log.count("re-crafted here: the run did not keep its adversarial images") == 1
    assert "unusable" not in log and "No such file" not in log
    wait_settled(qtbot, w)


def test_a_cell_the_window_cannot_craft_says_why_and_runs_no_other_attack(
    make_window, qtbot, labelled, tmp_path
):
    run = made_up_run(tmp_path / "transfer", TRANSFER, images_of(labelled))
    w = make_window(images=images_of(labelled))
    wait_settled(qtbot, w)
    w.state.set_attack("bim")
    wait_settled(qtbot, w)
    tab = w.evaluation.tab
    assert w.evaluation.open_run(run)
    wait_shown(qtbot, tab, 60000)
    click_cell(qtbot, tab, ("fgsm@lite2", 12.0, "jpeg"))
    qtbot.waitUntil(lambda: w.state.image is not None and w.state.image.name in SAMPLES, timeout=30000)

    def said_why():
        adv = w.results.stage(Row.ADVERSARIAL)
        return adv.status is Status.EMPTY and "crafted on efficientnet-lite2" in adv.message

    qtbot.waitUntil(said_why, timeout=30000)
    wait_settled(qtbot, w)
    adv = w.results.stage(Row.ADVERSARIAL)
    assert said_why() and adv.result is None, adv  # the toolbar's BIM ε 8 is not shown instead
    assert "did not keep its adversarial images" in adv.message
    assert w.results.stage(Row.PURIFIED).result is None
    log = w.log.toPlainText()
    assert log.count("its images cannot be shown") == 1, log
    assert w.state.attack == "bim"  # nothing changed on the toolbar
    # another image of the cell: the same line on its panel, no second message
    view = w.gallery_view
    rows = [r for r in range(w.gallery.rowCount()) if not view.isRowHidden(r)]
    other = next(r for r in rows if w.gallery.item(r).path != w.state.image)
    view.setCurrentIndex(w.gallery.index(other))
    qtbot.waitUntil(said_why, timeout=30000)
    wait_settled(qtbot, w)
    assert said_why() and w.log.toPlainText().count("its images cannot be shown") == 1


# ----- item 10: the gallery's line is the panels' verdict -----------------------------------------------
def test_the_gallery_line_of_a_cells_image_is_the_panels_verdict(make_window, qtbot, labelled, tmp_path):
    images = images_of(labelled)
    run = made_up_run(tmp_path / "kept", GRAYBOX, images)
    w = make_window(images=images)
    wait_settled(qtbot, w)
    size = w.state.classifier.input_size
    rng = np.random.default_rng(0)
    rd = RunDirectory(run)
    for p in images:  # the run's adversarials: noise, which the bare classifier gets wrong
        for strength in (4.0, 12.0):
            adversarial = rng.random((size, size, 3))
            rd.save_adversarial(rd.adversarial_path("fgsm", strength, p.name), adversarial)
    toolbar_line = "FOOLED → STILL FOOLED (the toolbar's BIM ε 8)"  # no verdict story reads like this
    for p in images:  # what the toolbar's attack told before, current for the toolbar's settings
        w.gallery.set_summary(p, toolbar_line, w.pipeline.current_summary_key())
    tab = w.evaluation.tab
    assert w.evaluation.open_run(run)
    wait_shown(qtbot, tab, 60000)
    assert not tab.notes.lines()  # every adversarial kept, the window's dictionary
    click_cell(qtbot, tab, ("fgsm", 12.0, "jpeg"))

    def purified():
        adv, pur = w.results.stage(Row.ADVERSARIAL), w.results.stage(Row.PURIFIED)
        cached = isinstance(getattr(adv.result, "config", None), CachedAttack)
        return cached and adv.current and pur.current and pur.classified

    qtbot.waitUntil(purified, timeout=60000)
    wait_settled(qtbot, w)
    adv, pur = w.results.result(Row.ADVERSARIAL), w.results.result(Row.PURIFIED)
    panel = verdict_story(adv.judgement.verdict, pur.judgement.verdict)
    index = w.gallery.index(w.gallery.row_of(w.state.image))
    assert index.data(SummaryRole) == panel
    assert index.data(SummaryCurrentRole)  # drawn as current, not "(other settings)"
    assert not adv.config.defense_aware  # FGSM is gray-box: not crafted through the defense
    w.state.set_defense_param("quality", 40)  # another defense: purified again, the line follows
    qtbot.waitUntil(purified, timeout=60000)
    wait_settled(qtbot, w)
    pur = w.results.result(Row.PURIFIED)
    assert index.data(SummaryRole) == verdict_story(adv.judgement.verdict, pur.judgement.verdict)
    assert index.data(SummaryCurrentRole)
    w.state.set_attack_param("eps", 3.0)  # the toolbar's own attack: the cell's line is no longer current
    assert not index.data(SummaryCurrentRole)
    wait_settled(qtbot, w)


def test_a_defense_aware_cells_adversarial_is_marked_as_crafted_through_the_defense(
    make_window, qtbot, labelled, tmp_path, monkeypatch
):
    images = images_of(labelled)
    choice = PlanChoice(attacks=("bpda",), linf=(4.0, 12.0), defenses=("jpeg",), threat="aware")
    run = made_up_run(tmp_path / "aware", choice, images)
    rd = RunDirectory(run)
    for p in images:
        for via in ("jpeg", "none"):
            rd.save_adversarial(rd.adversarial_path("bpda", 12.0, p.name, via), np.zeros((8, 8, 3)))
    w = make_window()
    shown = []  # a fake: what the pipeline is asked to show
    monkeypatch.setattr(w.pipeline, "show_cached_adversarial", lambda *a, **kw: shown.append((a, kw)))
    tab = w.evaluation.tab
    assert w.evaluation.open_run(run)
    wait_shown(qtbot, tab, 60000)
    click_cell(qtbot, tab, ("bpda", 12.0, "jpeg"))
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    (path, _adv, caption), named = shown[-1]
    assert named == {"name": "bpda", "defense_aware": True} and "cached by run aware" in caption
    assert path.name in SAMPLES and w.state.defense == "jpeg"
    shown.clear()
    click_cell(qtbot, tab, ("bpda", 12.0, "none"))  # through no defense: nothing to be aware of
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    assert shown[-1][1] == {"name": "bpda", "defense_aware": False}
    wait_settled(qtbot, w)


@pytest.mark.parametrize("size", SIZES)
def test_the_notes_on_a_run_fit_the_window(make_window, qtbot, labelled, other_dictionary, tmp_path, size):
    identity = {"file": str(other_dictionary), "sha256": file_sha256(other_dictionary)}
    choice = PlanChoice(attacks=("fgsm",), linf=(4.0, 12.0), defenses=("regionsparse", "jpeg"))
    run = made_up_run(tmp_path / "notes", choice, images_of(labelled), {"regionsparse": identity})
    w = make_window()
    w.showFullScreen = lambda: None
    w.resize(*size)
    qtbot.waitUntil(lambda: w.size().toTuple() == size)
    tab = w.evaluation.tab
    assert w.evaluation.open_run(run)
    wait_shown(qtbot, tab, 60000)
    assert len(tab.notes.lines()) == 2 and tab.notes.use_run_dictionary.isVisible()
    qtbot.wait(100)  # the word-wrapped lines laid out
    w.grab().save(str(tmp_path / "notes.png"))
    assert not layout_problems(w, root=tab)
    wait_settled(qtbot, w)


# ----- item 14: files the run's walk skipped ----------------------------------------------------------------
def test_the_run_line_says_which_files_were_skipped_beside_the_count(make_window, qtbot, labelled, tmp_path):
    run = made_up_run(tmp_path / "skipped", GRAYBOX, images_of(labelled))
    data = RunDirectory(run).read_json("plan.json")
    data["skipped"] = ["notes.txt: not an image file; skipped", "odd.jpg: no label", "bad.jpg: truncated"]
    RunDirectory(run).write_json("plan.json", data)
    w = make_window()
    tab = w.evaluation.tab
    assert w.evaluation.open_run(run)
    wait_shown(qtbot, tab, 60000)
    text = tab.run_label.text()
    assert "images counted · 3 files skipped (first: notes.txt: not an image file; skipped)" in text, text
    assert "bad.jpg: truncated" in tab.run_label.toolTip()
    wait_settled(qtbot, w)
