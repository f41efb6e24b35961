"""A new method is one module plus one registry line in the core, and nothing else.

A newcomer's fixed-budget attack and parameter-only defense are written here (each would be one module in
``rsdesk/core/attacks/`` or ``rsdesk/core/defenses/``) and registered with one line each (here
``monkeypatch.setitem`` on ``ATTACKS`` / ``DEFENSES``, which is the registry line in the package's
``__init__``). With no other edit they run from the command line (``attack``, ``purify``, ``evaluate``:
their parameters become options) and in an evaluation whose checks, summary and figures read their traits.
The classifier family's counterpart is ``tests/core/models/test_registry.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rsdesk.cli import main
from rsdesk.core.attacks import ATTACKS
from rsdesk.core.attacks.base import EPS, Attack
from rsdesk.core.defenses import DEFENSES, create_defense
from rsdesk.core.defenses.base import Defense, DefenseResult, LearnedFile
from rsdesk.core.io.assets import resource_path
from rsdesk.core.params import Param
from rsdesk.core.progress import check_cancel, report

pytestmark = pytest.mark.slow

COFFEE = resource_path("samples", "coffee.jpg")
CAMERA = resource_path("samples", "camera.jpg")


def records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class SignNoise(Attack):
    """Random signs at ε (gradient-free, one shot): a fixed-budget attack, projected by construction."""

    name, title = "signnoise", "Sign noise (a test attack)"
    single_step = True
    PARAMS = (EPS, Param("seed", "noise seed", 0, 0, 2**31 - 1, integer=True))
    MAIN_PARAMS = ("eps",)

    def perturb(self, model, x, ref, tgt, progress, cancel):
        check_cancel(cancel)
        gen = torch.Generator().manual_seed(int(self.params["seed"]))
        signs = torch.randint(0, 2, tuple(x.shape), generator=gen).float().mul(2).sub(1).to(x.device)
        report(progress, 1.0, "done")
        return torch.clamp(x + self.params["eps"] / 255.0 * signs, 0.0, 1.0), 1


class Posterize(Defense):
    """Fewer grey levels per channel: a defense with parameters only."""

    name, title = "posterize", "Posterize (a test defense)"
    PARAMS = (Param("levels", "grey levels", 4, 2, 256, integer=True, symbol="L"),)
    MAIN_PARAMS = ("levels",)

    def purify(self, img, progress=None, cancel=None):
        n = int(self.values["levels"]) - 1
        return DefenseResult(purified=(np.round(np.asarray(img, np.float32) * n) / n).astype(np.float32))


def _gains(value):
    """The learned file's value → what the constructor takes: its gains (None: the built-in default)."""
    return np.ones(3, np.float32) if value is None else np.load(value, allow_pickle=False)


class ChannelGain(Defense):
    """A learned defense: per-channel gains read from its own file (as a ComDefend would read weights)."""

    name, title = "gain", "Channel gain (a test learned defense)"
    learned_file = LearnedFile("weights", "gains file", resolve=_gains)

    def __init__(self, weights, device="cpu", **values):
        super().__init__(**values)
        self.gains = np.asarray(weights, np.float32)

    def purify(self, img, progress=None, cancel=None):
        return DefenseResult(purified=np.clip(np.asarray(img, np.float32) * self.gains, 0, 1))


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(ATTACKS, SignNoise.name, SignNoise)
    monkeypatch.setitem(DEFENSES, Posterize.name, Posterize)
    monkeypatch.setitem(DEFENSES, ChannelGain.name, ChannelGain)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(COFFEE, folder / "a.jpg")
    shutil.copy(CAMERA, folder / "b.jpg")
    (folder / "labels.csv").write_text("file,class_index\na.jpg,967\nb.jpg,872\n")
    return folder


