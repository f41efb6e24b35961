"""rsdesk.core.models.precision: bf16 autocast for the attacks' gradient steps, judged in fp32; the plan's
``precision`` field and the ``--precision`` option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdesk.core.attacks import attack_class, create_attack
from rsdesk.core.evaluation import PlanError, parse_plan
from rsdesk.core.evaluation.builder import Choices, plan_from_choices
from rsdesk.core.models import precision as prec
from rsdesk.core.models.precision import (
    PRECISIONS,
    GradientModel,
    bf16_supported,
    gradient_model,
    require_precision,
)
from rsdesk.core.verdicts import attack_success

needs_bf16 = pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bf16")


def _fp32_predictions(model, adv: np.ndarray) -> list[int]:
    x = torch.from_numpy(np.stack(adv)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        return model(x).argmax(1).tolist()


def test_fp32_is_the_model_itself_and_other_names_are_refused(tiny_classifier, tiny_batch):
    assert PRECISIONS == ("fp32", "bf16")
    assert gradient_model(tiny_classifier, "fp32") is tiny_classifier
    with pytest.raises(ValueError, match="unknown precision 'fp16'; choose one of fp32, bf16"):
        gradient_model(tiny_classifier, "fp16")
    with pytest.raises(ValueError, match="unknown precision"):
        create_attack("bim", eps=4, steps=2).run(tiny_classifier, tiny_batch, precision="half")


def test_an_unsupported_device_is_one_clear_error(monkeypatch, tiny_classifier, tiny_batch):
    monkeypatch.setattr(prec, "bf16_unsupported_reason", lambda device: "no bf16 instructions")
    with pytest.raises(ValueError, match=r"^bf16 attack gradients are not supported on cpu: no bf16"):
        require_precision("bf16", torch.device("cpu"))
    with pytest.raises(ValueError, match="not supported on cpu"):
        create_attack("fgsm", eps=4).run(tiny_classifier, tiny_batch, precision="bf16")
    assert require_precision("fp32", "cpu") == "fp32"  # fp32 never asks the device


@needs_bf16
def test_the_wrapper_runs_the_network_in_bf16_and_returns_float32_logits(tiny_classifier, tiny_batch):
    wrapped = gradient_model(tiny_classifier, "bf16")
    assert isinstance(wrapped, GradientModel)
    assert wrapped.device == tiny_classifier.device and wrapped.input_size == 32
    assert wrapped.spec is tiny_classifier.spec
    seen = []
    handle = tiny_classifier.net.conv2.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    try:
        logits = wrapped(tiny_batch)
    finally:
        handle.remove()
    assert seen == [torch.bfloat16]  # autocast really ran the convolutions in bf16
    assert logits.dtype == torch.float32
    with torch.no_grad():
        ref = tiny_classifier(tiny_batch)
    scale = float(ref.abs().max())
    torch.testing.assert_close(logits.detach(), ref, rtol=0.02, atol=0.03 * scale)
    probs = wrapped.probabilities(tiny_batch)
    assert probs.dtype == torch.float32
    torch.testing.assert_close(probs.sum(1), torch.ones(4), rtol=0, atol=1e-5)
    # the input gradient is float32, and mostly of the fp32 gradient's sign
    x = tiny_batch.clone().requires_grad_(True)
    (g16,) = torch.autograd.grad(wrapped(x).logsumexp(1).sum(), x)
    x32 = tiny_batch.clone().requires_grad_(True)
    (g32,) = torch.autograd.grad(tiny_classifier(x32).logsumexp(1).sum(), x32)
    assert g16.dtype == torch.float32
    assert (g16.sign() == g32.sign()).float().mean() > 0.8


class _Spy:
    """Records which model each attack's perturb was given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
        self.models: list[object] = []
        original = cls.perturb

        def perturb(attack, model, *args):
            self.models.append(model)
            return original(attack, model, *args)

        monkeypatch.setattr(cls, "perturb", perturb)


@needs_bf16
@pytest.mark.parametrize("name", ["fgsm", "bim", "cw"])
def test_a_bf16_attack_is_crafted_in_bf16_and_judged_in_fp32(monkeypatch, tiny_classifier, tiny_batch, name):
    cls = attack_class(name)
    spy = _Spy(monkeypatch, cls)
    params = {"c": 1.0, "steps": 10} if name == "cw" else {"eps": 8}
    outs = cls(**params).run(tiny_classifier, tiny_batch, precision="bf16")
    assert isinstance(spy.models[0], GradientModel)
    with torch.no_grad():
        clean = tiny_classifier(tiny_batch).argmax(1).tolist()
    assert [o.reference for o in outs] == clean  # the reference labels are fp32's
    predicted = _fp32_predictions(tiny_classifier, [o.adversarial for o in outs])
    assert [o.predicted for o in outs] == predicted  # the verdict is fp32's on the adversarial
    assert [o.success for o in outs] == [attack_success(p, r, None) for p, r in zip(predicted, clean)]
    assert any(o.success for o in outs)  # and the bf16 gradients still attack
    cls(**params).run(tiny_classifier, tiny_batch)
    assert spy.models[1] is tiny_classifier  # fp32: the model itself


