"""Gather the licenses of everything a bundle carries into one folder beside its program.

Run with the build environment's Python after PyInstaller (packaging/build.sh does). Every distribution
installed there that has a file in the bundle (PyInstaller's tables of contents in its work folder say which
files went in; without ``--toc-dir``, every distribution less the build tools) gets its dist-info license
files copied to ``DEST/third-party/<name>-<version>/`` and a row with its declared license in
``DEST/THIRD-PARTY.md``. The project's own collection (``resources/licenses/``: RSDesk, the weights, the
images, the dictionary, the full texts of the licenses they name) is copied to ``DEST/`` first, and
CPython's license with it.

    python packaging/collect_licenses.py dist/rsdesk/licenses --toc-dir build/pyinstaller/rsdesk
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: distributions that build the bundle but are not in it (PyInstaller's bootloader is: see README.md there)
BUILD_TOOLS = {
    "altgraph", "build", "pip", "pyinstaller", "pyinstaller-hooks-contrib", "pyproject-hooks", "setuptools",
    "wheel", "rsdesk",
}  # fmt: skip
LICENSE_FILE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS|COPYRIGHT)", re.IGNORECASE)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_license(dist: metadata.Distribution) -> str:
    """The license a distribution declares: its SPDX expression, else its License field, else classifiers."""
    meta = dist.metadata
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    text = (meta.get("License") or "").strip()
    if text and text.upper() != "UNKNOWN" and len(text) < 120 and "\n" not in text:
        return text
    classifiers = meta.get_all("Classifier") or []
    licenses = [c.split(" :: ")[-1] for c in classifiers if c.startswith("License ::")]
    return "; ".join(licenses) or "see the files"


def license_files(dist: metadata.Distribution) -> list[Path]:
    """The license-like files a distribution installed in its dist-info (PEP 639 ``licenses/`` included)."""
    found = []
    for file in dist.files or []:
        parts = Path(str(file)).parts
        if parts and parts[0].endswith(".dist-info") and LICENSE_FILE.search(parts[-1]):
            found.append(Path(str(dist.locate_file(file))))
    return sorted(p for p in found if p.is_file())


def python_license() -> Path | None:
    """CPython's LICENSE.txt: the bundle carries the interpreter's shared library."""
    for candidate in (
        Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt",
        Path(sys.base_prefix) / "LICENSE.txt",
    ):
        if candidate.is_file():
            return candidate
    return None


def bundled_sources(toc_dir: Path) -> set[Path]:
    """Every source file PyInstaller put in the bundle: modules (PYZ) and binaries and data (COLLECT)."""
    found: set[Path] = set()

    def walk(node: object) -> None:
        if isinstance(node, str):
            if Path(node).is_absolute():
                found.add(Path(node).resolve())
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)

    for name in ("PYZ-00.toc", "COLLECT-00.toc"):
        walk(ast.literal_eval((toc_dir / name).read_text(encoding="utf-8")))
    return found


def _in_bundle(dist: metadata.Distribution, sources: set[Path]) -> bool:
    return any(Path(str(dist.locate_file(f))).resolve() in sources for f in dist.files or [])


def collect(dest: Path, sources: set[Path] | None = None) -> list[tuple[str, str, str, int]]:
    """Fill ``dest``; return (name, version, license, number of files) for each bundled distribution.

    ``sources``: the files in the bundle (:func:`bundled_sources`); ``None`` takes every distribution.
    """
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / "resources" / "licenses", dest)
    if (py := python_license()) is not None:
        (dest / "python").mkdir()
        shutil.copy2(py, dest / "python" / "LICENSE.txt")
    rows = []
    seen = set()
    for dist in sorted(metadata.distributions(), key=lambda d: _norm(d.metadata["Name"])):
        name = dist.metadata["Name"]
        if _norm(name) in BUILD_TOOLS or _norm(name) in seen:
            continue
        if sources is not None and not _in_bundle(dist, sources):
            continue  # installed for the build only, or cut by the spec (e.g. sympy)
        seen.add(_norm(name))
        folder = dest / "third-party" / f"{_norm(name)}-{dist.version}"
        files = license_files(dist)
        for path in files:
            # keep torch's third_party/<lib>/LICENSE layout apart; flat names elsewhere
            rel = path.relative_to(next(p for p in path.parents if p.name.endswith(".dist-info")))
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        rows.append((name, dist.version, declared_license(dist), len(files)))
    return rows


def write_index(dest: Path, rows: list[tuple[str, str, str, int]]) -> None:
    """``THIRD-PARTY.md``: one row per bundled distribution and where its license texts are."""
    lines = [
        "# Python distributions in this bundle",
        "",
        "Generated by packaging/collect_licenses.py from the build environment's metadata. Each one's",
        "license files are in `third-party/<name>-<version>/`. Where a row has no files, the full text of",
        "the declared license is in this folder (see README.md).",
        "",
        "| distribution | version | declared license | files |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {v} | {lic.replace('|', '/')} | {k} |" for n, v, lic, k in rows]
    (dest / "THIRD-PARTY.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Collect into the folder given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder to (re)create, e.g. dist/rsdesk/licenses")
    parser.add_argument("--toc-dir", type=Path, help="PyInstaller's work folder of the bundle (PYZ-00.toc)")
    args = parser.parse_args(argv)
    rows = collect(args.dest, bundled_sources(args.toc_dir) if args.toc_dir else None)
    write_index(args.dest, rows)
    print(f"{len(rows)} distributions' licenses in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
