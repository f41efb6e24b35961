"""ImageNet classes, true labels of files, and the one rule that turns typed text into a class."""

from __future__ import annotations

import os

import pytest
from file_helpers import _finishes

from rsdesk.core.io import labels as labels_mod
from rsdesk.core.io.labels import (
    imagenet_classes,
    label_from_filename,
    read_labels_csv,
    require_class,
    resolve_class,
    true_label,
)


def test_imagenet_classes():
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert classes.name(967) == "espresso"
    assert classes.name(5000) == "class 5000"
    assert classes.index_of_synset("n07920052") == 967
    assert 281 in classes.search("tabby")


def test_labels_from_csv_and_file_names(tmp_path):
    (tmp_path / "labels.csv").write_text(
        "file,class_index,synset\na.jpg,967,\nb.jpg,,n02123045\nc.jpg,1000,\nd.jpg,x,\n,5,\n"
    )
    labels = read_labels_csv(tmp_path)
    assert labels == {"a.jpg": 967, "b.jpg": 281}  # out-of-range and unparsable rows are dropped
    assert read_labels_csv(tmp_path / "nowhere") == {}
    assert label_from_filename("n01440764_tench.JPEG") == 0
    assert label_from_filename("ILSVRC2012_val_n02123045.png") == 281
    assert label_from_filename("holiday.jpg") is None
    assert true_label(tmp_path / "a.jpg") == 967
    assert true_label(tmp_path / "n01440764_x.jpg") == 0  # not in the csv: the synset in the name
    assert true_label(tmp_path / "zzz.jpg") is None


def test_resolve_class_edge_cases():
    assert resolve_class("") == (True, None, "")
    assert resolve_class("  great   white shark ") == (True, 2, "")
    assert resolve_class("281 tab")[1] == 281
    ok, index, hint = resolve_class("281 goldfish")  # number and name disagree
    assert not ok and index is None and hint


def test_require_class_for_the_command_line():
    assert require_class("281") == 281
    assert require_class("n02123045") == 281
    assert require_class("tabby") == 281
    assert require_class("Espresso") == 967


def test_the_command_line_and_the_picker_share_one_rule():
    """Whatever the picker accepts, --target accepts as the same class; whatever it refuses, --target
    refuses, saying whether the text named no class or several."""
    for text in ("", "untargeted", "none", "281 tabby n02123045", "N02123045", "great white shark", "0"):
        ok, index, _ = resolve_class(text)
        assert ok and require_class(text) == index
    with pytest.raises(ValueError, match="'cat' is ambiguous"):
        require_class("cat")
    assert "matches" in resolve_class("cat").hint
    for unknown in ("zzzzqqq", "1000", "281 goldfish"):
        assert not resolve_class(unknown).ok
        with pytest.raises(ValueError, match=f"{unknown!r} is unknown"):
            require_class(unknown)


def _labels(folder, data: bytes) -> dict[str, int]:
    folder.mkdir(exist_ok=True)
    (folder / "labels.csv").write_bytes(data)
    return read_labels_csv(folder)


def test_labels_files_as_people_save_them(tmp_path):
    folder = tmp_path / "photos"
    assert _labels(folder, "\ufefffile,class_index\r\na.jpg,967\r\n".encode()) == {"a.jpg": 967}  # Excel
    assert _labels(folder, b"") == {}
    assert _labels(folder, b"file,class_index\n") == {}
    assert _labels(folder, b" file , synset \nb.jpg, n02123045\n\n") == {"b.jpg": 281}
    unknown = (
        b"file,class_index,synset\na.jpg,5000,\nb.jpg,,n99999999\nc.jpg,\xd9\xa3,\nd.jpg,-5,\ne.jpg,1e3,\n"
    )
    assert _labels(folder, unknown) == {}
    twice = b"file,class_index\na.jpg,967\na.jpg,967\nb.jpg,967\nb.jpg,504\n"
    assert _labels(folder, twice) == {"a.jpg": 967}  # b.jpg is listed with two classes: never guessed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01\x02binary\xff", "photos/labels.csv: not a text file (it holds binary data)"),
        ("file,class_index\ncafé.jpg,967\n".encode("latin-1"), "photos/labels.csv: not UTF-8 text (byte 20)"),
        (b"name;label\ncoffee.jpg;967\n", "photos/labels.csv: needs a 'file' column and a 'class_index' or"),
        (
            b"file,class_index\n" + b"x" * 200_000 + b",1\n",
            "photos/labels.csv: not valid CSV near line 2",
        ),
    ],
)
def test_unreadable_labels_files_are_one_value_error(tmp_path, data, message):
    with pytest.raises(ValueError) as info:
        _labels(tmp_path / "photos", data)
    assert str(info.value).startswith(message)
    assert type(info.value) is ValueError


def test_a_huge_labels_file_is_refused_without_reading_it_all(tmp_path, monkeypatch):
    monkeypatch.setattr(labels_mod, "MAX_LABELS_BYTES", 1000)
    with pytest.raises(ValueError, match=r"^photos/labels\.csv: too large for a labels file"):
        _labels(tmp_path / "photos", b"file,class_index\n" + b"a.jpg,1\n" * 200)


@pytest.mark.skipif(os.name != "posix", reason="FIFOs need POSIX")
def test_a_labels_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "labels.csv")
    with pytest.raises(ValueError, match=r"^labels\.csv: is not a regular file \(a named pipe\)$"):
        _finishes(lambda: read_labels_csv(tmp_path), tmp_path / "labels.csv")