@needs_bf16
def test_a_defense_aware_attack_in_bf16_is_judged_through_the_defense_in_fp32(tiny_classifier, tiny_batch):
    def purify(img: np.ndarray) -> np.ndarray:
        return np.clip(np.round(img * 16) / 16, 0, 1).astype(np.float32)  # a deterministic stand-in

    bpda = attack_class("bpda")(purify=purify, eps=8, steps=3)
    outs = bpda.run(tiny_classifier, tiny_batch, precision="bf16")
    purified = [purify(o.adversarial) for o in outs]
    assert [o.predicted for o in outs] == _fp32_predictions(tiny_classifier, purified)
    assert all(o.success == (o.predicted != o.reference) for o in outs)


def _plan(**over):
    base = {
        "attacks": {"bim": {}},
        "defenses": {"jpeg": {}},
        "experiments": [{"name": "e", "attacks": {"bim": [4]}, "defenses": ["jpeg"]}],
    }
    return {**base, **over}


def test_the_plan_carries_its_precision_through_plan_json():
    p = parse_plan(_plan(precision="bf16"))
    assert p.precision == "bf16" and p.as_dict()["precision"] == "bf16"
    assert parse_plan(p.as_dict()).as_dict() == p.as_dict()
    old = parse_plan(_plan())  # a plan.json written before the field: fp32
    assert old.precision == "fp32" and old.as_dict()["precision"] == "fp32"
    with pytest.raises(PlanError, match="precision must be one of fp32, bf16, got 'fp16'"):
        parse_plan(_plan(precision="fp16"))
    built = plan_from_choices(Choices(("bim",), {"linf": (4,)}, ("jpeg",), precision="bf16"))
    assert parse_plan(built).precision == "bf16"
    assert "precision" not in plan_from_choices(Choices(("bim",), {"linf": (4,)}, ("jpeg",)))


def test_the_precision_option_parses(tmp_path):
    from rsdesk.cli.evaluate import build_plan
    from rsdesk.cli.router import build_parser

    parser = build_parser()
    attack = ["attack", "a.png", "--out", str(tmp_path)]
    assert parser.parse_args(attack).precision == "fp32"
    assert parser.parse_args([*attack, "--precision", "bf16"]).precision == "bf16"
    with pytest.raises(SystemExit):
        parser.parse_args([*attack, "--precision", "fp16"])
    evaluate = ["evaluate", str(tmp_path)]
    assert parse_plan(build_plan(parser.parse_args(evaluate))).precision == "fp32"
    args = parser.parse_args([*evaluate, "--precision", "bf16"])
    assert parse_plan(build_plan(args)).precision == "bf16"
    preset = parser.parse_args([*evaluate, "--plan", "demo", "--precision", "bf16"])
    assert parse_plan(build_plan(preset)).precision == "bf16"  # over a preset's own


def test_the_attack_command_refuses_bf16_where_unsupported(monkeypatch, capsys, tmp_path):
    from rsdesk.cli import main
    from rsdesk.core.io.assets import resource_path

    monkeypatch.setattr(prec, "bf16_unsupported_reason", lambda device: "no bf16 instructions")
    out, coffee = tmp_path / "adv", str(resource_path("samples", "coffee.jpg"))
    code = main(["attack", "--precision", "bf16", "--out", str(out), coffee])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: bf16 attack gradients are not supported on cpu: no bf16 instructions; use fp32" in err
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.slow
@needs_bf16
def test_the_attack_command_in_bf16_is_judged_on_the_saved_file_in_fp32(capsys, tmp_path, classifier):
    import json

    from rsdesk.cli import main
    from rsdesk.core.io.assets import resource_path
    from rsdesk.core.io.images import load_image

    coffee = resource_path("samples", "coffee.jpg")
    args = ["attack", "--json", "--quiet", "--attack", "bim", "--eps", "4", "--steps", "3", "--format", "npy"]
    assert main([*args, "--precision", "bf16", "--out", str(tmp_path), str(coffee)]) == 0
    rec = json.loads(capsys.readouterr().out)
    pred = classifier.classify(load_image(rec["out"]))
    assert rec["top5"][0]["index"] == pred.index
    assert rec["success"] == (pred.index != 967)
    assert rec["linf"] <= 4 + 1e-3
