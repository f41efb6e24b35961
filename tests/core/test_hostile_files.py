"""Hostile files through the core's loaders: each is refused with one message (or loads), never hangs, never
runs code, never costs more memory than a real file of its kind."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import make_tiny_classifier
from file_helpers import _finishes, posix_only
from numpy.lib import format as npformat

from rsdesk.core.errors import ClassifierError, DictionaryError, ImageError
from rsdesk.core.io.assets import sample_image_paths
from rsdesk.core.io.images import load_image, resize_center_crop, save_png
from rsdesk.core.models.classifier import load_classifier
from rsdesk.core.models.weights import read_state_dict
from rsdesk.core.sparse.dictionary_file import MAX_ATOMS, load_dictionary, random_dictionary, save_dictionary


def _member(zf: zipfile.ZipFile, name: str, value: np.ndarray, header: dict | None = None) -> None:
    """Write one .npy member; ``header`` overrides what its header claims (the data stays ``value``)."""
    with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
        if header is None:
            npformat.write_array(fh, value, allow_pickle=True)
        else:
            npformat.write_array_header_1_0(fh, header)
            fh.write(value.tobytes())


def _fields(**changes: object) -> dict[str, np.ndarray]:
    fields = {
        "atoms": random_dictionary(6, 4, seed=1).atoms,
        "patch_size": np.int64(4),
        "h": np.float64(10.0),
        "format_version": np.int64(1),
        "provenance": np.str_("test"),
    }
    fields.update({k: np.asanyarray(v) for k, v in changes.items()})
    return fields


def _npz(path: Path, fields: dict[str, np.ndarray], headers: dict[str, dict] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in fields.items():
            _member(zf, name, value, (headers or {}).get(name))
    return path


def _dictionary_error(path: Path) -> str:
    with pytest.raises(DictionaryError) as info:
        _finishes(lambda: load_dictionary(path), path)
    return str(info.value)


# ----- dictionaries ------------------------------------------------------------------------------------


def test_a_header_claiming_a_billion_atoms_is_refused_before_reading(tmp_path):
    claim = {"descr": "<f4", "fortran_order": False, "shape": (10**9, 192)}
    path = _npz(tmp_path / "claims.npz", _fields(), {"atoms": claim})
    assert _dictionary_error(path) == f"claims.npz: 1000000000 atoms; a dictionary has 2…{MAX_ATOMS}"


def test_too_many_atoms_and_oversized_patches_are_refused(tmp_path):
    many = {"descr": "<f4", "fortran_order": False, "shape": (100_000, 48)}
    path = _npz(tmp_path / "many.npz", _fields(), {"atoms": many})
    assert _dictionary_error(path) == f"many.npz: 100000 atoms; a dictionary has 2…{MAX_ATOMS}"
    wide = {"descr": "<f4", "fortran_order": False, "shape": (8, 3 * 64 * 64)}
    path = _npz(tmp_path / "wide.npz", _fields(), {"atoms": wide})
    assert _dictionary_error(path) == (
        "wide.npz: atoms have 12288 values each; patches of at most 32×32×3 need no more than 3072"
    )


def test_a_header_that_does_not_match_its_data_is_damage(tmp_path):
    lying = {"descr": "<f4", "fortran_order": False, "shape": (12, 48)}  # the data holds 6 rows
    path = _npz(tmp_path / "lying.npz", _fields(), {"atoms": lying})
    assert _dictionary_error(path) == "lying.npz: 'atoms' is damaged (its size does not match its header)"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"h": -5.0}, "h is -5; it must be within 0…255"),
        ({"h": np.nan}, "h is nan; it must be within 0…255"),
        ({"h": np.inf}, "h is inf; it must be within 0…255"),
        ({"patch_size": 10**9}, "patch_size is 1e+09; it must be within 2…32"),
        ({"patch_size": 1}, "patch_size is 1; it must be within 2…32"),
        ({"format_version": np.nan}, "format_version is nan; it must be within 0…2.14748e+09"),
        ({"seed": np.inf}, "seed is inf; it must be within -9.22337e+18…1.84467e+19"),
        ({"h": np.zeros(3)}, "h must be a single number, found float64 with shape (3,)"),
        ({"h": np.str_("ten")}, "h must be a single number, found <U3 with shape ()"),
    ],
)
def test_metadata_must_be_finite_numbers_in_range(tmp_path, changes, message):
    path = _npz(tmp_path / "meta.npz", _fields(**changes))
    assert _dictionary_error(path) == f"meta.npz: malformed metadata ({message})"


@pytest.mark.parametrize(
    ("atoms", "message"),
    [
        (
            np.ones((6, 48), np.int64),
            "atoms must be a 2-D floating-point matrix, found int64 with shape (6, 48)",
        ),
        (
            np.ones((2, 3, 8), np.float32),
            "atoms must be a 2-D floating-point matrix, found float32 with shape",
        ),
        (np.array([{"evil": 1}], dtype=object), "'atoms' holds Python objects, which could run code"),
        (np.full((6, 48), np.inf, np.float32), "atoms contain NaN or infinite values"),
    ],
)
def test_atoms_of_the_wrong_kind_are_refused(tmp_path, atoms, message):
    path = _npz(tmp_path / "atoms.npz", _fields(atoms=atoms))
    assert _dictionary_error(path).startswith(f"atoms.npz: {message}")


def test_an_inflating_extra_member_is_never_decompressed(tmp_path):
    path = _npz(tmp_path / "bomb.npz", _fields())
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        _member(zf, "extra", np.zeros(16 << 20, np.float32))  # 64 MB of zeros in about 64 kB
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        d = load_dictionary(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert d.n_atoms == 6 and peak < 4 << 20


def test_an_archive_listing_thousands_of_members_is_refused(tmp_path):
    path = _npz(tmp_path / "crowd.npz", _fields())
    with zipfile.ZipFile(path, "a") as zf:
        for i in range(100):
            zf.writestr(f"m{i}.npy", b"")
    assert _dictionary_error(path) == "crowd.npz: the archive lists 105 members; refused (at most 64)"


@posix_only
def test_dictionary_paths_that_are_not_files(tmp_path):
    os.mkfifo(tmp_path / "pipe.npz")
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "loop.npz").symlink_to(tmp_path / "loop.npz")
    assert _dictionary_error(tmp_path / "pipe.npz") == "pipe.npz: is not a regular file (a named pipe)"
    assert _dictionary_error(tmp_path / "folder.npz") == "folder.npz: is a folder, not a dictionary"
    assert _dictionary_error(tmp_path / "loop.npz") == "loop.npz: is a symbolic link loop"


def test_saved_dictionaries_still_round_trip(tmp_path):
    d = random_dictionary(MAX_ATOMS, 2, seed=3)
    back = load_dictionary(save_dictionary(tmp_path / "big.npz", d))
    np.testing.assert_allclose(back.atoms, d.atoms, atol=1e-6)
    assert (back.n_atoms, back.patch_size, back.h, back.provenance) == (MAX_ATOMS, 2, 0.0, d.provenance)


# ----- weights -------------------------------------------------------------------------------------------


def _weights_error(path: Path) -> str:
    with pytest.raises(ClassifierError) as info:
        _finishes(lambda: read_state_dict(path), path)
    return str(info.value)


class Payload:
    """Any class other than a tensor: weights_only refuses to rebuild it."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_empty_garbage_and_truncated_weights(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    assert _weights_error(tmp_path / "empty.pth") == "empty.pth: the weights file is empty"
    damaged = "not a plain PyTorch state dict: the file is damaged, truncated or in another format"
    (tmp_path / "garbage.pth").write_bytes(b"\x00garbage" * 100)
    assert _weights_error(tmp_path / "garbage.pth") == f"garbage.pth: {damaged}"
    torch.save({"w": torch.ones(8)}, tmp_path / "good.pth")
    data = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    assert _weights_error(tmp_path / "cut.pth") == f"cut.pth: {damaged}"


