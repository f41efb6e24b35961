"""Shared test set-up: headless Qt, isolated settings, small fixtures, and the real classifier once."""

from __future__ import annotations

import os
from pathlib import Path

# Qt must run without a display; set before any Qt import (pytest-qt imports Qt when it loads).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

SHARED_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet-dev"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the user's real settings or data (the GUI honours these variables)."""
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("RSDESK_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("RSDESK_DATA_DIR", str(base / "data"))


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def classifier():
    """The default EfficientNet-Lite0 (weights from its pip package), loaded once per session."""
    from rsdesk.core.classifier import load_classifier

    return load_classifier()


@pytest.fixture(scope="session")
def sample_image() -> np.ndarray:
    """A bundled sample photo at the classifier's input size (coffee: espresso)."""
    from rsdesk.core.assets import resource_path
    from rsdesk.core.images import load_image, resize_center_crop

    return resize_center_crop(load_image(resource_path("samples", "coffee.jpg")), 224)


@pytest.fixture(scope="session")
def shared_dev() -> Path:
    """../shared/data/imagenet-dev when present; tests that need it are skipped otherwise."""
    if not (SHARED_DEV / "labels.csv").is_file():
        pytest.skip("../shared/data/imagenet-dev is not available")
    return SHARED_DEV
