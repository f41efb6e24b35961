"""rsdesk.core.io.assets: the bundled files are found from a source checkout too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_source_checkout_finds_the_repository_resources_folder():
    """``python -m rsdesk`` from a clone imports the clone's package, where ``rsdesk.resources`` does not
    exist: the files must come from the repository's ``resources/`` folder."""
    code = (
        "import rsdesk; from rsdesk.core.io import assets; "
        "print(rsdesk.__file__); print(assets.resource_path('imagenet_classes.tsv'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    package, tsv = proc.stdout.split()
    assert Path(package).resolve().is_relative_to(ROOT)  # the clone's own package, not an installed one
    assert Path(tsv).is_file()
    assert Path(tsv).resolve().is_relative_to(ROOT)
