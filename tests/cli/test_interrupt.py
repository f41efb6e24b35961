"""Ctrl-C during ``rsdesk train-dictionary``, at chosen points and from outside: exit 130, one
``error: interrupted`` line, no traceback, no finalizer noise, and no partial or temporary file.

The chosen points are deterministic without any hook in the product: a small runner (test code) wraps one
function and sends SIGINT to its own process the n-th time it is called, so the signal lands exactly there
(Python runs the handler right after ``os.kill`` returns). The outside signal waits for the progress line
that says the training has started; the training is made long enough that it cannot finish first.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cli_helpers import run_child
from PIL import Image

from rsdesk.core.io.assets import resource_path
from rsdesk.core.sparse.dictionary_file import load_dictionary

pytestmark = pytest.mark.slow

#: Runs ``rsdesk ARGS`` with ``module:attr.path`` wrapped so that its n-th call first sends SIGINT.
INTERRUPT_AT = r"""
import importlib, os, signal, sys
target, nth = sys.argv[1], int(sys.argv[2])
module, _, path = target.partition(":")
owner = importlib.import_module(module)
*parents, name = path.split(".")
for part in parents:
    owner = getattr(owner, part)
original = getattr(owner, name)
calls = [0]
def interrupting(*args, **kwargs):
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGINT)
    return original(*args, **kwargs)
setattr(owner, name, interrupting)
from rsdesk.cli import main
sys.exit(main(sys.argv[3:]))
"""

SMALL = ("--atoms", "8", "--patch-size", "4", "--patches-per-image", "100", "--h", "0")

POINTS = {
    "while reading the images": ("PIL.Image:open", 2),
    "during the training": ("rsdesk.cli.progress:ProgressBar.__call__", 2),
    "writing the archive": ("zipfile:_ZipWriteFile.write", 3),
    "closing an archive member": ("zipfile:_ZipWriteFile.close", 1),  # gave exit 2 and ZipFile.__del__
    "ending the archive": ("zipfile:ZipFile._write_end_record", 1),
    "just before the rename": ("os:replace", 1),
    "after the save": ("rsdesk.cli.train:write_line", 1),
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("interrupt") / "photos"
    folder.mkdir()
    for name in ("coffee.jpg", "camera.jpg", "chelsea.jpg"):
        photo = Image.open(resource_path("samples", name)).convert("RGB")
        photo.resize((120, 90)).save(folder / f"{name}.png")
    return folder


def _assert_interrupted(code: int, err: str, out_dir: Path, may_exist: bool) -> None:
    assert code == 130, err
    assert [line for line in err.splitlines() if line.startswith("error: ")] == ["error: interrupted"], err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    left = sorted(p.name for p in out_dir.iterdir())
    assert left == [] or (may_exist and left == ["d.npz"]), left  # never a temp or partial file
    if left:
        assert load_dictionary(out_dir / "d.npz").n_atoms == 8  # complete, or not there at all


@pytest.mark.parametrize("point", list(POINTS))
def test_ctrl_c_at_each_point_exits_130_and_leaves_no_partial_file(photos, tmp_path, point):
    target, nth = POINTS[point]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = ["train-dictionary", str(photos), *SMALL, "--out", str(out_dir / "d.npz")]
    run = run_child([sys.executable, "-c", INTERRUPT_AT, target, str(nth), *args], timeout=120)
    _assert_interrupted(run.code, run.err, out_dir, may_exist=point == "after the save")


def test_ctrl_c_from_outside_during_a_training(photos, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    long = ("--atoms", "256", "--patch-size", "8", "--patches-per-image", "4000", "--epochs", "50")
    args = ["train-dictionary", str(photos), *long, "--out", str(out_dir / "d.npz")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rsdesk", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
    err = []
    try:
        while not any(x.startswith("training") for x in err):
            err.append(lines.get(timeout=120))  # the bar's first line: the training has started
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    proc.wait(timeout=10)
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    _assert_interrupted(code, "".join(err + rest), out_dir, may_exist=False)


def test_ctrl_c_before_any_training_in_process(tmp_path, monkeypatch, capsys):
    """The same rule in-process (the window's tests and scripts call ``main``): 130 and one line."""
    import rsdesk.core.io.datasets as datasets
    from rsdesk.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets, "find_images", interrupted)
    assert main(["train-dictionary", str(tmp_path), "--out", str(tmp_path / "d.npz")]) == 130
    assert capsys.readouterr().err.splitlines() == ["error: interrupted"]
    assert list(tmp_path.iterdir()) == []
