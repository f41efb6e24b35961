"""Helpers shared by the main-window tests (plain functions; the fixtures are in conftest.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, QThreadPool, QTimer


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


def training_images(folder: Path, n: int, size: int = 48) -> Path:
    """Small blocky images (4 px blocks, so patches have structure) for dictionary-training tests."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        base = rng.random((size // 4, size // 4, 3))
        img = np.kron(base, np.ones((4, 4, 1)))  # blocky, so patches have structure
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def settle_trainer(qtbot, t) -> None:
    """The trainer's thread has returned and its end has been delivered."""
    assert t.wait(30000)
    qtbot.waitUntil(lambda: not t._alive, timeout=5000)


class GapMeter:
    """How long the event loop went without running a precise timer's tick: the gaps between ticks while
    ``start()``…``stop()`` (a responsive window keeps them near the interval)."""

    def __init__(self, interval_ms: int) -> None:
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    @property
    def worst(self) -> float:
        return max(self.gaps, default=0.0)
