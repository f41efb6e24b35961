"""The size of an exported picture (the panel grid, a story step): a scale of the on-screen size (``2x``,
the default: sharp on a 4K projector and in slides) or a width in pixels (``1920px``). Plain Python: the
settings file keeps the last choice as its text, the export dialog offers :data:`EXPORT_SIZES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_EXPORT_SIZE = "2x"
#: What the export dialog offers: (settings text, what the user reads).
EXPORT_SIZES: tuple[tuple[str, str], ...] = (
    ("2x", "2× the screen size (slides)"),
    ("1x", "1× (as on screen)"),
    ("3x", "3× the screen size"),
    ("1920px", "1920 px wide"),
    ("3840px", "3840 px wide (4K)"),
)
SCALE_RANGE = (0.5, 4.0)
WIDTH_RANGE = (200, 8000)
_FORM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(x|×|px)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ExportSize:
    """A scale of the widget's size, or (``width`` > 0) a width in pixels with the height in proportion."""

    scale: float = 2.0
    width: int = 0

    def ratio(self, logical_width: int) -> float:
        """The device pixel ratio to render a widget ``logical_width`` wide at."""
        if self.width > 0:
            return self.width / max(1, logical_width)
        return self.scale

    @property
    def text(self) -> str:
        return f"{self.width}px" if self.width > 0 else f"{self.scale:g}x"


def parse_export_size(text: str) -> ExportSize:
    """``2x`` / ``1.5×`` (a scale within 0.5…4) or ``1920px`` (a width within 200…8000); ValueError else."""
    m = _FORM.match(str(text))
    if not m:
        raise ValueError(f"expected a scale like 2x or a width like 1920px, got {text!r}")
    value, unit = float(m.group(1)), m.group(2).lower()
    if unit == "px":
        lo, hi = WIDTH_RANGE
        if not lo <= value <= hi or value != int(value):
            raise ValueError(f"a width must be a whole number of pixels within {lo}…{hi}, got {text!r}")
        return ExportSize(width=int(value))
    lo, hi = SCALE_RANGE
    if not lo <= value <= hi:
        raise ValueError(f"a scale must be within {lo:g}…{hi:g}, got {text!r}")
    return ExportSize(scale=value)


def export_size_problem(text: str) -> str | None:
    """Why ``text`` is no export size (for the settings file's validation), None when it is one."""
    try:
        parse_export_size(text)
    except ValueError as exc:
        return str(exc)
    return None
