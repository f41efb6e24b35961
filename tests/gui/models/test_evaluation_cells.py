"""What the Evaluate tab says beside a run's numbers, Qt-free: how a cell's attack is crafted again (or why it
cannot be), which dictionary a run used against the window's, and how many adversarials it kept."""

from __future__ import annotations

from rsdesk.core.evaluation import parse_plan, preset
from rsdesk.core.io.assets import default_dictionary_path, file_sha256
from rsdesk.gui.models.evaluation_cells import (
    Recraft,
    dictionary_check,
    kept_text,
    recraft,
    run_dictionary_text,
    skipped_text,
)
from rsdesk.gui.models.evaluation_plan import PlanChoice, build_plan

LITE0 = {"name": "efficientnet-lite0", "title": "EfficientNet-Lite0"}


def run_json(data, classifier=LITE0, dictionaries=None):
    return {"plan": parse_plan(data).as_dict(), "classifier": classifier, "dictionaries": dictionaries or {}}


def test_a_gray_box_cell_is_crafted_again_with_the_runs_parameters_at_its_strength():
    rj = run_json(preset("paper-table2"))
    how = recraft(rj, ("bim", 14.0, "regionsparse"), "efficientnet-lite0", None)
    assert how == Recraft("bim", {"steps": 10, "alpha": None, "eps": 14.0}, False)
    aware = recraft(run_json(preset("paper-bpda")), ("bpda", 8.0, "jpeg"), "efficientnet-lite0", None)
    assert isinstance(aware, Recraft) and aware.through_defense and aware.values["eps"] == 8.0
    cw = recraft(rj, ("cw", 0.1, "jpeg"), "efficientnet-lite0", None)
    assert isinstance(cw, Recraft) and cw.values["d"] == 0.1


def test_a_cell_the_window_cannot_craft_says_why_in_one_clause():
    transfer = run_json(build_plan(PlanChoice(threat="transfer")))
    why = recraft(transfer, ("fgsm@lite2", 4.0, "jpeg"), "efficientnet-lite0", None)
    assert why == "it was crafted on efficientnet-lite2 (the window attacks only its own classifier)"
    rescaled = recraft(run_json(preset("paper-table2")), ("mifgsm", 0.1, "jpeg"), "efficientnet-lite0", None)
    assert isinstance(rescaled, str) and "rescaled to d" in rescaled
    other = recraft(run_json(preset("demo")), ("fgsm", 4.0, "jpeg"), "efficientnet-lite2", None)
    assert other == "the run's classifier (EfficientNet-Lite0) is not the window's"
    assert "no attack 'pgd'" in recraft(run_json(preset("demo")), ("pgd", 4.0, "jpeg"), "x", None)


def test_the_runs_dictionary_against_the_windows(tmp_path):
    bundled = {"file": str(default_dictionary_path()), "sha256": file_sha256(default_dictionary_path())}
    gone = {"file": str(tmp_path / "gone.npz"), "sha256": "ab" * 32}
    rj = run_json(preset("paper-fig4"), dictionaries={"Region": bundled, "noIS": {"sha256": "cd" * 32}})
    assert dictionary_check(rj, None).text == ""  # noIS is the ablation's own: not the window's counterpart
    assert run_dictionary_text(rj) == "dictionary default"
    other = run_json(preset("demo"), dictionaries={"regionsparse": gone})
    check = dictionary_check(other, None)
    assert "used the dictionary gone.npz (SHA-256 abababababab…); the window uses default" in check.text
    assert "not on this computer" in check.text and check.run_file is None
    back = dictionary_check(rj, tmp_path / "mine.npz")  # the window's file is not the run's default
    assert "the window uses mine.npz" in back.text and back.run_file == default_dictionary_path()


def test_the_line_on_adversarials_not_kept():
    assert kept_text(10, 10) == "" and kept_text(0, 0) == ""
    assert kept_text(0, 12).startswith("This run kept no adversarial images:")
    assert kept_text(3, 12).startswith("This run kept 3 of its 12 adversarial images:")


def test_the_files_a_run_skipped_are_counted_beside_its_images():
    assert skipped_text(["a.txt: not an image"]) == "1 file skipped (a.txt: not an image)"
    assert (
        skipped_text(["a.txt: not an image", "b.jpg: no label"])
        == "2 files skipped (first: a.txt: not an image)"
    )
