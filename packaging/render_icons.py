"""Render the app icon's PNG sizes from its one source, ``resources/icons/rsdesk.svg``.

The renderer is Qt's own (PySide6's QtSvg, already a run-time dependency of the app): no extra tool to
install, and the PNGs look like the icon the window itself draws from the SVG. ``--check`` renders again and
compares with the committed PNGs, so an edited SVG with stale PNGs fails the build and the tests;
``--platform-icons DIR`` also writes ``rsdesk.ico`` (Windows) and ``rsdesk.icns`` (macOS) with Pillow for
PyInstaller's ``icon=``.

    python packaging/render_icons.py            # rewrite resources/icons/rsdesk-<N>.png
    python packaging/render_icons.py --check    # exit 1 if a PNG is missing or differs from the SVG
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "resources" / "icons"
SVG = ICONS / "rsdesk.svg"
#: the freedesktop icon theme's usual sizes (hicolor), 16 to 512 px
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
#: mean absolute difference (0–255) a re-render may show against a committed PNG: anti-aliasing differs a
#: little between Qt versions, a changed drawing differs by far more
TOLERANCE = 2.0


def png_path(size: int) -> Path:
    """Where the PNG of one size lives (shipped in the wheel and the bundle with the SVG)."""
    return ICONS / f"rsdesk-{size}.png"


def render(size: int) -> np.ndarray:
    """The SVG drawn at ``size`` × ``size`` px as RGBA uint8 (transparent outside the drawing)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"{SVG} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_RGBA8888)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(size, image.bytesPerLine() // 4, 4)[:, :size].copy()


def _save_png(rgba: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(rgba, "RGBA").save(path, optimize=True)


def _load_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def check() -> list[str]:
    """One line per PNG that is missing or no longer matches the SVG; empty when all are current."""
    problems = []
    for size in SIZES:
        path = png_path(size)
        if not path.is_file():
            problems.append(f"{path.relative_to(ROOT)}: missing")
            continue
        old = _load_png(path)
        if old.shape != (size, size, 4):
            shape = f"{old.shape[1]}×{old.shape[0]}"
            problems.append(f"{path.relative_to(ROOT)}: {shape}, expected {size}×{size}")
            continue
        diff = float(np.abs(old.astype(np.int16) - render(size).astype(np.int16)).mean())
        if diff > TOLERANCE:
            problems.append(f"{path.relative_to(ROOT)}: differs from the SVG (mean |Δ| {diff:.1f})")
    return problems


def platform_icons(folder: Path) -> None:
    """``rsdesk.ico`` and ``rsdesk.icns`` in ``folder``, from the largest rendering (Pillow scales down)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    big = Image.fromarray(render(512), "RGBA")
    big.save(folder / "rsdesk.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    big.save(folder / "rsdesk.icns")


def main(argv: list[str] | None = None) -> int:
    """Render (or with ``--check`` verify) the PNGs; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the PNGs instead of writing them")
    parser.add_argument("--platform-icons", type=Path, metavar="DIR", help="also write .ico and .icns here")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run: python packaging/render_icons.py", file=sys.stderr)
            return 1
        print(f"{len(SIZES)} PNGs match {SVG.relative_to(ROOT)}")
    else:
        for size in SIZES:
            _save_png(render(size), png_path(size))
        print(f"wrote {len(SIZES)} PNGs ({SIZES[0]}–{SIZES[-1]} px) from {SVG.relative_to(ROOT)}")
    if args.platform_icons:
        platform_icons(args.platform_icons)
    return 0


if __name__ == "__main__":
    sys.exit(main())
