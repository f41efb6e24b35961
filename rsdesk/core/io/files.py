"""Files a user names: which ones may be opened, where a result may be saved, and saving it atomically.

A named pipe, socket or device that merely *looks* like an image blocks forever when opened for reading,
so every loader asks :func:`require_regular_file` first, which decides from ``stat`` alone. Saving goes
through :func:`atomic_write` (temp file beside the destination, then rename) so a crash, a full disk or a
Ctrl-C never leaves half a file, and :func:`ensure_writable_destination` lets a command find a bad ``--out``
before a long computation rather than after it. :func:`read_npy_header` and :func:`read_npz_arrays` read
NumPy files whose headers are checked *before* any data is allocated, so a hostile header cannot claim
gigabytes.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npformat

from rsdesk.core.errors import ClassifierError, DictionaryError, FileError, ImageError

try:  # POSIX: a writer holds a lock on its temp file, so a stale one (its writer killed) can be told apart
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PathLike = str | os.PathLike[str]

# The process umask, read once: mkstemp creates 0600 files, and saved files should get normal permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)

#: Without file locks (Windows) a temp file is only taken for stale once it is this old, in seconds.
_STALE_AGE_S = 600.0

#: The error class each kind of file gets (what a caller already catches for that kind of input).
_ERROR_FOR: dict[str, type[ValueError]] = {
    "image": ImageError,
    "dictionary": DictionaryError,
    "weights": ClassifierError,
    "weights file": ClassifierError,
}


def _article(what: str) -> str:
    return ("an " if what[:1].lower() in "aeiou" else "a ") + what


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    for test, words in (
        (stat.S_ISREG, None),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return words
    return "a special file"


def require_regular_file(
    path: PathLike, what: str = "file", *, error: type[ValueError] | None = None
) -> Path:
    """Return ``path`` if it is a readable regular file (links followed); otherwise raise one clear error.

    Decided from ``stat`` and ``access`` only: nothing is opened, because opening a named pipe for reading
    blocks until a writer appears. The error is ``error``, else the class callers of ``what`` expect
    (``ImageError`` for "image", ``DictionaryError`` for "dictionary", ``ClassifierError`` for "weights"),
    else :class:`~rsdesk.core.errors.FileError`.
    """
    path = Path(path)
    cls = error or _ERROR_FOR.get(what, FileError)
    name = path.name or str(path)
    # images and plain files come in batches: the caller reports this one and goes on with the rest
    skipped = "; skipped" if what in ("image", "file") else ""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise cls(f"{name}: is a symbolic link loop{skipped}") from exc
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            if os.path.islink(path):
                raise cls(f"{name}: is a broken link (what it points to does not exist)") from exc
            raise cls(f"{name}: file not found") from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise cls(f"{name}: permission denied (its folder cannot be read)") from exc
        raise cls(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise cls(f"{name}: is a folder, not {_article(what)}")
    kind = _kind(st.st_mode)
    if kind is not None:
        raise cls(f"{name}: is not a regular file ({kind}){skipped}")
    if not os.access(path, os.R_OK):
        raise cls(f"{name}: permission denied (the file cannot be read)")
    return path


def why_not_saved(exc: OSError) -> str:
    """An OS error's cause in plain words."""
    plain = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the disk is read-only",
        errno.EACCES: "permission denied (the folder is not writable)",
        errno.EPERM: "permission denied (the folder is not writable)",
        errno.ENOENT: "its folder does not exist",
        errno.ENOTDIR: "a part of the path is not a folder",
        errno.EISDIR: "it is a folder",
        errno.ENAMETOOLONG: "the name is too long",
    }
    return plain.get(exc.errno or 0, exc.strerror or str(exc) or type(exc).__name__)


def _save_error(path: Path, why: str, code: int | None = None) -> OSError:
    err = OSError(f"cannot save {path}: {why}")
    err.errno = code  # type: ignore[misc]  # keep the cause for callers that test it
    return err


