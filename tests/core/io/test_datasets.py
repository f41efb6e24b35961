"""rsdesk.core.io.datasets: the one folder walk, true labels per file, labelled sets."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from file_helpers import _finishes
from PIL import Image

from rsdesk.core.io.datasets import NOT_AN_IMAGE, LabelLookup, find_images, load_labelled_set
from rsdesk.core.progress import Cancelled


def test_find_images_expands_folders(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("b.png", "a.JPG", "c.npy", "notes.txt", "readme.md"):
        (folder / name).write_bytes(b"x")
    (folder / "sub.png").mkdir()  # a folder with an image-like name is not an image
    single = tmp_path / "single.txt"
    single.write_text("not an image suffix")
    files, problems = find_images([folder, single])
    assert files == [folder / "a.JPG", folder / "b.png", folder / "c.npy"]
    # The CLI's old walk kept a given non-image file to fail later at decoding; the one walk says so now.
    assert problems == [f"single.txt: {NOT_AN_IMAGE}"]


def test_find_images_walks_folders_and_names_problems(tmp_path, image_folder):
    (image_folder / "sub").mkdir()
    (image_folder / "sub" / "deep.png").write_bytes((image_folder / "photo1.png").read_bytes())
    (image_folder / ".hidden").mkdir()
    (image_folder / ".hidden" / "x.png").write_bytes(b"")
    files, problems = find_images([image_folder, tmp_path / "missing.png", image_folder / "labels.csv"])
    assert [f.name for f in files] == ["n04485082_0.png", "photo1.png", "photo2.png", "deep.png"]
    assert any("missing.png" in p and "not found" in p for p in problems)
    assert any("labels.csv" in p and "not an image" in p for p in problems)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_images([empty]) == ([], ["empty: no image files in this folder"])


def test_find_images_keeps_order_drops_duplicates_and_caps_a_folder(tmp_path, image_folder):
    one = image_folder / "photo1.png"
    files, problems = find_images([one, image_folder, one])
    assert [f.name for f in files] == ["photo1.png", "n04485082_0.png", "photo2.png"] and problems == []
    files, problems = find_images([image_folder], limit=2)
    assert [f.name for f in files] == ["n04485082_0.png", "photo1.png"]
    assert problems == ["photos: only the first 2 of 3 images were taken"]
    with pytest.raises(Cancelled):
        find_images([image_folder], cancel=lambda: True)


def test_label_lookup_reads_each_csv_once(tmp_path, image_folder, monkeypatch):
    import rsdesk.core.io.datasets as datasets

    reads = []
    real = datasets.read_labels_csv
    monkeypatch.setattr(datasets, "read_labels_csv", lambda folder: reads.append(folder) or real(folder))
    label_of = LabelLookup()
    labels = [label_of(image_folder / n) for n in ("n04485082_0.png", "photo1.png", "photo2.png")]
    assert labels == [872, 967, None]  # synset in the name; labels.csv; neither
    assert reads == [image_folder]


def test_labelled_set_skips_unlabelled_and_reports_bad_files(tmp_path, image_folder):
    shutil.copy(image_folder / "photo1.png", image_folder / "n01440764_fish.png")
    (image_folder / "n01443537_broken.png").write_bytes(b"not a png")
    seen: list[str] = []
    data = load_labelled_set([image_folder, tmp_path / "gone.jpg"], on_problem=seen.append)
    assert [p.name for p in data.paths] == ["n01440764_fish.png", "n04485082_0.png", "photo1.png"]
    assert data.labels == [0, 872, 967] and len(data) == 3 and data.unlabelled == 1
    assert all(img.ndim == 3 and img.dtype == np.float32 for img in data.images)
    assert seen == data.problems and len(seen) == 2
    assert seen[0] == "gone.jpg: file not found" and "n01443537_broken.png" in seen[1]
    limited = load_labelled_set([image_folder], limit=2)
    assert limited.labels == [0, 872]


def test_labelled_set_of_an_unreadable_tiny_image(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "n01440764_tiny.png")
    data = load_labelled_set([folder])
    assert len(data) == 0 and "too small" in data.problems[0]


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and symlinks need POSIX")
def test_the_walk_reports_what_is_not_a_regular_file_and_never_opens_it(tmp_path, image_folder):
    os.mkfifo(image_folder / "pipe.jpg")
    (image_folder / "loop.jpg").symlink_to(image_folder / "loop.jpg")
    (image_folder / "dangling.png").symlink_to(tmp_path / "gone.png")
    (image_folder / "linked.png").symlink_to(image_folder / "photo1.png")  # a link to an image is fine
    (image_folder / "sub").mkdir()
    (image_folder / "sub" / "back").symlink_to(image_folder)  # a folder loop: never followed
    (image_folder / "sub" / "folder.jpg").symlink_to(image_folder)
    os.mkfifo(tmp_path / "given.png")
    found = _finishes(lambda: find_images([image_folder, tmp_path / "given.png"]), image_folder / "pipe.jpg")
    assert [f.name for f in found.files] == [
        "linked.png",
        "n04485082_0.png",
        "photo1.png",
        "photo2.png",
    ]
    assert found.problems == [
        "dangling.png: is a broken link (what it points to does not exist)",
        "loop.jpg: is a symbolic link loop; skipped",
        "pipe.jpg: is not a regular file (a named pipe); skipped",
        "folder.jpg: is a folder, not an image",
        "given.png: is not a regular file (a named pipe); skipped",
    ]
    given = tmp_path / "given.png"
    data = _finishes(lambda: load_labelled_set([image_folder, given]), given)
    assert [p.name for p in data.paths] == ["n04485082_0.png", "photo1.png"] and data.unlabelled == 2
    assert data.problems == found.problems


def test_a_broken_labels_csv_is_one_problem_and_the_images_still_load(image_folder):
    (image_folder / "labels.csv").write_bytes(b"\x00\x01garbage\xff" * 20)
    seen: list[str] = []
    data = load_labelled_set([image_folder], on_problem=seen.append)
    assert seen == ["photos/labels.csv: not a text file (it holds binary data); its labels were not used"]
    assert [p.name for p in data.paths] == ["n04485082_0.png"] and data.unlabelled == 2
    label_of = LabelLookup()
    assert [label_of(image_folder / n) for n in ("photo1.png", "photo2.png")] == [None, None]
    assert len(label_of.problems) == 1


def test_an_empty_current_folder_is_named_by_its_own_name(tmp_path, monkeypatch):
    """`rsdesk classify .` in an empty folder: the message names the folder, not an empty string."""
    folder = tmp_path / "shots"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert find_images(["."]).problems == ["shots: no image files in this folder"]
