"""Rows judged by a model of their own (training-time defenses): the black-box and extended gray-box threat
models, the classifier column, --model and its checks, images a model was fine-tuned on left out, and a
results.csv of before read and extended in its own columns."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch

from rsdesk.core.evaluation import PlanError, RunDirectory, parse_plan, preset, run_evaluation
from rsdesk.core.evaluation.retrained import attach_models, exclude_trained, parse_model_options
from rsdesk.core.evaluation.rundir import COLUMNS, LEGACY_COLUMNS, ImageItem
from rsdesk.core.io.assets import resource_path
from rsdesk.core.models.registry import weights_file
from rsdesk.core.models.weights import read_state_dict


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("retrained") / "photos"
    folder.mkdir()
    for name in ("coffee.jpg", "camera.jpg"):
        shutil.copy(resource_path("samples", name), folder / name)
    (folder / "labels.csv").write_text("file,class_index\ncoffee.jpg,967\ncamera.jpg,872\n")
    return folder


@pytest.fixture(scope="module")
def shifted_model(tmp_path_factory):
    """Lite0 whose classes are rolled by one: it predicts c + 1 where Lite0 predicts c, so a row judged by
    it is recognisable in results.csv; its card names the classifier, as rsdesk finetune's does."""
    state = read_state_dict(weights_file("efficientnet-lite0"))
    fc = [k for k in state if k.endswith("weight") and state[k].ndim == 2 and state[k].shape[0] == 1000]
    assert len(fc) == 1
    bias = fc[0][: -len("weight")] + "bias"
    state[fc[0]] = torch.roll(state[fc[0]], 1, dims=0)
    state[bias] = torch.roll(state[bias], 1, dims=0)
    folder = tmp_path_factory.mktemp("model")
    torch.save(state, folder / "shifted.pth")
    (folder / "shifted.json").write_text(json.dumps({"classifier": {"name": "efficientnet-lite0"}}))
    return folder / "shifted.pth"


def retrained_plan():
    attacks = {
        "bim": {"attack": "bim", "params": {"steps": 2}},
        "bim-bb": {"attack": "bim", "params": {"steps": 2}, "threat": "blackbox"},
        "bim-xg": {"attack": "bim", "params": {"steps": 2}, "threat": "extended-graybox"},
    }
    return {
        "batch_size": 2,
        "attacks": attacks,
        "defenses": {
            "none": {},
            "shifted": {"defense": "none", "retrained": True, "title": "Shifted model"},
        },
        "experiments": [{"name": "e", "attacks": {key: [4] for key in attacks}, "defenses": ["shifted"]}],
    }


@pytest.mark.slow
def test_rows_judged_by_their_own_model_under_each_threat(photos, shifted_model, tmp_path):
    plan = attach_models(retrained_plan(), {"shifted": str(shifted_model)})
    assert parse_plan(plan).defenses["shifted"].classifier == "efficientnet-lite0"  # from the card
    summary = run_evaluation(plan, [photos], tmp_path / "run")
    run = RunDirectory(tmp_path / "run")
    rows = {(r["file"], r["attack"], r["strength"], r["defense"]): r for r in run.read_rows()}
    for f in ("coffee.jpg", "camera.jpg"):
        clean_none, clean_shift = rows[(f, "bim", 0.0, "none")], rows[(f, "bim", 0.0, "shifted")]
        assert clean_shift["pred_index"] == (clean_none["pred_index"] + 1) % 1000  # judged by its own model
        assert clean_none["classifier"] == "efficientnet-lite0"
        assert clean_shift["classifier"] == "efficientnet-lite0 [shifted.pth]"
    # gray-box and black-box craft once on the plan's classifier; extended gray-box crafts on the row's
    shape = (224, 224, 3)
    gray = run.load_adversarial(run.adversarial_path("bim", 4.0, "coffee.jpg"), shape)
    black = run.load_adversarial(run.adversarial_path("bim-bb", 4.0, "coffee.jpg"), shape)
    extended = run.load_adversarial(run.adversarial_path("bim-xg", 4.0, "coffee.jpg", "shifted"), shape)
    assert gray is not None and black is not None and extended is not None
    np.testing.assert_array_equal(gray, black)
    assert np.abs(extended - gray).max() > 1 / 255
    titles = {k: a["title"] for k, a in summary["attacks"].items()}
    assert titles["bim-bb"] == "BIM (black-box)" and titles["bim-xg"] == "BIM (extended gray-box)"
    assert summary["defenses"]["shifted"]["title"] == "Shifted model"
    # resuming writes nothing twice
    n = len(run.read_rows())
    run_evaluation(plan, [photos], tmp_path / "run")
    assert len(run.read_rows()) == n


