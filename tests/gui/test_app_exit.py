"""``rsdesk --screenshot`` gives up after its timeout and then exits promptly with an error, even when a
background thread is stuck in a call that never returns (a FIFO opened for reading, a dead network share):
Qt's thread pool would otherwise wait for that thread forever at exit."""

from __future__ import annotations

import subprocess
import sys
import time

from rsdesk.core.io.assets import resource_path

# A worker stuck for good: the classifier load blocks on an event nobody sets (no real FIFO needed).
STUCK = """
import sys, threading
from rsdesk.gui.tasks import stages
stages.load_and_warm = lambda *a, **k: threading.Event().wait()
from rsdesk.gui import app
sys.exit(app.run([sys.argv[1]], screenshot=sys.argv[2], timeout_s=float(sys.argv[3])))
"""


def test_screenshot_mode_exits_non_zero_promptly_when_a_worker_is_stuck(tmp_path):
    out = tmp_path / "shot.png"
    env_cmd = [sys.executable, "-c", STUCK, str(resource_path("samples", "coffee.jpg")), str(out), "1"]
    t0 = time.monotonic()
    proc = subprocess.run(env_cmd, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert lines == [
        "error: screenshot not taken: the classifier did not load within 1 s",
        "error: a background task did not stop within 5 s; RSDesk exits without it",
    ]
    assert not out.exists()
    assert elapsed < 60  # start-up (torch, Qt) + 1 s of waiting + 5 s for the stuck thread
