"""Property-based tests: whatever bytes a file holds, the core's loaders give a result or one documented user
error (``ValueError`` / ``OSError``: :data:`rsdesk.core.errors.USER_ERRORS`), never another exception type,
never a hang. Random bytes, valid containers with mutated headers, shapes and dtypes, and truncated or
bit-flipped valid files."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from file_helpers import _finishes
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numpy.lib import format as npformat
from PIL import Image

from rsdesk.core.errors import USER_ERRORS
from rsdesk.core.io.images import load_image
from rsdesk.core.io.labels import read_labels_csv
from rsdesk.core.models.weights import read_state_dict
from rsdesk.core.sparse.dictionary_file import load_dictionary, random_dictionary, save_dictionary

# The same examples on every run, so a CI failure reproduces; RSDESK_HYPOTHESIS_EXPLORE=1 draws new ones.
FAST = settings(
    max_examples=40,
    deadline=3000,
    database=None,
    derandomize=not os.environ.get("RSDESK_HYPOTHESIS_EXPLORE"),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _outcome(load: Callable[[Path], object], name: str, data: bytes) -> object:
    """Write ``data`` to a fresh file called ``name`` and load it: a result, or a user error (returned)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            return _finishes(lambda: load(path), seconds=10)
        except USER_ERRORS as exc:
            assert str(exc), f"{type(exc).__name__} without a message"
            return exc


def _flip(data: bytes, positions: list[int], value: int) -> bytes:
    out = bytearray(data)
    for p in positions:
        out[p % len(out)] ^= value or 1
    return bytes(out)


def _png() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _dictionary_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return save_dictionary(Path(folder) / "d.npz", random_dictionary(6, 2, seed=1)).read_bytes()


def _weights_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"conv.weight": torch.ones(2, 3), "fc.bias": torch.zeros(4)}, buf)
    return buf.getvalue()


PNG, DICTIONARY, WEIGHTS = _png(), _dictionary_bytes(), _weights_bytes()
IMAGE_NAMES = st.sampled_from(["x.png", "x.jpg", "x.gif", "x.bmp", "x.tif", "x.webp", "x.npy"])
DTYPES = st.sampled_from(["<f4", ">f8", "<f2", "|u1", "<i8", "|b1", "<c8", "<U3", "|V4", "|O", "|S2"])
SHAPES = st.lists(st.integers(0, 10**12), max_size=4).map(tuple)


def _npy(shape: tuple[int, ...], descr: str, fortran: bool, payload: bytes) -> bytes:
    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buf.getvalue() + payload


# ----- images --------------------------------------------------------------------------------------------


@FAST
@given(name=IMAGE_NAMES, data=st.binary(max_size=2048))
def test_any_bytes_as_an_image(name, data):
    result = _outcome(load_image, name, data)
    assert isinstance(result, USER_ERRORS) or (result.ndim == 3 and np.isfinite(result).all())


@FAST
@given(name=IMAGE_NAMES, cut=st.integers(0, len(PNG)), flips=st.lists(st.integers(0, 10**6), max_size=4))
def test_damaged_pngs(name, cut, flips):
    _outcome(load_image, name.replace(".npy", ".png"), _flip(PNG[:cut] or b"x", flips, 0x55))


@FAST
@given(shape=SHAPES, descr=DTYPES, fortran=st.booleans(), payload=st.binary(max_size=1024))
def test_npy_images_with_any_header(shape, descr, fortran, payload):
    result = _outcome(load_image, "x.npy", _npy(shape, descr, fortran, payload))
    assert isinstance(result, USER_ERRORS) or result.shape[2] == 3


# ----- dictionaries --------------------------------------------------------------------------------------


@FAST
@given(data=st.binary(max_size=2048))
def test_any_bytes_as_a_dictionary(data):
    _outcome(load_dictionary, "d.npz", data)


@FAST
@given(cut=st.integers(0, len(DICTIONARY)), flips=st.lists(st.integers(0, 10**6), max_size=3))
@example(cut=1886, flips=[44274])  # once a zlib.error ("invalid distance too far back") escaped
def test_truncated_or_flipped_dictionaries(cut, flips):
    _outcome(load_dictionary, "d.npz", _flip(DICTIONARY[:cut] or b"x", flips, 0x20))


@FAST
@given(
    member=st.sampled_from(["atoms", "patch_size", "h", "format_version", "seed", "provenance", "extra"]),
    shape=SHAPES,
    descr=DTYPES,
    payload=st.binary(max_size=512),
)
def test_dictionaries_with_one_member_replaced(member, shape, descr, payload):
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(DICTIONARY)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            if info.filename != f"{member}.npy":
                dst.writestr(info.filename, src.read(info))
        dst.writestr(f"{member}.npy", _npy(shape, descr, False, payload))
    result = _outcome(load_dictionary, "d.npz", buf.getvalue())
    assert isinstance(result, USER_ERRORS) or (np.isfinite(result.atoms).all() and result.h >= 0)


# ----- weights -------------------------------------------------------------------------------------------


@FAST
@given(data=st.binary(max_size=2048))
def test_any_bytes_as_weights(data):
    result = _outcome(read_state_dict, "w.pth", data)
    assert isinstance(result, (*USER_ERRORS, dict))


@FAST
@given(cut=st.integers(0, len(WEIGHTS)), flips=st.lists(st.integers(0, 10**6), max_size=3))
def test_truncated_or_flipped_weights(cut, flips):
    _outcome(read_state_dict, "w.pth", _flip(WEIGHTS[:cut] or b"x", flips, 0x08))


# ----- labels.csv ----------------------------------------------------------------------------------------


def _read_labels(path: Path) -> dict[str, int]:
    if path.name != "labels.csv":
        path = path.rename(path.with_name("labels.csv"))
    return read_labels_csv(path.parent)


@FAST
@given(data=st.binary(max_size=4096))
def test_any_bytes_as_labels(data):
    result = _outcome(_read_labels, "labels.csv", data)
    assert isinstance(result, USER_ERRORS) or all(0 <= v < 1000 for v in result.values())


@FAST
@given(
    header=st.sampled_from(["file,class_index", "\ufefffile,synset", "file,class_index,synset", "a,b", ""]),
    rows=st.lists(st.lists(st.text(max_size=12), max_size=4).map(",".join), max_size=20),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
def test_text_labels_in_any_shape_and_encoding(header, rows, newline, encoding):
    text = newline.join([header, *rows])
    data = text.encode(encoding, errors="replace")
    _outcome(_read_labels, "labels.csv", data)
