"""Locations of the files that ship inside the wheel (``rsdesk.resources``, the top-level ``resources/``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# In a source checkout used without installing (``python -m rsdesk`` from the repository root), the
# top-level resources/ folder is not importable as ``rsdesk.resources``; fall back to it directly.
_SOURCE_RESOURCES = Path(__file__).resolve().parents[2] / "resources"


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


def sample_image_paths() -> list[Path]:
    """Bundled, license-clean sample images (see ``resources/PROVENANCE.md``), sorted by name."""
    folder = resource_path("samples")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