def ensure_writable_destination(path: PathLike) -> Path:
    """Check, before any long work, that ``path`` can be saved to; raise ``OSError`` naming it if not.

    The folder must exist, be writable, and hold a probe file made and removed at once: only that proves a
    file can be made there (permission bits say yes to root on ``/proc`` or on a full disk).
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise _save_error(path, "it is a folder; give a file name", errno.EISDIR)
    if not folder.exists():
        raise _save_error(path, f"the folder {folder} does not exist", errno.ENOENT)
    if not folder.is_dir():
        raise _save_error(path, f"{folder} is not a folder", errno.ENOTDIR)
    if not os.access(folder, os.W_OK | os.X_OK):
        why = "is on a read-only disk" if _read_only_fs(folder) else "is not writable"
        raise _save_error(path, f"the folder {folder} {why}", errno.EACCES)
    _probe(path, folder)
    return path


def _probe(path: Path, folder: Path) -> None:
    """Create and remove a file in ``folder``; ``OSError`` naming ``path`` and why if none can be made."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".rsdesk-probe-", suffix=".tmp")
    except OSError as exc:
        # ENOENT here means the file system takes no new files (/proc, /sys), not a missing folder
        why = exc.strerror or str(exc) if exc.errno == errno.ENOENT else why_not_saved(exc)
        raise _save_error(path, f"no file can be created in the folder {folder} ({why})", exc.errno) from exc
    os.close(fd)
    os.unlink(probe)


def _read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _lock(fd: int, block: bool) -> bool:
    """Take the exclusive lock on an open file; False when another holder has it (non-blocking only)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is an atomic save's temp file: ``.NAME.RANDOM.tmp`` (see :func:`atomic_write`)."""
    return name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3


def _remove_if_stale(entry: os.DirEntry[str]) -> bool:
    """Delete one temp file if its writer is gone (killed mid-save); True when it was removed."""
    try:
        if not entry.is_file(follow_symlinks=False):
            return False
        if fcntl is None and time.time() - entry.stat().st_mtime < _STALE_AGE_S:
            return False
        fd = os.open(entry.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        if _lock(fd, block=False):  # a live writer holds its lock until it renames or removes
            os.unlink(entry.path)
            return True
    except OSError:
        pass
    finally:
        os.close(fd)
    return False


def _remove_stale_temps(path: Path) -> None:
    """Delete the temp files of earlier saves to ``path`` (``.NAME.*.tmp`` beside it) whose writer is gone."""
    prefix = f".{path.name}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(prefix) and is_temp_name(entry.name):
            _remove_if_stale(entry)


def remove_stale_temps(folder: PathLike) -> list[Path]:
    """Delete every atomic save's temp file in ``folder`` and below it whose writer is gone (a save killed
    outright leaves one); returns those removed. Links are not followed; a live save's temp file stays."""
    removed: list[Path] = []
    pending = [Path(folder)]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                    continue
            except OSError:
                continue
            if is_temp_name(entry.name) and _remove_if_stale(entry):
                removed.append(Path(entry.path))
    return removed


def _new_locked_temp(path: Path) -> tuple[int, str]:
    """A fresh temp file beside ``path``, locked; retried if a cleaner removed it before the lock."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        _lock(fd, block=True)
        if os.fstat(fd).st_nlink > 0:
            return fd, tmp
        os.close(fd)


def atomic_write(path: PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write a file through ``write(fileobj)`` into a temporary file beside it, then rename over ``path``.

    Readers never see a partial file, and a failed or interrupted write (any exception, Ctrl-C included)
    leaves any previous file untouched and no temp file behind; temp files of earlier saves that were
    killed outright are removed by the next successful one. An ``OSError`` names ``path`` and the cause.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _new_locked_temp(path)
    except OSError as exc:
        raise _save_error(path, why_not_saved(exc), exc.errno) from exc
    try:
        try:
            fh = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)  # while still locked: no cleaner can take it for stale
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not str(exc).startswith("cannot save "):
            raise _save_error(path, why_not_saved(exc), exc.errno) from exc
        raise
    _remove_stale_temps(path)
    return path


# ----- NumPy files with their headers checked before any data is read ---------------------------------


@dataclass(frozen=True)
class ArrayHeader:
    """What an ``.npy`` header claims: shape, dtype, memory order and its own length in bytes."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    header_len: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize

    @property
    def numeric(self) -> bool:
        """Plain numbers or booleans (no objects, strings, records): safe to read without pickle."""
        return self.dtype.kind in "biuf" and self.dtype.fields is None and not self.dtype.hasobject


def read_npy_header(fh: BinaryIO) -> ArrayHeader:
    """Parse an ``.npy`` header (versions 1 and 2) from ``fh``; ``ValueError`` if it is not one."""
    start = fh.tell()
    version = npformat.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = npformat.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"invalid shape {shape}")
    return ArrayHeader(tuple(shape), np.dtype(dtype), bool(fortran), fh.tell() - start)


