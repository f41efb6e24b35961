"""timm/<name>: the paper's Inception models through timm, weights from a local file (never downloaded).

Most tests use timm's tiny ``test_efficientnet`` (0.4 M parameters, 160², crop 0.95, ImageNet mean/std), whose
file is made here from a random-init network; one slow test builds the paper's Inception-v3.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")

from rsdesk.cli import main  # noqa: E402
from rsdesk.core.attacks import create_attack  # noqa: E402
from rsdesk.core.errors import ClassifierError  # noqa: E402
from rsdesk.core.io.assets import sample_image_paths  # noqa: E402
from rsdesk.core.io.images import resize_center_crop  # noqa: E402
from rsdesk.core.models import (  # noqa: E402
    available_classifiers,
    classifier_spec,
    load_classifier,
    source_tag,
    timm_family,
)
from rsdesk.core.models.explain import class_activation_map  # noqa: E402

TINY = "test_efficientnet"
PAPER = [
    "timm/inception_v3.tf_in1k",
    "timm/inception_v3.tf_adv_in1k",
    "timm/inception_v4.tf_in1k",
    "timm/inception_resnet_v2.tf_in1k",
    "timm/inception_resnet_v2.tf_ens_adv_in1k",
]


def _timm_net(arch: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return timm.create_model(arch, pretrained=False, num_classes=1000).eval()


def _save(net: torch.nn.Module, path: Path, rename: Callable[[str], str] = str) -> Path:
    state = {rename(k): v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    safetensors_torch.save_file(state, str(path))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random-init test_efficientnet and its weights as a .safetensors file."""
    net = _timm_net(TINY)
    return net, _save(net, tmp_path_factory.mktemp("timm") / "model.safetensors")


def _one_line_error(call: Callable[[], object]) -> str:
    with pytest.raises(ClassifierError) as info:
        call()
    msg = str(info.value)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg


# ----- names and specs ---------------------------------------------------------------------------------
def test_the_menus_list_the_papers_five_models():
    assert timm_family.TIMM.names() == PAPER
    assert available_classifiers()[-5:] == PAPER  # after torchvision's
    assert source_tag("timm/inception_v3.tf_adv_in1k") == "inception_v3.tf_adv_in1k"


@pytest.mark.parametrize(
    ("name", "crop", "feature", "fc"),
    [
        ("timm/inception_v3.tf_in1k", 0.875, "Mixed_7c", "fc"),
        ("timm/inception_v3.tf_adv_in1k", 0.875, "Mixed_7c", "fc"),
        ("timm/inception_v4.tf_in1k", 0.875, "features.21", "last_linear"),
        ("timm/inception_resnet_v2.tf_in1k", 0.8975, "conv2d_7b", "classif"),
        ("timm/inception_resnet_v2.tf_ens_adv_in1k", 0.8975, "conv2d_7b", "classif"),
    ],
)
def test_paper_specs_come_from_timm_without_building(monkeypatch, name, crop, feature, fc):
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the spec built the network")

    monkeypatch.setattr(timm, "create_model", refuse)
    timm_family._make_spec.cache_clear()
    spec = classifier_spec(name)
    assert (spec.input_size, spec.interpolation, spec.crop_pct) == (299, "bicubic", crop)
    assert spec.mean == spec.std == (0.5, 0.5, 0.5)
    assert (spec.feature_layer, spec.fc_layer) == (feature, fc)
    assert spec.needs_weights and spec.tag == name.removeprefix("timm/")
    assert "timm" in spec.title and "weights from a local file" in spec.description


def test_cam_layers_exist_on_timms_modules():
    """Every declared layer resolves on the real architecture (built on the meta device: no memory)."""
    for name in PAPER[::2]:
        spec = classifier_spec(name)
        with torch.device("meta"):
            net = timm.create_model(name.removeprefix("timm/"), pretrained=False, num_classes=1000)
        assert net.feature_info[-1]["module"] == spec.feature_layer  # timm's own last feature map
        assert isinstance(net.get_submodule(spec.fc_layer), torch.nn.Linear)


