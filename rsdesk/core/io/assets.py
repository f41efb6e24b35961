"""Locations of the files that ship inside the wheel (``rsdesk.resources``, the top-level ``resources/``)."""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

from rsdesk.core.io.files import require_regular_file

# In a source checkout used without installing (``python -m rsdesk`` from the repository root), the
# top-level resources/ folder is not importable as ``rsdesk.resources``; fall back to it directly
# (this file is rsdesk/core/io/assets.py: three folders below the repository root).
_SOURCE_RESOURCES = Path(__file__).resolve().parents[3] / "resources"


def _base() -> Path:
    try:
        return Path(str(resources.files("rsdesk.resources")))
    except ModuleNotFoundError:
        return _SOURCE_RESOURCES


def resource_path(*parts: str) -> Path:
    """Path of a bundled resource file; works from an installed wheel and from a source checkout."""
    return _base().joinpath(*parts)


def default_dictionary_path() -> Path:
    """The bundled RegionSparse dictionary (see ``resources/PROVENANCE.md``)."""
    return resource_path("default_dictionary.npz")


def comdefend_weights_path() -> Path:
    """The bundled ComDefend weights, trained here (``scripts/train_comdefend.py``; the training record is
    ``comdefend.json`` beside it; see ``resources/PROVENANCE.md``)."""
    return resource_path("comdefend.pth")


#: The paper's Fig. 4 ablation dictionaries, trained like the default one but for one step
#: (``scripts/build_default_dictionary.py``): noIS without image smoothing (h = 0), noPN without patch
#: normalization (the purifier must then run with ``normalize=False`` too). Name → path in the resources.
ABLATION_DICTIONARIES: dict[str, str] = {
    "noIS": "dictionaries/noIS.npz",
    "noPN": "dictionaries/noPN.npz",
}


def bundled_dictionary_path(name: str) -> Path:
    """A bundled dictionary by name: ``default`` (or ``bundled``), ``noIS`` or ``noPN``; case-insensitive."""
    key = name.strip().lower()
    if key in ("default", "bundled"):
        return default_dictionary_path()
    for ablation, rel in ABLATION_DICTIONARIES.items():
        if key == ablation.lower():
            return resource_path(*rel.split("/"))
    known = ", ".join(["default", "bundled", *ABLATION_DICTIONARIES])
    raise ValueError(f"unknown bundled dictionary {name!r}; choose one of {known}")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (weights and dictionaries recorded by evaluations)."""
    digest = hashlib.sha256()
    with open(require_regular_file(path), "rb") as fh:  # a named pipe would block forever
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sample_image_paths() -> list[Path]:
    """Bundled, license-clean sample images (see ``resources/PROVENANCE.md``), sorted by name."""
    folder = resource_path("samples")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
