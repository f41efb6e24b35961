"""Disk full and read-only destinations on every save of the command line: the dictionary, purified and
adversarial images, and the evaluation's run directory (plan.json, results.csv, adversarials, summary).

Each gives one clear ``error:`` line naming the path, a non-zero exit, no partial or temporary file and no
traceback; a run directory that hit a full disk resumes to the same rows once there is space again.

A full disk is simulated in-process: ``os.fsync`` (every durable save goes through it) fails with ENOSPC
for the files it is told to. A read-only folder is a real ``chmod 0o500`` folder (skipped as root, whom
permissions do not stop) or, as root too, EROFS from the same simulation.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path

import pytest

from rsdesk.cli import main
from rsdesk.core.evaluation import RunDirectory
from rsdesk.core.io.assets import resource_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds a file's path in /proc/self/fd"),
]

COFFEE = resource_path("samples", "coffee.jpg")
TIMING = {"seconds", "attack_seconds"}
EVALUATE = ["--attacks", "fgsm", "--strengths", "2", "--defenses", "none,jpeg", "--quiet"]
not_as_root = pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


class DiskFaults:
    """Replaces ``os.fsync``: once armed, fsync of a file whose path contains ``match`` fails with ``code``
    after ``after`` such calls have succeeded (how a full or read-only disk shows at a save)."""

    def __init__(self) -> None:
        self.real = os.fsync
        self.match: str | None = None
        self.code = errno.ENOSPC
        self.left = 0

    def fail(self, match: str, code: int = errno.ENOSPC, after: int = 0) -> None:
        self.match, self.code, self.left = match, code, after

    def clear(self) -> None:
        self.match = None

    def fsync(self, fd: int) -> None:
        if self.match is not None and self.match in os.readlink(f"/proc/self/fd/{fd}"):
            if self.left <= 0:
                raise OSError(self.code, os.strerror(self.code))
            self.left -= 1
        self.real(fd)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> DiskFaults:
    faults = DiskFaults()
    monkeypatch.setattr(os, "fsync", faults.fsync)
    return faults


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(COFFEE, folder / "a.jpg")
    shutil.copy(resource_path("samples", "camera.jpg"), folder / "b.jpg")
    (folder / "labels.csv").write_text("file,class_index\na.jpg,967\nb.jpg,872\n")
    return folder


def _train(photos: Path, out: Path) -> int:
    small = ["--atoms", "8", "--patch-size", "4", "--patches-per-image", "50", "--quiet"]
    return main(["train-dictionary", str(photos), *small, "--out", str(out)])


@pytest.mark.parametrize(
    ("code", "why"), [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "the disk is read-only")]
)
def test_dictionary_save_on_a_full_or_read_only_disk(capsys, tmp_path, photos, disk, code, why):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    disk.fail(str(out_dir), code)
    assert _train(photos, out_dir / "d.npz") == 2
    err = capsys.readouterr().err
    assert _errors(err) == [f"error: cannot save {out_dir / 'd.npz'}: {why}"]
    assert "Traceback" not in err
    assert _files(out_dir) == []  # neither the file nor its temp


@pytest.mark.parametrize("command", ["attack", "purify"])
def test_image_saves_on_a_full_disk(capsys, tmp_path, disk, command):
    out_dir = tmp_path / "out"
    disk.fail(str(out_dir))
    extra = ["--attack", "fgsm", "--eps", "2"] if command == "attack" else ["--defense", "jpeg"]
    assert main([command, str(COFFEE), *extra, "--out", str(out_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    name = "coffee_fgsm.png" if command == "attack" else "coffee_jpeg.png"
    assert _errors(err) == [f"error: cannot save {out_dir / name}: the disk is full"]
    assert "Traceback" not in err
    assert _files(out_dir) == []


@not_as_root
@pytest.mark.parametrize("command", ["train-dictionary", "attack", "purify", "evaluate"])
def test_a_read_only_destination_fails_before_any_work(capsys, tmp_path, photos, command):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        args, target = {
            "train-dictionary": (["--out", str(folder / "d.npz")], folder / "d.npz"),
            "attack": (["--attack", "fgsm", "--out", str(folder)], folder / "a_fgsm.png"),
            "purify": (["--defense", "jpeg", "--out", str(folder)], folder / "a_jpeg.png"),
            "evaluate": ([*EVALUATE, "--out", str(folder)], folder / "results.csv"),
        }[command]
        assert main([command, str(photos / "a.jpg"), *args, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert _errors(err) == [f"error: cannot save {target}: the folder {folder} is not writable"]
        assert _files(folder) == []
    finally:
        folder.chmod(0o700)


def _rows(run: Path) -> list[tuple]:
    return sorted(
        tuple(sorted((k, v) for k, v in r.items() if k not in TIMING)) for r in RunDirectory(run).read_rows()
    )


def test_run_directory_on_a_full_disk_then_resumed(capsys, tmp_path, photos, disk):
    reference = tmp_path / "reference"
    assert main(["evaluate", str(photos), *EVALUATE, "--out", str(reference)]) == 0
    run = tmp_path / "run"
    evaluate = ["evaluate", str(photos), *EVALUATE, "--out", str(run)]
    faults = [  # (what fails, after how many good saves of it, the path the message starts with)
        ("plan.json", 0, run / "plan.json"),
        ("adversarials", 1, run / "adversarials"),  # the second image of the attack's batch
        ("results.csv", 0, run / "results.csv"),  # the attack's rows: taken back whole
        ("summary.json", 0, run / "summary.json"),
    ]
    for match, after, path in faults:
        results = run / "results.csv"
        size = results.stat().st_size if results.exists() else 0
        disk.fail(match, after=after)
        assert main(evaluate) == 2, match
        disk.clear()
        err = capsys.readouterr().err
        (line,) = _errors(err)
        assert line.startswith(f"error: cannot save {path}") and line.endswith(": the disk is full"), line
        assert "Traceback" not in err
        assert not [f for f in _files(run) if f.endswith(".tmp")]
        if match == "results.csv":
            assert results.stat().st_size == size > 0  # the clean rows stay, no half batch was kept
    capsys.readouterr()
    assert main(evaluate) == 0  # space is back: the run resumes and completes
    assert _rows(run) == _rows(reference)
    assert (run / "summary.json").is_file()
