"""rsdesk.core.io.images: decoding every common format to float RGB, clear errors, atomic saving, resizing."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rsdesk.core.errors import ImageError
from rsdesk.core.io import images as images_mod
from rsdesk.core.io.images import (
    from_uint8,
    load_image,
    quantize,
    resize_center_crop,
    save_image,
    save_npy,
    save_png,
    to_uint8,
)


def _gradient_rgb(h: int = 24, w: int = 32) -> np.ndarray:
    """A uint8 H×W×3 test pattern with different content in each channel."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (h + w - 2)], axis=2).astype(
        np.uint8
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width×height RGB pixels but holds almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


# ----- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "save_kwargs", "lossless"),
    [
        (".png", {}, True),
        (".bmp", {}, True),
        (".tif", {}, True),
        (".webp", {"lossless": True}, True),
        (".jpg", {"quality": 95}, False),
        (".webp", {"quality": 90}, False),
    ],
)
def test_load_common_formats(tmp_path, suffix, save_kwargs, lossless):
    src = _gradient_rgb()
    path = tmp_path / f"img{suffix}"
    Image.fromarray(src).save(path, **save_kwargs)
    img = load_image(path)
    assert img.dtype == np.float32
    assert img.shape == (24, 32, 3)
    assert img.min() >= 0.0 and img.max() <= 1.0
    if lossless:
        np.testing.assert_array_equal(img, src.astype(np.float32) / 255.0)
    else:
        assert np.abs(img - src / 255.0).mean() < 0.03


def test_exif_orientation_is_applied(tmp_path):
    # Stored 40 wide × 20 high: left half red, right half blue. Orientation 6 = "rotate 90° clockwise".
    src = np.zeros((20, 40, 3), np.uint8)
    src[:, :20] = (255, 0, 0)
    src[:, 20:] = (0, 0, 255)
    im = Image.fromarray(src)
    exif = im.getexif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    im.save(path, quality=95, exif=exif.tobytes())
    img = load_image(path)
    assert img.shape == (40, 20, 3)  # rotated: now 40 high, 20 wide
    expected = np.rot90(src, k=-1).astype(np.float32) / 255.0  # clockwise: the red left half goes on top
    assert np.abs(img - expected).mean() < 0.03
    assert img[5, 10, 0] > 0.9 and img[5, 10, 2] < 0.1  # top is red
    assert img[35, 10, 2] > 0.9 and img[35, 10, 0] < 0.1  # bottom is blue


