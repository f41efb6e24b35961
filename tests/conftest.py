"""Shared test set-up: headless Qt, isolated settings, small fixtures, and the real classifier once."""

from __future__ import annotations

import os
from pathlib import Path

# Qt must run without a display; set before any Qt import (pytest-qt imports Qt when it loads).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import torch
from PIL import Image

SHARED_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet-dev"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the user's real settings or data (the GUI honours these variables)."""
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("RSDESK_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("RSDESK_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("RSDESK_LOG_DIR", str(base / "log"))


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def classifier():
    """The default EfficientNet-Lite0 (weights from its pip package), loaded once per session."""
    from rsdesk.core.models.classifier import load_classifier

    return load_classifier()


@pytest.fixture(scope="session")
def sample_image() -> np.ndarray:
    """A bundled sample photo at the classifier's input size (coffee: espresso)."""
    from rsdesk.core.io.assets import resource_path
    from rsdesk.core.io.images import load_image, resize_center_crop

    return resize_center_crop(load_image(resource_path("samples", "coffee.jpg")), 224)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Three small photos (cut from the samples), one with a synset in its name, plus labels.csv."""
    from rsdesk.core.io.assets import resource_path

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate(("camera.jpg", "coffee.jpg", "chelsea.jpg")):
        im = Image.open(resource_path("samples", name)).convert("RGB").resize((160, 120))
        target = folder / (f"n04485082_{i}.png" if i == 0 else f"photo{i}.png")
        im.save(target)
    (folder / "labels.csv").write_text("file,class_index\nphoto1.png,967\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def shared_dev() -> Path:
    """../shared/data/imagenet-dev when present; tests that need it are skipped otherwise."""
    if not (SHARED_DEV / "labels.csv").is_file():
        pytest.skip("../shared/data/imagenet-dev is not available")
    return SHARED_DEV


class TinyNet(torch.nn.Module):
    """A small deterministic CNN (10 classes) for fast attack and explanation tests."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(16, n_classes)
        with torch.no_grad():  # sharper than the default init, so small perturbations change the class
            self.conv1.weight.mul_(4.0)
            self.conv2.weight.mul_(2.0)
            self.fc.weight.mul_(20.0)
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(self.pool(x).flatten(1))


def make_tiny_classifier(seed: int = 0, feature_layer: str | None = "conv2", fc_layer: str | None = "fc"):
    """TinyNet wrapped like a real classifier (normalization inside, eval mode, 32 px input)."""
    from rsdesk.core.models import Classifier, ClassifierSpec

    torch.manual_seed(seed)
    net = TinyNet()
    spec = ClassifierSpec(
        name="tiny",
        title="Tiny CNN",
        input_size=32,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        build=lambda _w: net,
        needs_weights=False,
        feature_layer=feature_layer,
        fc_layer=fc_layer,
    )
    return Classifier(net, spec, torch.device("cpu"))


@pytest.fixture(scope="session")
def tiny_classifier():
    """A seeded TinyNet classifier (session-wide; never trained, never modified)."""
    return make_tiny_classifier()


@pytest.fixture(scope="session")
def tiny_batch() -> torch.Tensor:
    """Four smooth-ish 32×32 images in [0, 1] (seeded), as a 4×3×32×32 tensor."""
    g = torch.Generator().manual_seed(1)
    base = torch.rand(4, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(base, size=(32, 32), mode="bilinear", align_corners=False)


@pytest.fixture(scope="session")
def resnet18_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised torchvision resnet18 state dict saved with torch.save (session-wide)."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path