def test_a_refused_pickle_says_why_and_never_suggests_the_unsafe_way(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(2), "payload": Payload()}, path)
    message = _weights_error(path)
    assert message == (
        "evil.pth: refused: the file holds Python objects other than tensors (posix.system), which could "
        "run code when loaded; RSDesk only loads plain weight files (a state dict of tensors)"
    )
    assert "weights_only" not in message


def test_non_finite_weights_are_refused_when_loaded(tmp_path):
    torch.save({"a": torch.zeros(3), "b": torch.tensor([1.0, float("nan")])}, tmp_path / "nan.pth")
    assert _weights_error(tmp_path / "nan.pth") == (
        "nan.pth: the weights hold NaN or infinite values (first in b); the file is damaged"
    )


def test_an_inflating_weights_archive_is_refused(tmp_path):
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb/data.pkl", b"\0" * (64 << 20))
    assert _weights_error(path).startswith("bomb.pth: refused: its archive inflates to 67 MB from 0.1 MB")


@posix_only
def test_weights_paths_that_are_not_files(tmp_path):
    os.mkfifo(tmp_path / "pipe.pth")
    (tmp_path / "folder.pth").mkdir()
    (tmp_path / "loop.pth").symlink_to(tmp_path / "loop.pth")
    assert _weights_error(tmp_path / "pipe.pth") == "pipe.pth: is not a regular file (a named pipe)"
    assert _weights_error(tmp_path / "folder.pth") == "folder.pth: is a folder, not a weights file"
    assert _weights_error(tmp_path / "loop.pth") == "loop.pth: is a symbolic link loop"
    with pytest.raises(ClassifierError, match=r"loop\.pth: is a symbolic link loop"):
        load_classifier("torchvision/resnet18", weights=tmp_path / "loop.pth")