def read_array_after_header(fh: BinaryIO, header: ArrayHeader, name: str) -> np.ndarray:
    """Read exactly the data ``header`` announces (already checked by the caller) from ``fh``."""
    data = fh.read(header.nbytes)
    if len(data) != header.nbytes:
        raise ValueError(f"{name} is truncated ({len(data)} of {header.nbytes} bytes)")
    arr = np.frombuffer(data, dtype=header.dtype)
    order = "F" if header.fortran_order else "C"
    return arr.reshape(header.shape, order=order).copy()


#: The most members a small archive of named arrays may list; its central directory is read whole.
MAX_NPZ_MEMBERS = 64


def _npz_member_count(fh: BinaryIO) -> int | None:
    """The entry count of a zip's end record, read from the tail; None if there is no end record."""
    size = fh.seek(0, os.SEEK_END)
    tail_len = min(size, 65536 + 22)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    if at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":  # a ZIP64 locator: counts live elsewhere
        return 1 << 32
    (count,) = struct.unpack("<H", tail[at + 10 : at + 12])
    return int(count)


def read_npz_arrays(
    path: Path,
    names: Iterable[str],
    check: Callable[[str, ArrayHeader], None],
    error: type[ValueError],
    kind: str = "NumPy archive (.npz)",
) -> dict[str, np.ndarray]:
    """Read only the arrays ``names`` (those present) from the ``.npz`` at ``path``, never unpickling.

        Each member's header is parsed and passed to ``check`` (which raises to refuse it) before its data is
        read, and the member's declared size must match the header exactly, so a member cannot inflate past
        what its header claims. Other members are never decompressed. Problems raise ``error`` naming the file
    (``kind`` says what the file should have been: "not a <kind> (why)").
    """
    label = path.name
    out: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as raw:
            count = _npz_member_count(raw)
            if count is not None and count > MAX_NPZ_MEMBERS:
                raise error(
                    f"{label}: the archive lists {count} members; refused (at most {MAX_NPZ_MEMBERS})"
                )
            raw.seek(0)
            with zipfile.ZipFile(raw) as zf:
                members = {info.filename: info for info in zf.infolist()}
                for name in names:
                    info = members.get(f"{name}.npy")
                    if info is None:
                        continue
                    with zf.open(info) as fh:
                        header = read_npy_header(fh)
                        check(name, header)
                        if info.file_size != header.header_len + header.nbytes:
                            raise error(f"{label}: '{name}' is damaged (its size does not match its header)")
                        out[name] = read_array_after_header(fh, header, f"'{name}'")
    except error:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise error(f"{label}: not a {kind} ({exc})") from exc
    except (ValueError, EOFError, OSError, RuntimeError, KeyError, struct.error, zlib.error) as exc:
        # damaged headers or compressed data, CRC errors, truncated data, encrypted or unsupported members
        raise error(f"{label}: not a {kind}: it is damaged ({exc})") from exc
    return out