def test_a_retrained_row_without_its_model_is_refused_with_the_command_that_makes_it(tmp_path):
    with pytest.raises(PlanError, match="rsdesk finetune FOLDER --transform regionsparse --adversarial fgsm"):
        attach_models(preset("paper-table2-adv"), {"fgsm-adv": __file__})
    with pytest.raises(PlanError, match="names no row of the plan: nope"):
        attach_models(preset("paper-table2-adv"), {"nope": __file__})
    with pytest.raises(PlanError, match="is not a file"):
        attach_models(preset("paper-fig7"), {"jpeg-retrained": str(tmp_path / "missing.pth")})
    with pytest.raises(PlanError, match="give its file"):
        parse_plan(preset("paper-fig6"))
    with pytest.raises(ValueError, match="ROW=FILE"):
        parse_model_options(["just-a-file.pth"])
    assert parse_model_options(["a=x.pth", " b = y.pth "]) == {"a": "x.pth", "b": "y.pth"}


def test_the_undefended_reference_takes_no_model_of_its_own():
    with pytest.raises(PlanError, match="reference row"):
        parse_plan(
            {
                "attacks": {"fgsm": {}},
                "defenses": {"none": {"classifier_weights": __file__}},
                "experiments": [{"name": "e", "attacks": {"fgsm": [2]}}],
            }
        )


def test_presets_of_retrained_rows_name_their_threats():
    fig6, fig7 = preset("paper-fig6"), preset("paper-fig7")
    assert {a["threat"] for a in fig6["attacks"].values()} == {"blackbox"}
    assert {a["threat"] for a in fig7["attacks"].values()} == {"extended-graybox"}
    # Fig. 6 keeps each defense with the normal model beside its retrained row (the gray-box reference)
    assert {"regionsparse", "regionsparse-retrained"} <= set(fig6["defenses"])
    table = preset("paper-table2-adv")
    assert [d.get("title") for d in table["defenses"].values()] == [
        None,
        "FGSM Adversarial",
        None,
        "RegionSparse + FGSM Adversarial",
    ]


def test_images_a_model_was_fine_tuned_on_are_left_out(tmp_path):
    imgs = []
    for i in range(3):
        p = tmp_path / f"{i}.png"
        p.write_bytes(bytes([i]) * 10)
        imgs.append(ImageItem(p.name, str(p), i))
    sha = hashlib.sha256((tmp_path / "1.png").read_bytes()).hexdigest()
    (tmp_path / "m.pth").write_bytes(b"x")
    (tmp_path / "m.json").write_text(json.dumps({"images": {"train": [{"name": "1.png", "sha256": sha}]}}))
    notes = []
    plan = {"defenses": {"none": {}, "r": {"classifier_weights": str(tmp_path / "m.pth")}}}
    kept = exclude_trained(imgs, plan, notes.append)
    assert [i.id for i in kept] == ["0.png", "2.png"]
    assert notes == ["1 of 3 images left out: a row's model was fine-tuned on them"]
    assert exclude_trained(imgs, {"defenses": {"none": {}}}) == imgs


def test_a_results_file_of_before_is_read_and_extended_in_its_own_columns(tmp_path):
    (tmp_path / "results.csv").write_text(",".join(LEGACY_COLUMNS) + "\n")
    run = RunDirectory(tmp_path)
    row = dict.fromkeys(COLUMNS, 0) | {"file": "a.png", "attack": "bim", "defense": "none", "classifier": "x"}
    run.append_rows([row])
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0] == ",".join(LEGACY_COLUMNS) and len(lines[1].split(",")) == len(LEGACY_COLUMNS)
    (back,) = RunDirectory(tmp_path).read_rows()
    assert back["file"] == "a.png" and back["classifier"] == ""


def test_plan_json_records_each_rows_model_and_a_learned_defenses_file(shifted_model):
    from rsdesk.core.evaluation.manifest import describe_run
    from rsdesk.core.io.assets import comdefend_weights_path, file_sha256

    plan = parse_plan(
        {
            "attacks": {"fgsm": {}},
            "defenses": {
                "shifted": {"defense": "none", "classifier_weights": str(shifted_model)},
                "comdefend": {},
            },
            "experiments": [{"name": "e", "attacks": {"fgsm": [2]}, "defenses": ["shifted", "comdefend"]}],
        }
    )
    run = describe_run(plan, [], "efficientnet-lite0", None)
    assert run["row_models"]["shifted"]["weights_sha256"] == file_sha256(shifted_model)
    assert run["learned_files"]["comdefend"]["sha256"] == file_sha256(comdefend_weights_path())
    assert run["learned_files"].keys() == {"comdefend"} and run["row_models"].keys() == {"shifted"}
