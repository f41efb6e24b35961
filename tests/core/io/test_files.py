"""rsdesk.core.io.files: which paths may be opened, where a result may be saved, and saving atomically."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from file_helpers import _finishes, as_root, posix_only

from rsdesk.core.errors import ClassifierError, DictionaryError, FileError, ImageError
from rsdesk.core.io import files as files_mod
from rsdesk.core.io.files import (
    atomic_write,
    ensure_writable_destination,
    remove_stale_temps,
    require_regular_file,
)

# ----- require_regular_file ---------------------------------------------------------------------------


@posix_only
def test_a_fifo_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageError) as info:
        _finishes(lambda: require_regular_file(fifo, "image"), fifo)
    assert str(info.value) == "pipe.jpg: is not a regular file (a named pipe); skipped"


@posix_only
def test_sockets_devices_folders_and_links_are_named(tmp_path):
    sock = tmp_path / "sock.png"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    (tmp_path / "folder.jpg").mkdir()
    try:
        cases = {
            sock: "sock.png: is not a regular file (a socket); skipped",
            Path("/dev/null"): "null: is not a regular file (a character device); skipped",
            tmp_path / "loop.jpg": "loop.jpg: is a symbolic link loop; skipped",
            tmp_path / "dangling.jpg": "dangling.jpg: is a broken link (what it points to does not exist)",
            tmp_path / "folder.jpg": "folder.jpg: is a folder, not an image",
            tmp_path / "missing.jpg": "missing.jpg: file not found",
            tmp_path / "missing.jpg" / "x.jpg": "x.jpg: file not found",
        }
        for path, message in cases.items():
            with pytest.raises(ImageError) as info:
                require_regular_file(path, "image")
            assert str(info.value) == message
    finally:
        server.close()


def test_the_error_class_follows_what_the_file_is(tmp_path):
    folder = tmp_path / "thing"
    folder.mkdir()
    for what, cls, text in [
        ("file", FileError, "thing: is a folder, not a file"),
        ("dictionary", DictionaryError, "thing: is a folder, not a dictionary"),
        ("weights file", ClassifierError, "thing: is a folder, not a weights file"),
    ]:
        with pytest.raises(cls) as info:
            require_regular_file(folder, what)
        assert str(info.value) == text and isinstance(info.value, ValueError)
    with pytest.raises(DictionaryError):
        require_regular_file(folder, error=DictionaryError)
    ok = tmp_path / "ok.bin"
    ok.write_bytes(b"x")
    assert require_regular_file(str(ok)) == ok


@pytest.mark.skipif(as_root or os.name != "posix", reason="root reads any file")
def test_an_unreadable_file_is_refused(tmp_path):
    locked = tmp_path / "locked.png"
    locked.write_bytes(b"x")
    locked.chmod(0)
    with pytest.raises(ImageError, match=r"locked\.png: permission denied"):
        require_regular_file(locked, "image")


# ----- ensure_writable_destination ---------------------------------------------------------------------


def test_destination_checks_create_nothing(tmp_path):
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    cases = {
        tmp_path / "a_folder": f"cannot save {tmp_path / 'a_folder'}: it is a folder; give a file name",
        tmp_path / "nope" / "d.npz": f"cannot save {tmp_path / 'nope' / 'd.npz'}: the folder "
        f"{tmp_path / 'nope'} does not exist",
        tmp_path / "a_file" / "d.npz": f"cannot save {tmp_path / 'a_file' / 'd.npz'}: "
        f"{tmp_path / 'a_file'} is not a folder",
    }
    before = sorted(tmp_path.rglob("*"))
    for path, message in cases.items():
        with pytest.raises(OSError) as info:
            ensure_writable_destination(path)
        assert str(info.value) == message
    assert ensure_writable_destination(tmp_path / "d.npz") == tmp_path / "d.npz"
    assert sorted(tmp_path.rglob("*")) == before


def test_a_read_only_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(files_mod.os, "access", lambda path, mode: False)
    monkeypatch.setattr(files_mod, "_read_only_fs", lambda folder: True)
    with pytest.raises(OSError, match=r"cannot save .*d\.npz: the folder .* is on a read-only disk"):
        ensure_writable_destination(tmp_path / "d.npz")


def test_a_folder_that_takes_no_new_files_is_refused_before_any_work(tmp_path, monkeypatch):
    """Permission bits can say yes where no file can be made (root on /proc, a full disk): only creating a
    file proves it, and the probe is gone afterwards."""

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files_mod.tempfile, "mkstemp", full)
    with pytest.raises(
        OSError, match=r"cannot save .*d\.npz: no file can be created in the folder .* \(the disk is full\)"
    ):
        ensure_writable_destination(tmp_path / "d.npz")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_proc_is_refused_although_its_permission_bits_allow_root():
    with pytest.raises(
        OSError, match=r"cannot save /proc/forbidden\.npz: no file can be created in the folder /proc"
    ):
        ensure_writable_destination("/proc/forbidden.npz")


def test_the_probe_leaves_nothing_behind(tmp_path):
    ensure_writable_destination(tmp_path / "d.npz")
    assert list(tmp_path.iterdir()) == []


# ----- atomic_write -------------------------------------------------------------------------------------


def test_atomic_write_replaces_whole_files_only(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    assert atomic_write(path, lambda fh: fh.write(b"first")) == path
    assert path.read_bytes() == b"first"

    def half(fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half)
    assert path.read_bytes() == b"first"
    assert os.listdir(path.parent) == ["out.txt"]


def test_the_writer_is_closed_before_the_temp_file_goes(tmp_path):
    seen = []

    def write(fh):
        seen.append(fh)
        raise RuntimeError("encoder broke")

    with pytest.raises(RuntimeError, match="encoder broke"):
        atomic_write(tmp_path / "x.bin", write)
    assert seen[0].closed and os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("code", "why"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EROFS, "the disk is read-only"),
        (errno.EACCES, "permission denied (the folder is not writable)"),
    ],
)
def test_failed_saves_name_the_destination_and_why(tmp_path, code, why):
    path = tmp_path / "result.png"

    def write(fh):
        fh.write(b"abc")
        raise OSError(code, os.strerror(code))

    with pytest.raises(OSError) as info:
        atomic_write(path, write)
    assert str(info.value) == f"cannot save {path}: {why}"
    assert info.value.errno == code
    assert os.listdir(tmp_path) == []


def test_a_folder_that_cannot_hold_the_temp_file_is_named(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files_mod.tempfile, "mkstemp", refuse)
    with pytest.raises(OSError, match=rf"^cannot save {tmp_path / 'r.png'}: the disk is read-only$"):
        atomic_write(tmp_path / "r.png", lambda fh: fh.write(b"x"))


def test_stale_temp_files_of_killed_saves_are_removed(tmp_path):
    path = tmp_path / "d.npz"
    stale = tmp_path / ".d.npz.abc123.tmp"
    stale.write_bytes(b"")
    other = tmp_path / ".e.npz.abc123.tmp"  # another destination's: not ours to remove
    other.write_bytes(b"")
    atomic_write(path, lambda fh: fh.write(b"new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".e.npz.abc123.tmp", "d.npz"]


@pytest.mark.skipif(files_mod.fcntl is None, reason="needs POSIX file locks")
def test_a_save_in_progress_keeps_its_temp_file(tmp_path):
    path = tmp_path / "d.npz"
    started, release = threading.Event(), threading.Event()

    def slow(fh):
        fh.write(b"slow")
        started.set()
        release.wait(5)

    worker = threading.Thread(target=atomic_write, args=(path, slow))
    worker.start()
    assert started.wait(5)
    atomic_write(path, lambda fh: fh.write(b"quick"))  # its cleanup must leave the live temp alone
    release.set()
    worker.join(5)
    assert path.read_bytes() == b"slow"
    assert os.listdir(tmp_path) == ["d.npz"]


@pytest.mark.skipif(files_mod.fcntl is None, reason="needs POSIX file locks")
def test_a_folders_stale_temps_go_at_any_depth_and_a_live_one_stays(tmp_path):
    """The sweep's run directory keeps adversarials four folders down; a link is not followed."""
    deep = tmp_path / "adversarials" / "bpda" / "jpeg" / "8"
    deep.mkdir(parents=True)
    stale = [tmp_path / ".plan.json.a1.tmp", deep / ".img.npy.b2.tmp"]
    for f in stale:
        f.write_bytes(b"")
    kept = [deep / "img.npy", tmp_path / ".hidden.tmp", tmp_path / "notes.tmp"]  # not an atomic save's
    for f in kept:
        f.write_bytes(b"x")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / ".x.npy.c3.tmp").write_bytes(b"")
    (tmp_path / "link").symlink_to(outside)
    started, release = threading.Event(), threading.Event()

    def slow(fh):
        started.set()
        release.wait(5)

    live = threading.Thread(target=atomic_write, args=(deep / "live.npy", slow))
    live.start()
    assert started.wait(5)
    try:
        assert sorted(remove_stale_temps(tmp_path)) == sorted(stale)
        assert all(f.exists() for f in kept) and (outside / ".x.npy.c3.tmp").exists()
        assert [p.name for p in deep.iterdir() if p.name.startswith(".live.npy.")]  # the live save's temp
    finally:
        release.set()
        live.join(5)
    assert (deep / "live.npy").exists()


@posix_only
def test_sigkill_during_a_save_leaves_a_temp_the_next_save_removes(tmp_path):
    path = tmp_path / "d.npz"
    script = (
        "import sys, time\n"
        "from rsdesk.core.io.files import atomic_write\n"
        "def write(fh):\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(30)\n"
        f"atomic_write({str(path)!r}, write)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    (leftover,) = tmp_path.iterdir()
    assert leftover.name.startswith(".d.npz.") and leftover.stat().st_size == 0
    deadline = time.monotonic() + 5
    atomic_write(path, lambda fh: fh.write(b"ok"))
    assert time.monotonic() < deadline
    assert os.listdir(tmp_path) == ["d.npz"]