def test_grayscale_becomes_rgb(tmp_path):
    gray = np.arange(16 * 16, dtype=np.uint8).reshape(16, 16)
    path = tmp_path / "gray.png"
    Image.fromarray(gray).save(path)
    img = load_image(path)
    assert img.shape == (16, 16, 3) and img.dtype == np.float32
    for c in range(3):
        np.testing.assert_array_equal(img[..., c], gray / np.float32(255.0))


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (255, 0, 0, 0)  # fully transparent red → white
    rgba[:, 5:] = (0, 0, 255, 255)  # opaque blue stays blue
    rgba[0, 0] = (255, 0, 0, 128)  # half-transparent red over white → pink
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    img = load_image(path)
    assert img.shape == (10, 10, 3)
    np.testing.assert_array_equal(img[5, 2], [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(img[5, 7], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(img[0, 0], [1.0, 127 / 255, 127 / 255], atol=1.5 / 255)


def test_palette_image(tmp_path):
    idx = np.zeros((12, 12), np.uint8)
    idx[:, 6:] = 1
    idx[6:, :] = 2
    im = Image.fromarray(idx, "L").convert("P")
    im.putpalette([10, 20, 30, 200, 100, 50, 0, 255, 0] + [0] * (3 * 253))
    path = tmp_path / "palette.png"
    im.save(path)
    with Image.open(path) as im:
        assert im.mode == "P"
    img = load_image(path)
    np.testing.assert_allclose(img[0, 0], np.array([10, 20, 30]) / 255.0, atol=1e-7)
    np.testing.assert_allclose(img[0, 11], np.array([200, 100, 50]) / 255.0, atol=1e-7)
    np.testing.assert_allclose(img[11, 0], np.array([0, 255, 0]) / 255.0, atol=1e-7)


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    idx = np.zeros((10, 10), np.uint8)
    idx[:, 5:] = 1
    im = Image.fromarray(idx, "L").convert("P")
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * (3 * 254))
    path = tmp_path / "ptrans.png"
    im.save(path, transparency=0)
    img = load_image(path)
    np.testing.assert_array_equal(img[3, 2], [1.0, 1.0, 1.0])  # transparent black → white
    np.testing.assert_array_equal(img[3, 7], [0.0, 0.0, 1.0])


def test_16_bit_png(tmp_path):
    a = np.zeros((10, 10), np.uint16)
    a[:, :5] = 65535
    a[:, 5:] = 32768
    path = tmp_path / "deep.png"
    Image.fromarray(a).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I")
    img = load_image(path)
    assert img.shape == (10, 10, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img[0, 0], [1.0, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(img[0, 9], [32768 / 65535] * 3, atol=1e-6)


def test_16_bit_png_dark_values_are_not_mistaken_for_8_bit(tmp_path):
    a = np.full((10, 10), 200, np.uint16)  # a very dark 16-bit image: 200/65535, not 200/255
    path = tmp_path / "dark16.png"
    Image.fromarray(a).save(path)
    img = load_image(path)
    assert img.max() < 0.01


def test_cmyk_tiff(tmp_path):
    cmyk = np.zeros((10, 10, 4), np.uint8)
    cmyk[:, :5] = (0, 255, 255, 0)  # red
    cmyk[:, 5:] = (0, 0, 0, 255)  # black
    cmyk[0, 0] = (0, 0, 0, 0)  # white
    path = tmp_path / "cmyk.tif"
    Image.fromarray(cmyk, "CMYK").save(path)
    img = load_image(path)
    assert img.shape == (10, 10, 3) and img.dtype == np.float32
    np.testing.assert_array_equal(img[5, 2], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(img[5, 7], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(img[0, 0], [1.0, 1.0, 1.0])


# ----- errors -------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match=r"nothere\.png: file not found"):
        load_image(tmp_path / "nothere.png")


def test_folder_is_refused(tmp_path):
    (tmp_path / "pics.png").mkdir()
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path / "pics.png")


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n" * 20)
    with pytest.raises(ImageError, match=r"notes\.jpg: not an image file"):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "full.jpg"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, quality=90)
    data = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: .*(damaged|truncated)"):
        load_image(cut)


def test_corrupt_jpeg_body(tmp_path):
    path = tmp_path / "full.jpg"
    Image.fromarray(_gradient_rgb(64, 64)).save(path, quality=90)
    data = bytearray(path.read_bytes())
    # Keep the headers (first 300 bytes) and replace everything after with an early end-of-image marker.
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(bytes(data[:300]) + b"\xff\xd9")
    with pytest.raises(ImageError, match=r"bad\.jpg"):
        load_image(bad)


def test_pixel_limit(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(_gradient_rgb(20, 20)).save(path)
    with pytest.raises(ImageError, match="too large"):
        load_image(path, max_pixels=399)
    assert load_image(path, max_pixels=400).shape == (20, 20, 3)


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path, monkeypatch):
    # 10 000 × 6 000 = 60 MP: above RSDesk's 50 MP limit, below Pillow's own bomb warning.
    path = _png_header_only(tmp_path / "bomb.png", 10_000, 6_000)

    def no_decoding(self):
        raise AssertionError("the image must not be decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(Image.core, "map_buffer", no_decoding, raising=False)
    with pytest.raises(ImageError, match=r"bomb\.png: image is too large \(10000×6000"):
        load_image(path)


def test_huge_decompression_bomb_header(tmp_path):
    # 100 000 × 100 000 = 10 gigapixels: Pillow itself refuses to open it; RSDesk still says "too large".
    path = _png_header_only(tmp_path / "huge.png", 100_000, 100_000)
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_too_small(tmp_path):
    path = tmp_path / "dot.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(path)
    with pytest.raises(ImageError, match=r"too small \(1×1\)"):
        load_image(path)
    assert load_image(path, min_side=1).shape == (1, 1, 3)


def test_npy_errors(tmp_path):
    wrong_shape = tmp_path / "flat.npy"
    np.save(wrong_shape, np.zeros((16, 16), np.float32))
    with pytest.raises(ImageError, match="H×W×3"):
        load_image(wrong_shape)
    out_of_range = tmp_path / "bright.npy"
    np.save(out_of_range, np.full((16, 16, 3), 2.0, np.float32))
    with pytest.raises(ImageError, match=r"within \[0, 1\]"):
        load_image(out_of_range)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((16, 16, 3), np.nan, np.float32))
    with pytest.raises(ImageError, match="finite"):
        load_image(nan)
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageError, match="not a readable NumPy image"):
        load_image(pickled)


# ----- saving -------------------------------------------------------------------------------------


def test_png_round_trip_equals_uint8_rounding(tmp_path):
    rng = np.random.default_rng(3)
    img = rng.random((20, 30, 3), dtype=np.float32)
    out = save_png(tmp_path / "a.png", img)
    assert out == tmp_path / "a.png"
    back = load_image(out)
    np.testing.assert_array_equal(back, to_uint8(img).astype(np.float32) / 255.0)
    np.testing.assert_array_equal(back, quantize(img))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no temp files left


def test_npy_round_trip_is_bit_identical(tmp_path):
    rng = np.random.default_rng(4)
    img = rng.random((20, 30, 3), dtype=np.float32)
    back = load_image(save_npy(tmp_path / "a.npy", img))
    assert back.dtype == np.float32
    assert np.array_equal(back, img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_save_image_dispatches_on_suffix(tmp_path):
    img = np.full((10, 10, 3), 0.3, np.float32)
    assert np.array_equal(load_image(save_image(tmp_path / "x.npy", img)), img)
    assert not np.array_equal(load_image(save_image(tmp_path / "x.png", img)), img)  # 0.3 is not 8-bit
    with Image.open(tmp_path / "x.png") as im:
        assert im.format == "PNG"


def test_failed_npy_write_leaves_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.npy"
    old = np.full((10, 10, 3), 0.25, np.float32)
    save_npy(path, old)
    before = path.read_bytes()

    def broken_save(fh, *args, **kwargs):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(images_mod.np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_npy(path, np.zeros((10, 10, 3), np.float32))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npy"]
    assert np.array_equal(load_image(path), old)


def test_failed_png_write_leaves_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    save_png(path, np.full((10, 10, 3), 0.5, np.float32))
    before = path.read_bytes()

    def broken_save(self, fh, *args, **kwargs):
        fh.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_png(path, np.zeros((10, 10, 3), np.float32))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_save_creates_parent_folders(tmp_path):
    out = save_png(tmp_path / "a" / "b" / "c.png", np.zeros((8, 8, 3), np.float32))
    assert out.is_file()


@pytest.mark.slow
def test_adversarial_npy_round_trip_classifies_the_same(tmp_path, classifier, sample_image):
    from rsdesk.core.attacks import create_attack

    outcome = create_attack("fgsm", eps=4).run(classifier, classifier.to_tensor(sample_image))[0]
    adv = outcome.adversarial
    back = load_image(save_npy(tmp_path / "adv.npy", adv))
    assert np.array_equal(back, adv)
    p_adv, p_back = classifier.classify_many([adv, back])
    assert p_adv.index == p_back.index == outcome.predicted
    np.testing.assert_array_equal(p_adv.probs, p_back.probs)
    png = load_image(save_png(tmp_path / "adv.png", adv))
    np.testing.assert_array_equal(png, from_uint8(to_uint8(adv)))


# ----- conversions, resizing, listing -------------------------------------------------------------


def test_uint8_conversions_round_and_clip():
    img = np.array([[[-0.5, 0.0, 0.5 / 255]], [[1.4 / 255, 1.0, 7.0]]], np.float32)
    np.testing.assert_array_equal(to_uint8(img), [[[0, 0, 0]], [[1, 255, 255]]])  # 0.5 rounds to even
    assert to_uint8(img).dtype == np.uint8
    np.testing.assert_array_equal(from_uint8(np.array([0, 51, 255], np.uint8)), np.float32([0.0, 0.2, 1.0]))


def test_resize_center_crop_keeps_an_image_at_size():
    rng = np.random.default_rng(5)
    img = rng.random((224, 224, 3), dtype=np.float32)
    out = resize_center_crop(img, 224)
    assert out.shape == (224, 224, 3)
    assert np.array_equal(out, img)


@pytest.mark.parametrize("shape", [(300, 450, 3), (450, 300, 3), (100, 150, 3), (224, 500, 3), (37, 53, 3)])
def test_resize_center_crop_shapes(shape):
    rng = np.random.default_rng(6)
    out = resize_center_crop(rng.random(shape, dtype=np.float32), 224)
    assert out.shape == (224, 224, 3)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_resize_center_crop_cuts_the_centre():
    # A wide image: red left quarter, green middle half, blue right quarter. The centre crop sees only green.
    img = np.zeros((100, 400, 3), np.float32)
    img[:, :100, 0] = 1.0
    img[:, 100:300, 1] = 1.0
    img[:, 300:, 2] = 1.0
    out = resize_center_crop(img, 50)
    assert out.shape == (50, 50, 3)
    np.testing.assert_allclose(out[..., 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[..., [0, 2]], 0.0, atol=1e-6)


def test_resize_center_crop_constant_image_stays_constant():
    img = np.full((300, 200, 3), 0.4, np.float32)
    out = resize_center_crop(img, 224)
    np.testing.assert_allclose(out, 0.4, atol=1e-6)