def test_a_model_with_non_finite_outputs_is_an_error_not_nan_probabilities():
    model = make_tiny_classifier(seed=3)
    with torch.no_grad():
        model.net.fc.bias[0] = float("nan")
    with pytest.raises(ClassifierError) as info:
        model.classify(np.full((32, 32, 3), 0.5, np.float32))
    assert str(info.value) == (
        "Tiny CNN computed NaN or infinite outputs, so it cannot classify; its weights are probably damaged"
    )


# ----- images --------------------------------------------------------------------------------------------


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` but whose data is one tiny compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def test_decode_guards_give_one_image_error(tmp_path):
    (tmp_path / "wide.png").write_bytes(_png_claiming(10_000, 6_000))
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / "wide.png")
    assert (
        str(info.value)
        == "wide.png: image is too large (10000×6000 = 60 megapixels; the limit is 50 megapixels)"
    )
    (tmp_path / "bomb.png").write_bytes(_png_claiming(30_000, 30_000))
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / "bomb.png")
    assert str(info.value) == "bomb.png: image is too large to decode safely"


def test_an_npy_header_claiming_gigapixels_is_refused_unread(tmp_path):
    buf = io.BytesIO()
    npformat.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000, 3)}
    )
    (tmp_path / "huge.npy").write_bytes(buf.getvalue() + bytes(64))
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / "huge.npy")
    assert str(info.value).startswith("huge.npy: image is too large (100000×100000")
    np.save(tmp_path / "short.npy", np.zeros((16, 16, 3), np.float32))
    data = (tmp_path / "short.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(data[:-10])
    with pytest.raises(ImageError, match=r"^short\.npy: the NumPy image file is damaged or truncated$"):
        load_image(tmp_path / "short.npy")


@posix_only
def test_image_paths_that_are_not_files_never_block(tmp_path):
    save_png(tmp_path / "good.png", np.full((16, 16, 3), 0.5, np.float32))
    for name in ("pipe.jpg", "pipe.npy"):
        os.mkfifo(tmp_path / name)
        with pytest.raises(ImageError, match=rf"^{name}: is not a regular file \(a named pipe\); skipped$"):
            _finishes(lambda name=name: load_image(tmp_path / name), tmp_path / name)
    assert load_image(tmp_path / "good.png").shape == (16, 16, 3)


# ----- resizing a huge strip for the classifier ---------------------------------------------------------


def _resize_whole_then_crop(img: np.ndarray, size: int) -> np.ndarray:
    """The earlier implementation (scale the whole image, then crop): the reference for the new one."""
    h, w = img.shape[:2]
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(np.ascontiguousarray(img), (new_w, new_h), interpolation=interp)
    y0, x0 = (new_h - size) // 2, (new_w - size) // 2
    return np.clip(resized[y0 : y0 + size, x0 : x0 + size], 0.0, 1.0).astype(np.float32)


def test_resizing_matches_scaling_the_whole_image(sample_image):
    rng = np.random.default_rng(0)
    crops = [sample_image[:37, :100], sample_image[50:150, 20:77], sample_image[:10, :500]]
    for img in [sample_image, sample_image[::3, ::2], *crops, rng.random((9, 300, 3), dtype=np.float32)]:
        for size in (224, 299):
            ours = resize_center_crop(np.ascontiguousarray(img), size)
            assert ours.shape == (size, size, 3) and ours.dtype == np.float32
            np.testing.assert_allclose(ours, _resize_whole_then_crop(img, size), atol=1 / 255)
    for path in sample_image_paths():  # downscaled: exactly as before
        img = load_image(path)
        assert np.array_equal(resize_center_crop(img, 224), _resize_whole_then_crop(img, 224))


def test_memory_of_resizing_a_long_strip_is_bounded_by_the_output():
    strip = np.random.default_rng(1).random((10, 5000, 3), dtype=np.float32)  # 0.6 MB
    tracemalloc.start()
    try:
        out = resize_center_crop(strip, 224)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == (224, 224, 3)
    assert peak < 8 << 20  # scaling all of it first took 300 MB