def test_spec_of_any_architecture_follows_timms_config():
    net = _timm_net(TINY)
    data = timm.data.resolve_model_data_config(net)
    spec = classifier_spec(f"timm/{TINY}")
    assert spec.input_size == data["input_size"][-1] == 160
    assert spec.mean == tuple(data["mean"]) and spec.std == tuple(data["std"])
    assert spec.crop_pct == data["crop_pct"] == 0.95 and spec.interpolation == data["interpolation"]
    assert (spec.feature_layer, spec.fc_layer) == ("bn2", "classifier")
    vit = classifier_spec("timm/test_vit")  # no known CAM layer: timm's classifier name only
    assert (vit.feature_layer, vit.fc_layer) == (None, "head")


def test_unknown_names():
    assert "timm/<name>" in _one_line_error(lambda: classifier_spec("timm/no_such_net"))
    msg = _one_line_error(lambda: classifier_spec("timm/inception_v3.bogus"))
    assert "'bogus'" in msg and "timm/inception_v3.tf_adv_in1k" in msg


# ----- loading -----------------------------------------------------------------------------------------
def test_loads_a_safetensors_file_and_computes_timms_logits(tiny):
    net, path = tiny
    model = load_classifier(f"timm/{TINY}", weights=path)
    x = torch.rand(2, 3, 160, 160, generator=torch.Generator().manual_seed(1))
    mean = torch.tensor(model.spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(model.spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = net((x - mean) / std)
        got = model(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_loads_a_plain_state_dict_and_safetensors_under_another_name(tiny, tmp_path):
    net, path = tiny
    pth = tmp_path / "model.pth"  # saved without batch norm's step counters, which torch fills in
    torch.save({k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}, pth)
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(path.read_bytes())  # recognised by content
    x = torch.rand(1, 3, 160, 160, generator=torch.Generator().manual_seed(2))
    reference = load_classifier(f"timm/{TINY}", weights=path)(x)
    for file in (pth, renamed):
        torch.testing.assert_close(load_classifier(f"timm/{TINY}", weights=file)(x), reference)


def test_an_original_layout_file_goes_through_timms_checkpoint_filter(tmp_path):
    """An OpenCLIP-style ViT file (keys under ``visual.trunk.``) loads through vision_transformer's filter."""
    net = _timm_net("test_vit")
    path = _save(net, tmp_path / "openclip.safetensors", rename=lambda k: "visual.trunk." + k)
    model = load_classifier("timm/test_vit", weights=path)
    x = torch.rand(1, 3, 160, 160, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model(x), net((x - 0.5) / 0.5), rtol=1e-5, atol=1e-5)


def test_bad_files_are_one_sentence(tiny, tmp_path):
    name = f"timm/{TINY}"
    msg = _one_line_error(lambda: load_classifier(name))
    assert "fetch yourself" in msg and "never downloads" in msg and f"Hugging Face timm/{TINY}" in msg
    missing = _one_line_error(lambda: load_classifier(name, weights=tmp_path / "absent.safetensors"))
    assert missing.startswith("weights file not found")
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(tiny[1].read_bytes()[:5000])  # truncated
    assert "damaged" in _one_line_error(lambda: load_classifier(name, weights=damaged))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + bytes(64))
    assert "damaged" in _one_line_error(lambda: load_classifier(name, weights=garbage))
    other = _save(_timm_net("test_resnet"), tmp_path / "resnet.safetensors")
    msg = _one_line_error(lambda: load_classifier(name, weights=other))
    assert msg.startswith(f"resnet.safetensors does not fit {name}: parameters ")
    assert "missing" in msg and "unexpected" in msg
    nan = {k: v.clone() for k, v in tiny[0].state_dict().items()}
    nan["classifier.weight"][0, 0] = float("nan")
    safetensors_torch.save_file(nan, str(tmp_path / "nan.safetensors"))
    msg = _one_line_error(lambda: load_classifier(name, weights=tmp_path / "nan.safetensors"))
    assert "NaN" in msg


def test_without_timm_a_timm_name_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` now raises ImportError
    assert timm_family.TIMM.names() == []
    assert not any(n.startswith("timm/") for n in available_classifiers())
    with pytest.raises(ClassifierError) as info:
        load_classifier("timm/inception_v3.tf_in1k", weights="model.safetensors")
    assert str(info.value) == timm_family._NOT_INSTALLED and "pip install 'rsdesk[timm]'" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ----- preprocessing -----------------------------------------------------------------------------------
def _photo(width: int, height: int) -> np.ndarray:
    """A smooth photo-like image (bicubic kernels differ a little; on sharp noise more than they agree)."""
    im = Image.open(sample_image_paths()[0]).convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.float32) / 255.0


def test_prepare_applies_the_crop_pct():
    spec = classifier_spec(f"timm/{TINY}")
    img = _photo(400, 300)
    out = spec.prepare(img)
    assert out.shape == (160, 160, 3) and out.dtype == np.float32
    scale = math.floor(160 / 0.95)  # timm's eval transform: shorter side to floor(size / crop_pct)
    manual = resize_center_crop(img, scale)
    top = (scale - 160) // 2
    np.testing.assert_array_equal(out, manual[top : top + 160, top : top + 160])
    assert not np.array_equal(out, resize_center_crop(img, 160))  # the crop is not the whole side
    same = _photo(160, 160)
    assert np.array_equal(spec.prepare(same), same)  # an image at the input size stays as it is


def test_prepare_agrees_with_timms_own_transform():
    spec = classifier_spec(f"timm/{TINY}")
    img = _photo(400, 300)
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(_timm_net(TINY)))
    theirs = transform(Image.fromarray((img * 255).round().astype(np.uint8)))  # normalized C×H×W
    theirs = theirs * torch.tensor(spec.std).view(3, 1, 1) + torch.tensor(spec.mean).view(3, 1, 1)
    ours = torch.from_numpy(spec.prepare(img)).permute(2, 0, 1)
    assert ours.shape == theirs.shape
    assert float((ours - theirs).abs().mean()) < 0.02


# ----- attacks and explanations ------------------------------------------------------------------------
def test_it_can_be_attacked_and_explained(tiny):
    model = load_classifier(f"timm/{TINY}", weights=tiny[1])
    img = _photo(400, 300)
    x = model.to_tensor(img)
    label = model.classify(img).index
    (outcome,) = create_attack("fgsm", eps=8).run(model, x, labels=[label])
    assert outcome.adversarial.shape == (160, 160, 3)
    assert outcome.reference == label and 0 < outcome.linf <= 8 + 1e-3
    heat = class_activation_map(model, img)
    assert heat.method == "CAM" and heat.heat.shape == (160, 160)
    assert heat.heat.min() >= 0 and heat.heat.max() <= 1


def test_the_command_line_classifies_with_a_timm_file(tiny, capsys, tmp_path):
    image = sample_image_paths()[0]
    args = ["classify", "--json", "--classifier", f"timm/{TINY}", "--weights", str(tiny[1]), str(image)]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["file"] == str(image) and len(record["top5"]) == 5
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"broken")
    assert main(["classify", "--classifier", f"timm/{TINY}", "--weights", str(bad), str(image)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad.safetensors: ") and "Traceback" not in err


@pytest.mark.slow
def test_the_papers_inception_v3(tmp_path):
    name = "timm/inception_v3.tf_in1k"
    path = _save(_timm_net("inception_v3"), tmp_path / "model.safetensors")
    model = load_classifier(name, weights=path)
    spec = model.spec
    assert (spec.input_size, spec.interpolation, spec.crop_pct) == (299, "bicubic", 0.875)
    assert spec.mean == spec.std == (0.5, 0.5, 0.5)
    assert model.feature_module() is model.net.Mixed_7c
    assert isinstance(model.fc_module(), torch.nn.Linear)
    heat = class_activation_map(model, _photo(400, 300))
    assert heat.method == "CAM" and heat.heat.shape == (299, 299)
