"""Checks of option values that must fail before any work starts: attack parameters that would make an
attack do nothing, whole numbers shown as typed, and ``--out`` destinations that cannot be written.

The core's parameter specs give the ranges (one source of truth); the command line adds what only makes
sense for a user asking for an attack: a step size, budget or target distance of 0 crafts nothing.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rsdesk.core.params import Param


def _plain(value: float) -> str:
    """A number as a person typed it: ``100000000`` rather than ``1e+08``."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else f"{value:g}"


def check_attack_value(option: str, param: Param, value: float | int) -> None:
    """Raise ``ValueError`` naming ``option`` when ``value`` is non-finite, outside the parameter's range
    or zero where the spec says 0 means "no attack at all" (``positive``: ε, α, d, c); whole numbers are shown
    as plain integers."""
    shown = _plain(value) if math.isfinite(value) else str(value)
    if not math.isfinite(value):
        raise ValueError(f"{option}: {param.label} must be a finite number, got {shown}")
    lo, hi = param.minimum, param.maximum
    if param.integer and not lo <= value <= hi:
        raise ValueError(f"{option}: {param.label} must be within {_plain(lo)}…{_plain(hi)}, got {shown}")
    if param.positive and value <= 0:
        raise ValueError(f"{option}: {param.label} must be greater than 0, got {shown}")


def check_attack_options(args: argparse.Namespace, attack_names: Iterable[str], names: Iterable[str]) -> None:
    """Check the given (not None) options ``names`` against every named attack that takes them."""
    from rsdesk.core.attacks import attack_class

    classes = [attack_class(n) for n in attack_names]
    for name in names:
        value = getattr(args, name, None)
        if value is None:
            continue
        for cls in classes:
            param = next((p for p in cls.PARAMS if p.name == name), None)
            if param is not None:
                check_attack_value(f"--{name}", param, value)


def _first_missing(folder: Path) -> Path:
    """The outermost part of ``folder`` that does not exist yet (what creating it starts with)."""
    missing = folder
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    return missing


def check_output_folder(folder: str | Path, first_file: str) -> Path:
    """``--out DIR`` before any work: an existing folder must take ``first_file``; a missing one must be
    creatable (its nearest existing parent writable). Creates nothing; ``OSError`` names the path."""
    from rsdesk.core.io.files import ensure_writable_destination

    folder = Path(folder)
    if folder.is_dir():
        ensure_writable_destination(folder / first_file)
    elif folder.exists() or folder.is_symlink():
        raise OSError(f"cannot save into {folder}: it exists and is not a folder")
    else:
        ensure_writable_destination(_first_missing(folder))
    return folder
