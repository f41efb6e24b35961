"""Plans: parsing and its messages, sweeps, presets, merging, and the run directory's results file."""

from __future__ import annotations

import pytest

from rsdesk.core.evaluation import PRESETS, PlanError, RunDirectory, parse_plan, preset
from rsdesk.core.evaluation.retrained import attach_models
from rsdesk.core.evaluation.rundir import COLUMNS


def plan(**over):
    base = {
        "attacks": {"bim": {}, "cw": {"params": {"steps": 5}}},
        "defenses": {"jpeg": {"sweep": {"quality": [30, 75]}}},
        "experiments": [{"name": "e", "attacks": {"bim": [8, 2], "cw": [0.1]}, "defenses": ["jpeg"]}],
    }
    base.update(over)
    return base


def test_a_plan_is_completed_and_checked():
    p = parse_plan(plan())
    assert list(p.defenses) == ["none", "jpeg[quality=30]", "jpeg[quality=75]"]  # none added, sweep expanded
    assert p.defenses["jpeg[quality=30]"].knob == "quality" and p.defenses["jpeg[quality=30]"].group == "jpeg"
    assert p.attacks["bim"].params == {"steps": 10, "alpha": None}  # every parameter, the strength aside
    assert p.attacks["cw"].strength.param == "d"
    e = p.experiments[0]
    assert e.strengths == {"bim": (2.0, 8.0), "cw": (0.1,)}
    assert e.defenses == ("none", "jpeg[quality=30]", "jpeg[quality=75]")
    assert parse_plan(p.as_dict()).as_dict() == p.as_dict()  # plan.json reads back to the same plan


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attacks": {"bim": {}, "cw": {"attack": "nope"}}}, "unknown attack 'nope'"),
        ({"experiments": [{"name": "e", "attacks": {"cw": [8]}}]}, "cw takes d"),
        ({"experiments": [{"name": "e", "attacks": {"zzz": [8]}}]}, "unknown attack 'zzz'"),
        (
            {"experiments": [{"name": "e", "attacks": {"bim": [8]}, "defenses": ["tvm"]}]},
            "unknown defense 'tvm'",
        ),
        ({"defenses": {"jpeg": {"params": {"quality": 0}}}}, "quality must be within 1…100"),
        ({"attacks": {"bim": {"source": "efficientnet-lite2", "threat": "aware"}}}, "only a defense-aware"),
        ({"experiments": []}, "no experiments"),
        ({"protocol": "some"}, "protocol must be one of"),
        ({"defenses": {"jpeg": {"dictionary": "random"}}}, "takes no dictionary"),
    ],
)
def test_bad_plans_say_what_is_wrong(change, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(plan(**change))


def test_merging_keeps_keys_consistent():
    a = parse_plan(plan())
    b = parse_plan(plan(experiments=[{"name": "f", "attacks": {"bim": [4]}, "defenses": ["jpeg"]}]))
    assert [e.name for e in a.merged(b).experiments] == ["e", "f"]
    other = parse_plan(plan(attacks={"bim": {"params": {"steps": 3}}, "cw": {"params": {"steps": 5}}}))
    with pytest.raises(PlanError, match="configured differently"):
        a.merged(other)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_parses_and_reads_back_from_plan_json(name, tmp_path):
    data = preset(name)
    retrained = [k for k, s in data["defenses"].items() if (s or {}).get("retrained")]
    if retrained:  # Fig. 6/7 and Table II's adversarial rows: refused until each row has its model
        with pytest.raises(PlanError, match="retrained model"):
            parse_plan(data)
        (tmp_path / "m.pth").write_bytes(b"x")
        data = attach_models(data, dict.fromkeys(retrained, str(tmp_path / "m.pth")))
    p = parse_plan(data)
    assert p.experiments and "none" in p.defenses
    assert parse_plan(p.as_dict()).as_dict() == p.as_dict()


def test_paper_presets_use_the_papers_strengths():
    fig5 = parse_plan(preset("paper-fig5")).experiments[0]
    assert fig5.strengths["bim"] == (2, 6, 10, 14, 18, 22) and fig5.strengths["cw"][-1] == 0.2
    fig4 = parse_plan(preset("paper-fig4"))
    assert {d.dictionary for d in fig4.defenses.values()} >= {"noIS", "noPN", "random"}
    fig8 = parse_plan(preset("paper-fig8", source="efficientnet-lite1"))
    assert {a.source for a in fig8.attacks.values()} == {"efficientnet-lite1"}
    assert fig8.attacks["mifgsm@lite1"].scale_to_d


def test_results_file_tolerates_a_torn_line_and_appends_after_it(tmp_path):
    run = RunDirectory(tmp_path)
    row = dict.fromkeys(COLUMNS, 0) | {"file": "a.png", "attack": "bim", "defense": "none"}
    run.append_rows([row])
    with open(run.results_path, "a") as fh:
        fh.write("b.png,1,graybox,,bim,8,no")  # the machine lost power mid-line
    assert [r["file"] for r in run.read_rows()] == ["a.png"]
    run.append_rows([row | {"file": "c.png"}])
    assert [r["file"] for r in run.read_rows()] == ["a.png", "c.png"]
    assert run.results_path.read_text().count("\n") == 3
