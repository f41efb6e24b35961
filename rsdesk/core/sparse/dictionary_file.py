"""A RegionSparse dictionary as data: unit-norm atoms plus how they were made, and its ``.npz`` file.

The file holds only arrays and plain scalars, written without pickle and read member by member with each
header checked first (:func:`rsdesk.core.io.files.read_npz_arrays`), so a hostile file can neither run code
nor make RSDesk allocate more than a real dictionary needs. Training lives in
:mod:`rsdesk.core.sparse.training`,
which re-exports everything here.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npformat

from rsdesk.core.errors import DictionaryError
from rsdesk.core.io.files import ArrayHeader, atomic_write, read_npz_arrays, require_regular_file

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Dictionary:
    """Unit-norm atoms for b×b×3 patches plus how they were made."""

    atoms: np.ndarray = field(repr=False)  # n_atoms × 3·b·b, float32, unit rows
    patch_size: int
    h: float
    n_images: int = 0
    seed: int = 0
    normalized: bool = True  # trained on z-scored patches (Patch Normalization)
    provenance: str = ""

    @property
    def n_atoms(self) -> int:
        return int(self.atoms.shape[0])

    @property
    def dim(self) -> int:
        return int(self.atoms.shape[1])

    def describe(self) -> str:
        return f"{self.n_atoms} atoms, {self.patch_size}×{self.patch_size} patches, h {self.h:g}"


def _unit_rows(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return (a / np.maximum(norms, 1e-12)).astype(np.float32)


def validate_atoms(atoms: np.ndarray, patch_size: int) -> np.ndarray:
    """Check shape, dtype and finiteness of an atom matrix; return it as unit-norm float32."""
    if atoms.ndim != 2:
        raise DictionaryError(f"atoms must be a 2-D matrix, found shape {atoms.shape}")
    if not np.issubdtype(atoms.dtype, np.floating):
        raise DictionaryError(f"atoms must be floating point, found {atoms.dtype}")
    if patch_size < 2 or atoms.shape[1] != 3 * patch_size * patch_size:
        raise DictionaryError(
            f"atoms have {atoms.shape[1]} values each, but {patch_size}×{patch_size}×3 patches need "
            f"{3 * patch_size * patch_size}"
        )
    if atoms.shape[0] < 2:
        raise DictionaryError("a dictionary needs at least 2 atoms")
    if not np.isfinite(atoms).all():
        raise DictionaryError("atoms contain NaN or infinite values")
    if (np.linalg.norm(atoms, axis=1) < 1e-8).any():
        raise DictionaryError("some atoms are all zeros")
    return _unit_rows(atoms)


def save_dictionary(path: str | os.PathLike[str], d: Dictionary) -> Path:
    """Write ``.npz`` atomically, with only arrays and plain scalars (readable with allow_pickle=False).

    The archive is written with a ``with`` block (not ``np.savez``), so a Ctrl-C during the save closes it
    at once instead of leaving a half-written ``ZipFile`` to complain when it is garbage-collected.
    """
    arrays = {
        "atoms": d.atoms.astype(np.float32),
        "patch_size": np.int64(d.patch_size),
        "h": np.float64(d.h),
        "n_images": np.int64(d.n_images),
        "seed": np.int64(d.seed),
        "normalized": np.bool_(d.normalized),
        "format_version": np.int64(FORMAT_VERSION),
        "provenance": np.str_(d.provenance),
    }

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_DEFLATED) as zf:
            for key, value in arrays.items():
                with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                    npformat.write_array(member, np.asanyarray(value), allow_pickle=False)

    return atomic_write(path, write)  # type: ignore[arg-type]


#: Bounds on what a dictionary file may claim, checked on each member's header before it is read.
#: Atoms: 4096, the most RSDesk trains (TrainingConfig). Purifying one image with 4096 atoms of 32×32×3
#: peaks at 1.3 GB (OMP's atoms² Gram matrix and the coding buffers grow with it); 8192 would need 1.9 GB,
#: over the 1.5 GB a command may use.
MAX_ATOMS = 4096
#: Patch sides RegionSparse works with (the same range training accepts).
MIN_PATCH, MAX_PATCH = 2, 32
#: A provenance note longer than this many characters is not a note.
MAX_PROVENANCE = 65536
_NUMBER_FIELDS = ("patch_size", "h", "n_images", "seed", "normalized", "format_version")
_FIELDS = (*_NUMBER_FIELDS, "provenance", "atoms")


def _check_member(label: str, name: str, header: ArrayHeader) -> None:
    """Refuse a member by its header alone: wrong kind of data or a size no dictionary has."""
    if header.dtype.hasobject:
        raise DictionaryError(
            f"{label}: '{name}' holds Python objects, which could run code; RSDesk never loads them"
        )
    if name == "atoms":
        if not header.numeric or header.dtype.kind != "f" or len(header.shape) != 2:
            raise DictionaryError(
                f"{label}: atoms must be a 2-D floating-point matrix, found {header.dtype} with shape "
                f"{header.shape}"
            )
        n_atoms, dim = header.shape
        if not 2 <= n_atoms <= MAX_ATOMS:
            raise DictionaryError(f"{label}: {n_atoms} atoms; a dictionary has 2…{MAX_ATOMS}")
        if dim > 3 * MAX_PATCH * MAX_PATCH:
            raise DictionaryError(
                f"{label}: atoms have {dim} values each; patches of at most {MAX_PATCH}×{MAX_PATCH}×3 "
                f"need no more than {3 * MAX_PATCH * MAX_PATCH}"
            )
    elif name == "provenance":
        if header.dtype.kind != "U" or header.shape != () or header.dtype.itemsize > 4 * MAX_PROVENANCE:
            raise DictionaryError(f"{label}: malformed metadata (provenance is not a short text)")
    elif not header.numeric or header.shape not in ((), (1,)):
        raise DictionaryError(
            f"{label}: malformed metadata ({name} must be a single number, found {header.dtype} with shape "
            f"{header.shape})"
        )


def _number(label: str, data: dict[str, np.ndarray], key: str, default: float, lo: float, hi: float) -> float:
    """A metadata number that must be finite and within [lo, hi]."""
    value = float(data[key].reshape(-1)[0]) if key in data else default
    if not (np.isfinite(value) and lo <= value <= hi):
        raise DictionaryError(
            f"{label}: malformed metadata ({key} is {value:g}; it must be within {lo:g}…{hi:g})"
        )
    return value


def load_dictionary(path: str | os.PathLike[str]) -> Dictionary:
    """Read and validate a dictionary file; :class:`DictionaryError` says exactly what is wrong.

    Only the members a dictionary needs are read, each after its header passed :func:`_check_member`,
    so a hostile file cannot make RSDesk allocate more than a real dictionary would.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise DictionaryError(f"dictionary file not found: {path}")
    require_regular_file(path, "dictionary")
    label = path.name
    with open(path, "rb") as fh:
        if fh.read(6) == b"\x93NUMPY":
            raise DictionaryError(f"{label}: expected an .npz archive with an 'atoms' array")
    data = read_npz_arrays(
        path,
        _FIELDS,
        lambda name, header: _check_member(label, name, header),
        DictionaryError,
        kind="RegionSparse dictionary (.npz) file",
    )
    missing = [k for k in ("atoms", "patch_size", "h", "format_version") if k not in data]
    if missing:
        raise DictionaryError(f"{label}: not a RegionSparse dictionary (missing {', '.join(missing)})")
    version = _number(label, data, "format_version", 0, 0, 2**31)
    if version > FORMAT_VERSION:
        raise DictionaryError(
            f"{label}: format version {version:g} is newer than this RSDesk understands "
            f"({FORMAT_VERSION}); update RSDesk"
        )
    patch_size = _number(label, data, "patch_size", 0, MIN_PATCH, MAX_PATCH)
    h = _number(label, data, "h", 0, 0, 255)  # NLM strength on 8-bit intensities
    n_images = _number(label, data, "n_images", 0, 0, 2**62)
    seed = _number(label, data, "seed", 0, -(2**63), 2**64)
    if patch_size != int(patch_size):
        raise DictionaryError(
            f"{label}: malformed metadata (patch_size is {patch_size:g}, not a whole number)"
        )
    try:
        atoms = validate_atoms(data["atoms"], int(patch_size))
    except DictionaryError as exc:
        raise DictionaryError(f"{label}: {exc}") from exc
    return Dictionary(
        atoms=atoms,
        patch_size=int(patch_size),
        h=h,
        n_images=int(n_images),
        seed=int(seed),
        normalized=bool(data["normalized"].reshape(-1)[0]) if "normalized" in data else True,
        provenance=str(data["provenance"]) if "provenance" in data else "",
    )


def random_dictionary(n_atoms: int = 256, patch_size: int = 8, seed: int = 0) -> Dictionary:
    """Gaussian random unit-norm atoms: the paper's "noTR" ablation (no trained dictionary)."""
    rng = np.random.default_rng(seed)
    atoms = _unit_rows(rng.standard_normal((n_atoms, 3 * patch_size * patch_size)))
    return Dictionary(atoms, patch_size, h=0.0, seed=seed, provenance="random Gaussian atoms (noTR)")