def test_a_new_attack_is_a_command_line_attack_with_its_own_options(registered, capsys, tmp_path):
    args = ["--attack", "signnoise", "--eps", "4", "--seed", "7", "--format", "npy", "--json", "--quiet"]
    code = main(["attack", str(COFFEE), *args, "--out", str(tmp_path / "adv")])
    assert code == 0
    (rec,) = records(capsys.readouterr().out)
    assert 3.99 <= rec["linf"] <= 4.0 + 1e-4  # within its budget (and at it: every pixel moved by ε)
    assert Path(rec["out"]).name == "coffee_signnoise.npy"


def test_a_new_defense_purifies_from_the_command_line(registered, capsys, tmp_path):
    args = ["--defense", "posterize", "--set", "levels=3", "--format", "npy", "--json", "--quiet"]
    code = main(["purify", str(COFFEE), *args, "--out", str(tmp_path / "pur")])
    assert code == 0
    (rec,) = records(capsys.readouterr().out)
    purified = np.load(rec["out"])
    assert set(np.unique(np.round(purified * 2, 4))) <= {0.0, 1.0, 2.0}  # three levels: 0, ½, 1


def test_both_run_in_an_evaluation_whose_checks_read_their_traits(registered, capsys, tmp_path):
    run = tmp_path / "run"
    args = ["--attacks", "signnoise,bim", "--strengths", "4", "--steps", "2", "--defenses", "none,posterize"]
    args += ["--set", "posterize.levels=16", "--all-images", "--json", "--quiet", "--out", str(run)]
    code = main(["evaluate", str(_folder(tmp_path)), *args])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    cells = {(c["attack"], c["strength"], c["defense"]): c for c in summary["cells"]}
    assert cells[("signnoise", 4.0, "posterize")]["n"] == 2 and cells[("bim", 4.0, "posterize")]["n"] == 2
    assert summary["attacks"]["signnoise"]["symbol"] == "ε"
    assert summary["defenses"]["posterize"]["title"] == "Posterize (a test defense)"
    checks = {c["name"]: c for c in summary["checks"]}
    assert checks["adversarials lie in their ε-ball, in [0, 1], without NaN"]["ok"] is True
    # single_step: BIM is compared with it as with FGSM (and the comparison ran)
    assert checks["iterative attacks are at least as strong as FGSM (undefended model)"]["ok"] is not None
    plan = json.loads((run / "plan.json").read_text())["plan"]
    assert plan["attacks"]["signnoise"]["params"] == {"seed": 0}
    assert plan["defenses"]["posterize"]["params"] == {"levels": 16}
    assert (run / "adversarials" / "signnoise" / "4").is_dir()


def test_a_learned_defense_declares_its_file_and_an_evaluation_reads_it(registered, tmp_path):
    from rsdesk.core.evaluation import PlanError, parse_plan, run_evaluation

    gains = tmp_path / "gains.npy"
    np.save(gains, np.array([0.5, 1.0, 1.0], np.float32))
    img = np.full((8, 8, 3), 0.8, np.float32)
    assert create_defense("gain", file=gains).purify(img).purified[0, 0].tolist() == pytest.approx(
        [0.4, 0.8, 0.8]
    )
    assert not ChannelGain.needs_dictionary and create_defense("gain").purify(img).purified[0, 0, 0] == 0.8
    plan = {
        "attacks": {"fgsm": {"attack": "fgsm"}},
        "defenses": {"gain": {"weights": str(gains)}},
        "experiments": [{"name": "e", "attacks": {"fgsm": [4]}, "defenses": ["gain"]}],
        "protocol": "all",
    }
    assert parse_plan(plan).defenses["gain"].file == str(gains)
    with pytest.raises(PlanError, match="takes no gains file"):
        parse_plan({**plan, "defenses": {"jpeg": {"weights": str(gains)}}})
    with pytest.raises(PlanError, match=r"gains file 'missing\.npy' is neither a file"):
        parse_plan({**plan, "defenses": {"gain": {"weights": "missing.npy"}}})
    summary = run_evaluation(plan, [_folder(tmp_path)], tmp_path / "run")
    written = json.loads((tmp_path / "run" / "plan.json").read_text())["plan"]["defenses"]["gain"]
    assert written["weights"] == str(gains)
    assert {c["defense"] for c in summary["cells"]} == {"none", "gain"}
