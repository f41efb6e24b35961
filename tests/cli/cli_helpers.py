"""What the command-line tests share: the sample images, reading ``--json`` output and ``error:`` lines, and
running ``python -m rsdesk`` as a child process with a time limit, its peak memory measured on its own
(``os.wait4`` gives the rusage of that one child)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rsdesk.core.io.assets import resource_path

COFFEE = resource_path("samples", "coffee.jpg")
CAMERA = resource_path("samples", "camera.jpg")


def records(out: str) -> list[dict]:
    """The JSON objects of ``--json`` output, one per non-blank line."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def error_lines(err: str) -> list[str]:
    """The ``error:`` lines of a command's stderr (progress and other text left out)."""
    return [line for line in err.splitlines() if line.startswith("error: ")]


#: Every command of the hardening tests must stay under this much memory (the issue's bound).
MAX_RSS_MB = 1500


@dataclass
class Run:
    """What one command did: exit code, output, and its peak resident memory in MB."""

    args: list[str]
    code: int
    out: str
    err: str
    rss_mb: float

    @property
    def errors(self) -> list[str]:
        return error_lines(self.err)

    def describe(self) -> str:
        return f"rsdesk {' '.join(self.args)} → exit {self.code}, {self.rss_mb:.0f} MB\n{self.err[-3000:]}"


def run_child(argv: list[str], timeout: float, cwd: Path | None = None, env: dict | None = None) -> Run:
    """Run ``argv`` (its own process group, killed whole on timeout) and measure its peak memory."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        peak_kb = 0
        while True:
            peak_kb = max(peak_kb, _high_water_kb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise AssertionError(f"timed out after {timeout} s: {' '.join(argv)}")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            argv,
            proc.returncode,
            out.read().decode("utf-8", errors="replace"),
            err.read().decode("utf-8", errors="replace"),
            # the child's own high-water mark; wait4's ru_maxrss also holds the test process's peak at the
            # fork (Linux carries the parent's mm high-water mark over exec), so it is only the fallback
            (peak_kb or usage.ru_maxrss) / 1024,  # Linux reports kilobytes
        )


def _high_water_kb(pid: int) -> int:
    """The peak resident size of ``pid`` since its exec (``VmHWM``), 0 where /proc does not say."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rsdesk(*args: str, timeout: float = 120, cwd: Path | None = None) -> Run:
    """``python -m rsdesk ARGS`` in a fresh interpreter; the Run's ``args`` are the rsdesk arguments."""
    run = run_child([sys.executable, "-m", "rsdesk", *args], timeout, cwd)
    run.args = list(args)
    return run


def assert_clean(run: Run) -> None:
    """No traceback, no finalizer noise, and memory under the bound."""
    assert "Traceback" not in run.err, run.describe()
    assert "Exception ignored" not in run.err, run.describe()
    assert run.rss_mb < MAX_RSS_MB, run.describe()
