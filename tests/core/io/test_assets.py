"""rsdesk.core.io.assets: the bundled files are found from a source checkout too."""

from __future__ import annotations

from pathlib import Path

from rsdesk.core.io import assets

ROOT = Path(__file__).resolve().parents[3]


def test_a_source_checkout_falls_back_to_the_repository_resources_folder():
    # the fallback CI and `python -m rsdesk` from a clone use when rsdesk.resources is not importable
    assert assets._SOURCE_RESOURCES == ROOT / "resources"
    assert (assets._SOURCE_RESOURCES / "imagenet_classes.tsv").is_file()
    assert (assets._SOURCE_RESOURCES / "samples").is_dir()
