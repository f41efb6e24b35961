"""rsdesk.core.models.classifier: the bundled model, the registry, weights files and the pixel-space
wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdesk.core.errors import ClassifierError
from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.models import available_classifiers, classifier_spec
from rsdesk.core.models.classifier import Classifier, Prediction, load_classifier, resolve_device


class NotAStateDict:
    """A custom class: pickling it into a weights file must not get past weights_only loading."""

    def __init__(self) -> None:
        self.payload = [1, 2, 3]


@pytest.mark.slow
def test_default_classifier_says_espresso(classifier, sample_image):
    assert classifier.name == "efficientnet-lite0"
    assert classifier.input_size == 224
    pred = classifier.classify(sample_image)
    assert pred.index == 967
    assert pred.confidence > 0.5
    top = pred.top(5)
    assert len(top) == 5
    assert top[0].index == 967 and top[0].label == "espresso"
    probs = [c.prob for c in top]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1.0 + 1e-6
    assert pred.probs.shape == (1000,)
    assert abs(float(pred.probs.sum()) - 1.0) < 1e-4
    assert top[0].as_dict() == {"index": 967, "label": "espresso", "prob": round(top[0].prob, 6)}


@pytest.mark.slow
def test_classify_many_matches_classify(classifier, sample_image):
    flipped = np.ascontiguousarray(sample_image[:, ::-1])
    one = classifier.classify(flipped)
    both = classifier.classify_many([sample_image, flipped])
    assert len(both) == 2
    np.testing.assert_allclose(both[1].probs, one.probs, atol=1e-5)
    assert classifier.classify_many([]) == []


@pytest.mark.slow
def test_classifier_prepares_other_sizes(classifier, sample_image):
    import cv2

    bigger = cv2.resize(sample_image, (336, 300), interpolation=cv2.INTER_CUBIC)
    assert classifier.to_tensor(bigger).shape == (1, 3, 224, 224)
    assert classifier.classify(np.clip(bigger, 0, 1)).index == 967


@pytest.mark.slow
def test_wrapper_normalizes_inside(classifier, sample_image):
    x = classifier.to_tensor(sample_image)
    with torch.no_grad():
        direct = classifier.net((x - 0.5) / 0.5)
        wrapped = classifier(x)
    torch.testing.assert_close(wrapped, direct)
    assert not torch.allclose(wrapped, classifier.net(x))


@pytest.mark.slow
def test_wrapper_stays_in_eval_mode(classifier, sample_image):
    x = classifier.to_tensor(sample_image)
    with torch.no_grad():
        before = classifier(x)
    returned = classifier.train()
    assert returned is classifier
    assert not classifier.training
    assert not any(m.training for m in classifier.modules())
    with torch.no_grad():
        after = classifier(x)
    torch.testing.assert_close(after, before)
    assert not any(p.requires_grad for p in classifier.parameters())


def test_available_classifiers_lists_builtins_and_torchvision():
    names = available_classifiers()
    assert names[0] == "efficientnet-lite0"
    assert "inception-v3" in names
    assert "torchvision/resnet18" in names
    assert "torchvision/vgg11" in names


def test_classifier_spec_lookup():
    spec = classifier_spec("torchvision/resnet18")
    assert spec.input_size == 224
    assert spec.needs_weights
    assert (spec.feature_layer, spec.fc_layer) == ("layer4", "fc")
    assert classifier_spec("inception-v3").input_size == 299
    with pytest.raises(ClassifierError, match="unknown classifier 'resnet9000'"):
        classifier_spec("resnet9000")
    with pytest.raises(ClassifierError, match="unknown classifier 'torchvision/nonexistent'"):
        classifier_spec("torchvision/nonexistent")


def test_inception_without_weights_is_a_clear_error():
    with pytest.raises(ClassifierError, match="inception-v3 needs a weights file"):
        load_classifier("inception-v3")


def test_torchvision_without_weights_is_a_clear_error():
    with pytest.raises(ClassifierError, match=r"torchvision/resnet18 needs a weights file.*never downloads"):
        load_classifier("torchvision/resnet18")


def test_missing_weights_file(tmp_path):
    with pytest.raises(ClassifierError, match="weights file not found"):
        load_classifier("torchvision/resnet18", weights=tmp_path / "nope.pth")


def test_valid_torchvision_weights_load(resnet18_weights):
    model = load_classifier("torchvision/resnet18", weights=resnet18_weights)
    assert isinstance(model, Classifier)
    assert model.input_size == 224
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (2, 1000)
    assert torch.isfinite(logits).all()
    # The weights really came from the file.
    saved = torch.load(resnet18_weights, weights_only=True)
    torch.testing.assert_close(model.net.conv1.weight, saved["conv1.weight"])
    # ImageNet normalization happens inside the wrapper.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(logits, model.net((x - mean) / std))


def test_weights_of_another_architecture_are_refused(resnet18_weights):
    with pytest.raises(ClassifierError, match=r"does not fit torchvision/resnet34.*missing \(e\.g\. layer"):
        load_classifier("torchvision/resnet34", weights=resnet18_weights)


def test_truncated_state_dict_names_missing_keys(tmp_path, resnet18_weights):
    state = torch.load(resnet18_weights, weights_only=True)
    del state["fc.weight"]
    path = tmp_path / "cut.pth"
    torch.save(state, path)
    with pytest.raises(ClassifierError, match=r"cut\.pth does not fit .*1 missing \(e\.g\. fc\.weight\)"):
        load_classifier("torchvision/resnet18", weights=path)


def test_extra_and_misshapen_keys_are_named(tmp_path, resnet18_weights):
    state = torch.load(resnet18_weights, weights_only=True)
    state["extra.bias"] = torch.zeros(3)
    state["fc.weight"] = torch.zeros(10, 512)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(ClassifierError) as info:
        load_classifier("torchvision/resnet18", weights=path)
    msg = str(info.value)
    assert "1 unexpected (e.g. extra.bias)" in msg
    assert "wrong shape (e.g. fc.weight: (10, 512) instead of (1000, 512))" in msg


def test_wrapped_and_prefixed_state_dicts_load(tmp_path, resnet18_weights):
    state = torch.load(resnet18_weights, weights_only=True)
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    model = load_classifier("torchvision/resnet18", weights=path)
    torch.testing.assert_close(model.net.fc.bias, state["fc.bias"])


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save(NotAStateDict(), path)
    with pytest.raises(
        ClassifierError, match=r"^evil\.pth: refused: the file holds Python objects other than tensors"
    ):
        load_classifier("torchvision/resnet18", weights=path)


def test_non_tensor_dict_is_refused(tmp_path):
    path = tmp_path / "numbers.pth"
    torch.save({"a": 1, "b": [2, 3]}, path)
    with pytest.raises(ClassifierError, match="holds no state dict of tensors"):
        load_classifier("torchvision/resnet18", weights=path)


def test_garbage_file_is_refused(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a torch file at all" * 10)
    with pytest.raises(ClassifierError, match=r"garbage\.pth: not a plain PyTorch state dict"):
        load_classifier("torchvision/resnet18", weights=path)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_resolve_device_cuda_without_cuda():
    with pytest.raises(ClassifierError, match="CUDA was requested but no CUDA device is available"):
        resolve_device("cuda")
    with pytest.raises(ClassifierError, match="CUDA"):
        load_classifier("torchvision/resnet18", device="cuda:0")


def test_prediction_top():
    probs = np.zeros(1000, np.float32)
    probs[[3, 281, 967, 10]] = [0.1, 0.5, 0.3, 0.1]
    pred = Prediction(probs)
    assert pred.index == 281
    assert pred.confidence == pytest.approx(0.5)
    top = pred.top(3)
    assert [c.index for c in top] == [281, 967, 3]  # ties keep index order (stable sort)
    assert [c.label for c in top[:2]] == [imagenet_classes().name(281), "espresso"]
    assert top[0].label == "tabby"
    assert len(pred.top(1)) == 1
    assert len(pred.top()) == 5
