"""Fine-tuning (``rsdesk.core.training.finetune``): what each mode changes, the saved state dict and its
metadata, the transform and FGSM variants, resuming after a cancel, and the config's checks.

The runs use the real EfficientNet-Lite0 on three small images (two train, one validation; one step per
epoch), so each takes seconds: they are marked slow. The checks of values and of the split are instant."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rsdesk.core.io.assets import default_dictionary_path, file_sha256, resource_path
from rsdesk.core.models.classifier import load_classifier
from rsdesk.core.progress import Cancelled
from rsdesk.core.training.checkpoint import SUFFIX
from rsdesk.core.training.data import split_validation
from rsdesk.core.training.finetune import EpochReport, FinetuneConfig, finetune

#: three images: two train, one validation (val_fraction 0.2 of 3 rounds up to the one-image minimum)
NAMES = ("camera.jpg", "chelsea.jpg", "coffee.jpg")
#: a two-image batch: one step per epoch
BASE = {"epochs": 2, "batch": 2}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("ftimages")
    out = []
    for name in NAMES:
        target = folder / f"{Path(name).stem}.png"
        Image.open(resource_path("samples", name)).convert("RGB").resize((128, 96)).save(target)
        out.append(target)
    return out


@pytest.fixture(scope="module")
def bn_run(images, tmp_path_factory):
    """The uninterrupted reference: train=bn for 2 epochs (its file is what a resumed run must equal)."""
    out = tmp_path_factory.mktemp("ftbn") / "model.pth"
    seen: list[EpochReport] = []
    rng = torch.get_rng_state()
    result = finetune(images, FinetuneConfig(**BASE), out, on_epoch=seen.append)
    assert torch.equal(rng, torch.get_rng_state())  # the caller's RNG is left alone
    return result, seen


def _bn_names(net: torch.nn.Module) -> set[str]:
    names = set()
    for mod_name, mod in net.named_modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            names |= {f"{mod_name}.{k}" for k, _ in [*mod.named_parameters(), *mod.named_buffers()]}
    return names


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.slow
def test_bn_trains_batchnorm_only_and_saves_a_plain_loadable_state_dict(bn_run, classifier):
    result, seen = bn_run
    start = classifier.net.state_dict()
    saved = torch.load(result.out, weights_only=True)
    assert set(saved) == set(start)
    changed = _changed(start, saved)
    bn = _bn_names(classifier.net)
    assert changed and changed <= bn
    assert any(k.endswith(".weight") for k in changed)  # the affine parameters moved …
    assert any(k.endswith(".running_mean") for k in changed)  # … and the running statistics
    model = load_classifier(weights=result.out)
    assert model.classify(np.full((64, 64, 3), 0.5, np.float32)).probs.shape == (1000,)
    assert [r.epoch for r in seen] == [1, 2] and [r.epoch for r in result.reports] == [1, 2]
    assert sum(r.best for r in result.reports) == 1 and result.resumed_from == 0 and not result.already_done
    assert not Path(str(result.out) + SUFFIX).exists()  # the checkpoint went with the output written


@pytest.mark.slow
def test_the_metadata_records_the_run(bn_run, images):
    result, _ = bn_run
    meta = result.metadata
    assert result.metadata_path == result.out.with_suffix(".json") and result.metadata_path.is_file()
    assert meta["classifier"]["name"] == "efficientnet-lite0"
    assert len(meta["classifier"]["weights_sha256"]) == 64
    assert meta["transform"] is None and meta["adversarial"] is None
    assert (meta["train"], meta["epochs"], meta["lr"], meta["batch"], meta["seed"]) == ("bn", 2, 1e-3, 2, 0)
    assert meta["targets"] == "model" and meta["loss"].startswith("cross-entropy")
    split = meta["images"]
    assert len(split["train"]) == 2 and len(split["validation"]) == 1
    by_name = {p.name: file_sha256(p) for p in images}
    for item in split["train"] + split["validation"]:
        assert by_name[item["name"]] == item["sha256"]
    val = meta["validation"]
    assert val["images"] == 1 and set(val["before"]) == set(val["after"]) == {"clean", "transformed"}
    assert meta["best_epoch"] in (1, 2) and len(meta["epoch_reports"]) == 2
    assert meta["minutes_per_epoch"] > 0 and {"rsdesk", "torch", "numpy", "python"} <= set(meta["versions"])
    assert meta["output_sha256"] == file_sha256(result.out) and len(meta["fingerprint"]) == 16
    assert meta["trainable_parameters"] > 0


@pytest.mark.slow
def test_a_finished_run_is_not_repeated(bn_run, images):
    result, _ = bn_run
    again = finetune(images, FinetuneConfig(**BASE), result.out, on_epoch=lambda r: pytest.fail("trained"))
    assert again.already_done and again.resumed_from == 2
    assert again.reports == result.reports and again.metadata["fingerprint"] == result.metadata["fingerprint"]


def _cancel_after_first_epoch():
    state = {"stop": False}
    return (lambda r: state.update(stop=True)), (lambda: state["stop"])


@pytest.mark.slow
def test_a_cancelled_run_resumes_after_its_last_epoch_and_ends_in_the_same_file(bn_run, images, tmp_path):
    reference, _ = bn_run
    out = tmp_path / "resumed.pth"
    on_epoch, cancel = _cancel_after_first_epoch()
    with pytest.raises(Cancelled):
        finetune(images, FinetuneConfig(**BASE), out, on_epoch=on_epoch, cancel=cancel)
    assert Path(str(out) + SUFFIX).is_file() and not out.exists()
    seen: list[EpochReport] = []
    result = finetune(images, FinetuneConfig(**BASE), out, on_epoch=seen.append)
    assert result.resumed_from == 1 and [r.epoch for r in seen] == [2]  # epoch 1 was not repeated
    assert [r.epoch for r in result.reports] == [1, 2]
    assert out.read_bytes() == reference.out.read_bytes()  # bitwise: the CPU run is deterministic
    assert [r.train_loss for r in result.reports] == [r.train_loss for r in reference.reports]


@pytest.mark.slow
def test_a_checkpoint_of_other_settings_is_not_resumed(images, tmp_path):
    out = tmp_path / "m.pth"
    on_epoch, cancel = _cancel_after_first_epoch()
    with pytest.raises(Cancelled):
        finetune(images, FinetuneConfig(**BASE), out, on_epoch=on_epoch, cancel=cancel)
    result = finetune(images, FinetuneConfig(epochs=1, batch=2, lr=5e-4), out)
    assert result.resumed_from == 0 and result.restarted
    assert [r.epoch for r in result.reports] == [1] and result.metadata["lr"] == 5e-4


@pytest.mark.slow
def test_head_trains_the_last_layer_only(images, tmp_path, classifier):
    result = finetune(images, FinetuneConfig(train="head", epochs=1, batch=2), tmp_path / "h.pth")
    changed = _changed(classifier.net.state_dict(), torch.load(result.out, weights_only=True))
    assert changed == {"_fc.weight", "_fc.bias"}
    assert result.metadata["trainable_parameters"] == 1280 * 1000 + 1000 and result.metadata["lr"] == 1e-4


@pytest.mark.slow
def test_all_trains_every_layer(images, tmp_path, classifier):
    result = finetune(images, FinetuneConfig(train="all", epochs=1, batch=2, lr=1e-4), tmp_path / "a.pth")
    changed = _changed(classifier.net.state_dict(), torch.load(result.out, weights_only=True))
    assert {"_conv_stem.weight", "_fc.weight", "_bn0.weight"} <= changed
    assert result.metadata["trainable_parameters"] == sum(p.numel() for p in classifier.net.parameters())


@pytest.mark.slow
def test_regionsparse_transform_is_trained_through_and_recorded(images, tmp_path):
    cfg = FinetuneConfig(transform="regionsparse", transform_params={"stride": "16"}, epochs=1, batch=2)
    result = finetune(images, cfg, tmp_path / "rs.pth")
    t = result.metadata["transform"]
    assert t["name"] == "regionsparse" and t["params"]["stride"] == 16 and t["params"]["k"] == 4
    assert t["file"]["sha256"] == file_sha256(default_dictionary_path())
    rep = result.reports[0]
    assert rep.val_transformed is not None and rep.val_transformed_before is not None
    assert result.metadata["validation"]["after"]["transformed"] == rep.val_transformed


@pytest.mark.slow
def test_fgsm_adversarial_training_runs_and_is_recorded(images, tmp_path):
    result = finetune(
        images, FinetuneConfig(adversarial="fgsm", eps=4, epochs=1, batch=2), tmp_path / "a.pth"
    )
    adv = result.metadata["adversarial"]
    assert adv["attack"] == "fgsm" and adv["eps"] == 4 and "adversarial" in adv["mix"]
    assert result.metadata["transform"] is None and math.isfinite(result.reports[0].train_loss)


@pytest.mark.slow
def test_regionsparse_plus_fgsm_passes_the_adversarials_through_the_transform(images, tmp_path, monkeypatch):
    from rsdesk.core.training import data

    calls: list[tuple] = []
    original = data.Transform.__call__

    def spy(self, img, key):
        calls.append(key)
        return original(self, img, key)

    monkeypatch.setattr(data.Transform, "__call__", spy)
    cfg = FinetuneConfig(
        transform="rs", transform_params={"stride": 16}, adversarial="FGSM", epochs=1, batch=2, train="head"
    )
    result = finetune(images, cfg, tmp_path / "rsa.pth")
    assert sorted(k[0] for k in calls) == ["adversarial", "adversarial", "train", "train", "val"]
    assert result.metadata["transform"]["name"] == "regionsparse"
    assert result.metadata["adversarial"]["attack"] == "fgsm"


@pytest.mark.slow
def test_bad_images_are_skipped_with_one_message_each(images, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    problems: list[str] = []
    cfg = FinetuneConfig(epochs=1, batch=2, train="head", val_fraction=0)
    result = finetune([*images[:2], broken], cfg, tmp_path / "m.pth", on_problem=problems.append)
    assert len(problems) == 1 and "broken.png" in problems[0] and result.skipped == problems
    assert result.metadata["validation"]["images"] == 0
    assert "last epoch" in result.metadata["validation"]["kept"] and result.reports[0].val_clean is None
    with pytest.raises(ValueError, match="no usable images"):
        finetune([broken], cfg, tmp_path / "n.pth", on_problem=problems.append)


@pytest.mark.slow
def test_labels_targets_skip_unlabelled_images(image_folder, tmp_path):
    """image_folder: one synset-named image, one labelled in labels.csv, one with neither."""
    files = sorted(image_folder.glob("*.png"))
    problems: list[str] = []
    cfg = FinetuneConfig(targets="labels", epochs=1, batch=2, train="head", val_fraction=0)
    result = finetune(files, cfg, tmp_path / "m.pth", on_problem=problems.append)
    assert len(problems) == 1 and "photo2.png" in problems[0] and "no label" in problems[0]
    targets = {i["name"]: i["target"] for i in result.metadata["images"]["train"]}
    assert targets == {"n04485082_0.png": 872, "photo1.png": 967}


def test_the_validation_split_is_stable_and_never_empty_or_everything():
    names = [f"img{i}.png" for i in range(10)]
    train, val = split_validation(names, 0.2, seed=0)
    assert len(val) == 2 and sorted(train + val) == list(range(10))
    shuffled = names[::-1]
    _, val2 = split_validation(shuffled, 0.2, seed=0)
    assert {shuffled[i] for i in val2} == {names[i] for i in val}  # by name, not by position
    assert {names[i] for i in split_validation(names, 0.2, seed=1)[1]} != {names[i] for i in val}
    assert split_validation(["a", "b"], 0.01, 0)[1] != [] and split_validation(["a", "b"], 0.99, 0)[0] != []
    assert split_validation(["a"], 0.5, 0) == ([0], []) and split_validation(names, 0.0, 0)[1] == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train": "everything"}, "train must be one of bn, head, all, got 'everything'"),
        ({"targets": "truth"}, "targets must be one of model, labels"),
        ({"epochs": 0}, "epochs must be a whole number within 1…10000, got 0"),
        ({"batch": 2.5}, "batch must be a whole number"),
        ({"lr": -1.0}, "lr must be greater than 0 and at most 1, got -1.0"),
        ({"eps": float("nan")}, "eps must be a finite number, got nan"),
        ({"val_fraction": 1.0}, "val_fraction must be at least 0 and below 1, got 1.0"),
        ({"adversarial": "bim"}, "adversarial must be fgsm (or none), got 'bim'"),
        ({"adversarial": "nope"}, "unknown attack 'nope'"),
        ({"transform": "nope"}, "unknown defense 'nope'"),
        (
            {"transform": "regionsparse", "transform_params": {"k": 0}},
            "K (sparsity) must be within 1…64, got 0",
        ),
        ({"transform_params": {"k": 3}}, "without a transform"),
        ({"transform": "jpeg", "transform_file": "d.npz"}, "transform_file must be None"),
        ({"classifier": "nonet"}, "unknown classifier 'nonet'"),
        ({"device": "gpu0"}, "device 'gpu0' is not a device"),
    ],
)
def test_config_values_are_checked_in_one_sentence(changes, message):
    with pytest.raises(ValueError, match=None) as info:
        FinetuneConfig(**changes).validate()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_defaults_per_mode():
    assert FinetuneConfig().learning_rate == 1e-3
    assert FinetuneConfig(train="head").learning_rate == 1e-4
    assert FinetuneConfig(train="all").learning_rate == 1e-5
    assert FinetuneConfig(train="all", lr=0.01).learning_rate == 0.01
    FinetuneConfig().validate()


def test_a_randomized_transform_draws_anew_per_epoch_and_the_same_on_a_rerun(sample_image):
    from rsdesk.core.training.data import Transform

    tvm = Transform("tvm", {"iterations": 2}, None, "cpu", seed=0)
    img = sample_image[:32, :32]
    first, again, next_epoch = tvm(img, ("train", 1, 0)), tvm(img, ("train", 1, 0)), tvm(img, ("train", 2, 0))
    assert tvm.reseeded and np.array_equal(first, again) and not np.array_equal(first, next_epoch)
    rs = Transform("regionsparse", {"stride": 16}, None, "cpu", seed=0)
    assert not rs.reseeded  # deterministic: computed once, cached
