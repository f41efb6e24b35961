"""`pip install .` works: the wheel carries every resource and runs from outside the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = r"""
import sys
from pathlib import Path

site = Path(sys.argv[1]).resolve()
import rsdesk

assert Path(rsdesk.__file__).resolve().is_relative_to(site), rsdesk.__file__
from rsdesk.core.assets import default_dictionary_path, resource_path, sample_image_paths
from rsdesk.core.dictionary import load_dictionary
from rsdesk.core.images import load_image
from rsdesk.core.labels import imagenet_classes, read_labels_csv

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the sources (an in-tree build would leave build/ behind)."""
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("rsdesk", "resources"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    out = tmp / "wheels"
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
        "imagenet_classes.tsv",
        "samples/labels.csv",
        "icons/rsdesk.svg",
        "PROVENANCE.md",
    ):
        assert res + required in names, required
    samples = sorted(n for n in names if n.startswith(res + "samples/") and n.endswith(".jpg"))
    expected = sorted(res + "samples/" + p.name for p in (ROOT / "resources" / "samples").glob("*.jpg"))
    assert samples == expected and len(samples) >= 5
    core = {f"rsdesk/core/{p.name}" for p in (ROOT / "rsdesk" / "core").glob("*.py")}
    assert core <= names
    assert {"rsdesk/__init__.py", "rsdesk/__main__.py"} <= names
    cli = {f"rsdesk/cli/{p.name}" for p in (ROOT / "rsdesk" / "cli").glob("*.py")}
    assert {"rsdesk/cli/__init__.py", "rsdesk/cli/router.py"} <= cli <= names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "rsdesk = rsdesk.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_runs_outside_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "rsdesk" / "resources" / "default_dictionary.npz").is_file()
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, str(site)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "installed copy OK" in proc.stdout
