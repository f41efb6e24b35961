"""Helpers shared by the main-window tests (plain functions; the fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QThreadPool


def settled(window) -> bool:
    """Every stage finished (or not needed), the import done, the classifier there."""
    return (
        window.state.classifier is not None and not window.importer.is_running() and window.pipeline.is_idle()
    )


def wait_settled(qtbot, window, timeout: int = 60000) -> None:
    qtbot.waitUntil(lambda: settled(window), timeout=timeout)


def assert_no_threads(timeout_ms: int = 30000) -> None:
    pool = QThreadPool.globalInstance()
    assert pool.waitForDone(timeout_ms), "worker threads still running"
    assert pool.activeThreadCount() == 0


def blocky_images(folder: Path, n: int, size: int = 64, seed: int = 0) -> Path:
    """Blocky random images for quick dictionary training."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = np.kron(rng.random((size // 8, size // 8, 3)), np.ones((8, 8, 1)))
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"train{i}.png")
    return folder
