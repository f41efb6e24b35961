"""rsdesk.core.models.explain: CAM / Grad-CAM heatmaps and the paper's activation profiles."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_tiny_classifier

from rsdesk.core.models.classifier import Classifier, load_classifier
from rsdesk.core.models.explain import (
    ActivationProfile,
    activation_profile,
    activation_ratio,
    class_activation_map,
)


def _manual_heat(cam: torch.Tensor, size: int) -> np.ndarray:
    up = F.interpolate(cam[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    up = up.clamp_min(0)
    return (up / up.max()).numpy()


def _tiny_image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((32, 32, 3), dtype=np.float32)


@pytest.mark.slow
def test_cam_on_the_real_classifier(classifier, sample_image):
    hm = class_activation_map(classifier, sample_image)
    assert hm.method == "CAM"
    assert hm.class_index == 967 == classifier.classify(sample_image).index
    assert hm.heat.shape == (224, 224) and hm.heat.dtype == np.float32
    assert hm.heat.min() >= 0.0 and hm.heat.max() == pytest.approx(1.0)
    # Manual recomputation: fc weights of the class · ReLU6 head features, upsampled, clamped, scaled.
    net = classifier.net
    with torch.no_grad():
        fmap = net.extract_features((classifier.to_tensor(sample_image) - 0.5) / 0.5)[0]
    cam = torch.einsum("c,chw->hw", net._fc.weight[967], fmap)
    np.testing.assert_allclose(hm.heat, _manual_heat(cam, 224), atol=1e-4)
    # The class can be chosen, and the map depends on it.
    other = class_activation_map(classifier, sample_image, class_index=281)
    assert other.class_index == 281
    assert np.abs(other.heat - hm.heat).mean() > 0.05


def test_cam_equals_grad_cam_for_pooling_plus_linear_heads(resnet18_weights):
    # For global average pooling + one linear layer, Grad-CAM's channel weights are the fc weights / (h·w):
    # the normalized maps must agree. This checks both code paths at once.
    cam_model = load_classifier("torchvision/resnet18", weights=resnet18_weights)
    grad_spec = dataclasses.replace(cam_model.spec, fc_layer=None)
    grad_model = Classifier(cam_model.net, grad_spec, torch.device("cpu"))
    rng = np.random.default_rng(0)
    img = rng.random((224, 224, 3), dtype=np.float32)
    cam = class_activation_map(cam_model, img, class_index=5)
    grad = class_activation_map(grad_model, img, class_index=5)
    assert (cam.method, grad.method) == ("CAM", "Grad-CAM")
    assert cam.class_index == grad.class_index == 5
    np.testing.assert_allclose(cam.heat, grad.heat, atol=1e-4)
    assert cam.heat.std() > 0.01


def test_grad_cam_without_a_declared_head():
    model = make_tiny_classifier(feature_layer=None, fc_layer=None)
    img = _tiny_image()
    hm = class_activation_map(model, img)
    assert hm.method == "Grad-CAM"
    assert hm.heat.shape == (32, 32)
    assert hm.heat.max() == pytest.approx(1.0) and hm.heat.min() >= 0
    with torch.no_grad():
        top = int(model(model.to_tensor(img)).argmax(1))
    assert hm.class_index == top
    # Manual Grad-CAM on the last spatial feature map (conv2's output, 16×16; the pooled 1×1 map is no map).
    store = {}
    handle = model.net.conv2.register_forward_hook(lambda _m, _i, out: store.update(out=out))
    x = model.to_tensor(img).requires_grad_(True)
    logits = model(x)
    handle.remove()
    (grad,) = torch.autograd.grad(logits[0, top], store["out"])
    cam = torch.einsum("c,chw->hw", grad[0].mean(dim=(1, 2)), store["out"][0].detach())
    np.testing.assert_allclose(hm.heat, _manual_heat(cam, 32), atol=1e-5)
    assert hm.heat.std() > 0.01  # a real spatial map, not a constant


def test_grad_cam_with_a_declared_feature_layer_but_no_linear_head():
    declared = make_tiny_classifier(feature_layer="conv2", fc_layer=None)
    auto = make_tiny_classifier(feature_layer=None, fc_layer=None)
    img = _tiny_image(1)
    a, b = class_activation_map(declared, img, class_index=3), class_activation_map(auto, img, class_index=3)
    assert a.method == b.method == "Grad-CAM"
    np.testing.assert_allclose(a.heat, b.heat, atol=1e-6)


def test_tiny_cam_matches_manual_recomputation():
    model = make_tiny_classifier()  # feature conv2, fc declared: CAM on conv2's (pre-ReLU) output
    img = _tiny_image(2)
    hm = class_activation_map(model, img, class_index=4)
    assert hm.method == "CAM"
    net = model.net
    with torch.no_grad():
        x = (model.to_tensor(img) - 0.5) / 0.5
        fmap = net.conv2(torch.relu(net.conv1(x)))[0]
    cam = torch.einsum("c,chw->hw", net.fc.weight[4], fmap)
    np.testing.assert_allclose(hm.heat, _manual_heat(cam, 32), atol=1e-5)


def test_activation_profile_of_the_tiny_model():
    model = make_tiny_classifier()
    img = _tiny_image(3)
    prof = activation_profile(model, img)
    assert prof.layer_names == ["conv1", "conv2"]
    assert [v.shape for v in prof.values] == [(8,), (16,)]
    net = model.net
    with torch.no_grad():
        x = (model.to_tensor(img) - 0.5) / 0.5
        c1 = net.conv1(x)
        c2 = net.conv2(torch.relu(c1))
    np.testing.assert_allclose(prof.values[0], c1[0].amax(dim=(1, 2)).numpy(), atol=1e-6)
    np.testing.assert_allclose(prof.values[1], c2[0].amax(dim=(1, 2)).numpy(), atol=1e-6)


@pytest.mark.slow
def test_activation_profile_has_one_entry_per_conv(classifier, sample_image):
    prof = activation_profile(classifier, sample_image)
    convs = [(n, m) for n, m in classifier.net.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert prof.layer_names == [n for n, _ in convs]
    assert [len(v) for v in prof.values] == [m.out_channels for _, m in convs]
    ratio = activation_ratio(prof, prof, gamma=0.0)
    defined = ~np.isnan(ratio)
    assert defined.sum() > 0.9 * len(convs)
    np.testing.assert_allclose(ratio[defined], 1.0)
    # no hooks are left behind
    assert all(not m._forward_hooks for m in classifier.net.modules())


def test_total_and_ratio_formulas():
    names = ["a", "b", "c"]
    benign = ActivationProfile(names, [np.array([0.1, 0.5, 2.0]), np.array([-1.0, 3.0]), np.array([0.2])])
    adv = ActivationProfile(names, [np.array([0.6, 0.5, 4.0]), np.array([1.0, 3.0]), np.array([5.0])])
    np.testing.assert_allclose(benign.total(0.4), [2.5, 3.0, 0.0])  # V_l = Σ p_i over p_i > γ
    np.testing.assert_allclose(benign.total(-10), [2.6, 2.0, 0.2])
    np.testing.assert_allclose(adv.total(0.4), [5.1, 4.0, 5.0])
    np.testing.assert_allclose(benign.active_fraction(0.4), [2 / 3, 0.5, 0.0])
    ratio = activation_ratio(adv, benign, gamma=0.4)
    np.testing.assert_allclose(ratio[:2], [5.1 / 2.5, 4.0 / 3.0])
    assert np.isnan(ratio[2])  # the benign layer has no active detector
    self_ratio = activation_ratio(benign, benign, gamma=0.4)
    np.testing.assert_allclose(self_ratio[:2], 1.0)
