"""A folder of 1 000 images dropped at once: the window stays responsive (the event loop's worst gap, measured
with a 5 ms timer) and memory stays bounded (RSS growth), while every image lands in the gallery."""

from __future__ import annotations

import os
import time

import numpy as np
from gui_helpers import GapMeter
from PIL import Image

N_IMAGES = 1000
#: The bound on an idle machine is 100 ms; this one is shared by other jobs, so the test allows more and
#: prints what it measured (run with -s).
MAX_GAP_S = float(os.environ.get("RSDESK_TEST_MAX_GAP_S", "0.25"))
MAX_RSS_GROWTH_MB = 300


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_a_thousand_images_dropped_at_once(make_window, qtbot, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(N_IMAGES):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / f"img{i:04d}.png")
    w = make_window()
    qtbot.wait(200)
    rss0 = _rss_mb()
    meter = GapMeter(5)
    t0 = time.perf_counter()
    with qtbot.waitSignal(w.importer.finished, timeout=120000) as blocker:
        w.paths_dropped([folder])
        meter.start()
    meter.stop()
    seconds = time.perf_counter() - t0
    rss = _rss_mb() - rss0
    added, problems = blocker.args
    assert len(added) == N_IMAGES and problems == []
    assert w.gallery.rowCount() == N_IMAGES
    qtbot.wait(100)  # the gallery paints what is visible
    assert 0 < len(w.gallery._pixmaps) < 50  # thumbnails become pixmaps only for the rows on screen
    gaps, worst = meter.gaps, meter.worst
    print(
        f"\n1000 images: {seconds:.1f} s, {len(gaps)} ticks, worst gap {1000 * worst:.0f} ms, "
        f"p99 {1000 * sorted(gaps)[int(0.99 * len(gaps))]:.0f} ms, RSS +{rss:.0f} MB"
    )
    assert worst < MAX_GAP_S, f"the event loop stalled for {1000 * worst:.0f} ms"
    assert rss < MAX_RSS_GROWTH_MB
