"""The presets' contents: the adaptive evaluation, Table II's and Fig. 5's fixed-budget L2 columns beside the
paper's τ-scaled ones, and the shipped dev run still extending (not re-crafting) under today's paper-all."""

from __future__ import annotations

import json
from pathlib import Path

from rsdesk.core.evaluation import PRESETS, parse_plan, preset
from rsdesk.core.evaluation.checkkit import gradient_free
from rsdesk.core.evaluation.masking import longer_pairs
from rsdesk.core.evaluation.presets import PAPER_TABLE2
from rsdesk.core.evaluation.summary import attack_titles

DEV_PLAN = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "dev" / "plan.json"


def test_the_adaptive_preset_attacks_through_every_defense_at_both_kinds():
    p = parse_plan(preset("adaptive"))
    linf, l2, longer = p.experiments
    defenses = ("none", "regionsparse", "jpeg", "squeeze", "tvm", "bilateral")
    assert linf.strengths == dict.fromkeys(
        ("apgd-ce", "bpda-apgd-ce", "bpda-apgd-dlr", "square"), (2.0, 4.0, 8.0)
    )
    assert l2.strengths == dict.fromkeys(
        ("apgd-ce-l2", "bpda-apgd-ce-l2", "bpda-apgd-dlr-l2", "square-l2"), (0.005, 0.01, 0.02)
    )
    assert linf.defenses == l2.defenses == longer.defenses == defenses
    assert (linf.limit, l2.limit, longer.limit) == (20, 20, 10)
    # gray-box APGD beside the defense-aware attacks: the comparison the paper makes, and the check's
    assert {k for k, a in p.attacks.items() if a.threat == "graybox"} == {"apgd-ce", "apgd-ce-l2"}
    assert all(a.threat == "aware" for k, a in p.attacks.items() if not k.startswith("apgd"))
    for key in ("bpda-apgd-ce", "bpda-apgd-dlr", "bpda-apgd-ce-l2", "bpda-apgd-dlr-l2"):
        params = p.attacks[key].params
        assert (params["steps"], params["restarts"], params["surrogate"], params["eot"]) == (10, 1, "auto", 4)
    assert [k for k, a in p.attacks.items() if gradient_free(a)] == ["square", "square-l2"]
    assert p.attacks["square"].params["queries"] == p.attacks["square-l2"].params["queries"] == 300
    # the "more iterations" subset: the same attack at 5× its steps at ε 4/255, paired by the check
    assert longer.strengths == {"bpda-apgd-ce": (4.0,), "bpda-apgd-ce[steps=50]": (4.0,)}
    assert longer_pairs(p) == [("bpda-apgd-ce", "bpda-apgd-ce[steps=50]")]
    titles = attack_titles(p)
    assert (titles["bpda-apgd-ce"], titles["bpda-apgd-ce[steps=50]"]) == (
        "BPDA·APGD-CE · 10 steps",
        "BPDA·APGD-CE · 50 steps",
    )


def test_adaptive_is_offered_and_left_out_of_paper_all():
    assert "adaptive" in PRESETS
    assert not set(parse_plan(preset("adaptive")).experiments[0].strengths) & set(
        parse_plan(preset("paper-all")).attacks
    )


def test_table2_runs_fixed_budget_l2_beside_the_papers_tau_scaled_columns():
    p = parse_plan(preset("paper-table2"))
    table = p.experiments[0]
    assert list(table.strengths) == ["fgsm", "bim", "pgd-l2", "mifgsm-l2", "cw", "mifgsm"]
    for key in ("pgd-l2", "mifgsm-l2"):
        assert table.strengths[key] == (0.01, 0.14, 0.2)
        assert p.attacks[key].bounded and p.attacks[key].strength.kind == "d"
        assert p.attacks[key].params["steps"] == 10
    assert p.attacks["cw"].title == "CW-L2, τ-scaled as in the paper"
    assert p.attacks["mifgsm"].title == "MI-FGSM (at d), τ-scaled as in the paper"
    assert p.attacks["bim"].title == "BIM" and p.attacks["pgd-l2"].title == "PGD-L2"
    # the paper's numbers stay on the columns the paper ran: its τ-scaled CW-L2 and MI-FGSM
    ours = PAPER_TABLE2["paper: RegionSparse (Inception-v3)"]
    assert table.reference["paper: RegionSparse (Inception-v3)"] == ours
    assert {k for k in ours if k != "clean"} == {"fgsm", "bim", "cw", "mifgsm"}
    assert all(p.attacks[k].scaled for k in ("cw", "mifgsm"))
    fig5 = parse_plan(preset("paper-fig5")).experiments[0]
    assert fig5.strengths["pgd-l2"] == fig5.strengths["cw"] == (0.01, 0.05, 0.1, 0.14, 0.2)


def test_the_shipped_dev_run_extends_under_todays_paper_all_without_recrafting():
    dev = parse_plan(json.loads(DEV_PLAN.read_text(encoding="utf-8"))["plan"])
    today = parse_plan(preset("paper-all"))
    merged = dev.merged(today)  # a key configured differently would raise PlanError
    for key, entry in dev.attacks.items():
        assert merged.attacks[key] == entry  # every adversarial the run holds is still the same attack's
    for key, entry in dev.defenses.items():
        assert merged.defenses[key] == entry
    assert [e.name for e in merged.experiments] == [e.name for e in dev.experiments]
    assert set(merged.attacks) - set(dev.attacks) == {"pgd-l2", "mifgsm-l2"}  # new columns only
