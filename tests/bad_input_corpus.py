"""The bad-input corpus: hostile files beside a few good images, made at test time (nothing large is kept in
the repository), for the command line's and the window's hardening tests.

``make_corpus(root)`` writes ``root/corpus/`` and returns it::

    images/        two bundled samples, images in unusual but valid modes, and every hostile image case
    dictionaries/  hostile RegionSparse dictionaries (.npz)
    weights/       hostile classifier weights files
    labels/<case>/ one folder per labels.csv variant, each beside a good image (coffee.jpg)

:data:`CASES` describes every case: its path under the corpus, its kind (``image``, ``dictionary``,
``weights``, ``labels``) and what a user must get (``ok``: processed like any good input; ``error``: one
clear message naming it, the rest still processed; ``skip``: not an image, passed over with at most one
message). :func:`made_cases` lists those a given corpus holds (the unreadable file is not made when
running as root, who can read it anyway; FIFOs and symlinks need a POSIX system).

Weights and dictionary cases built from a pickle would write :func:`marker_path` if their code ever ran:
that file must never appear. The whole corpus takes about a second to make and about 5 MB on disk; its
decompression bombs claim gigabytes (a 30000×30000 PNG, a dictionary member inflating to 1.5 GB).

``python scripts/make_bad_inputs.py OUT_DIR`` makes one by hand.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
#: The good images of the corpus (copied from the bundled samples): their outputs must always appear.
GOOD_IMAGES = ("coffee.jpg", "camera.jpg")
#: The file a pickled payload in the corpus would create if it were ever unpickled.
MARKER_NAME = "PICKLE-CODE-RAN"


@dataclass(frozen=True)
class Case:
    """One corpus entry: where it is, what it is, what a user must get, and why it is hostile."""

    path: str  # relative to the corpus folder
    kind: str  # image, dictionary, weights, labels
    expect: str  # ok, error, skip
    note: str


CASES: tuple[Case, ...] = (
    # ----- images: good ones, and valid images in unusual modes -----
    Case("images/coffee.jpg", "image", "ok", "bundled sample"),
    Case("images/camera.jpg", "image", "ok", "bundled sample"),
    Case("images/deep16.png", "image", "ok", "16-bit grayscale PNG"),
    Case("images/palette.png", "image", "ok", "palette (P mode) PNG"),
    Case("images/cmyk.jpg", "image", "ok", "CMYK JPEG"),
    Case("images/rgba.png", "image", "ok", "RGBA PNG with transparency"),
    Case("images/gray.png", "image", "ok", "8-bit grayscale PNG"),
    Case("images/wide.png", "image", "ok", "50000×10 PNG: memory must stay bounded by the output size"),
    # ----- images: broken or hostile -----
    Case("images/empty.jpg", "image", "error", "0-byte file"),
    Case("images/truncated.jpg", "image", "error", "JPEG cut after a third of its bytes"),
    Case("images/truncated.png", "image", "error", "PNG cut in the middle of its data"),
    Case("images/random.png", "image", "error", "random bytes named .png"),
    Case("images/text.jpg", "image", "error", "a text file named .jpg"),
    Case("images/bomb.png", "image", "error", "30000×30000 1-bit PNG (decompression bomb, ~110 KB on disk)"),
    Case("images/tiny.png", "image", "error", "1×1 image"),
    Case("images/pickle.npy", "image", "error", "object array .npy (a pickle)"),
    Case("images/huge_header.npy", "image", "error", ".npy whose header claims 100000×100000×3 floats"),
    Case("images/pipe.jpg", "image", "error", "a FIFO: opening it would block forever"),
    Case("images/loop.jpg", "image", "error", "a symlink to itself"),
    Case("images/dangling.jpg", "image", "error", "a symlink to a missing file"),
    Case("images/unreadable.jpg", "image", "error", "a good JPEG with mode 000 (not made as root)"),
    Case("images/dir.jpg", "image", "skip", "a folder named like an image"),
    Case("images/loopdir", "image", "skip", "a symlink to its own folder (a walk must not loop)"),
    # ----- dictionaries -----
    Case("dictionaries/huge_header.npz", "dictionary", "error", "atoms header claims (10⁹, 192)"),
    Case("dictionaries/many_atoms.npz", "dictionary", "error", "100 000 atoms (a 40 GB Gram matrix)"),
    Case(
        "dictionaries/zip_bomb.npz",
        "dictionary",
        "ok",
        "valid, plus an unused member inflating to 1.5 GB: usable, and the extra member is never read",
    ),
    Case("dictionaries/h_negative.npz", "dictionary", "error", "h = −5"),
    Case("dictionaries/h_nan.npz", "dictionary", "error", "h = NaN"),
    Case("dictionaries/nan_atoms.npz", "dictionary", "error", "atoms holding NaN"),
    Case("dictionaries/pickled.npz", "dictionary", "error", "atoms stored as a pickled object array"),
    # ----- classifier weights -----
    Case("weights/empty.pt", "weights", "error", "0-byte file"),
    Case("weights/random.pt", "weights", "error", "random bytes"),
    Case("weights/evil.pt", "weights", "error", "a pickle whose __reduce__ creates the marker file"),
    Case("weights/nan.pt", "weights", "error", "EfficientNet-Lite0 state dict, every tensor NaN"),
    # ----- labels.csv beside a good image -----
    Case("labels/binary", "labels", "ok", "labels.csv of binary garbage: ignored, the image still loads"),
    Case("labels/bom", "labels", "ok", "labels.csv with a UTF-8 byte-order mark (the label must be read)"),
    Case("labels/wrong_columns", "labels", "ok", "labels.csv with unknown columns"),
    Case("labels/unknown_class", "labels", "ok", "labels.csv naming a class that does not exist"),
    Case("labels/duplicates", "labels", "ok", "labels.csv listing the same file twice"),
)


def marker_path(corpus: Path) -> Path:
    """Where a pickled payload of this corpus would write if it ran (beside the corpus folder)."""
    return Path(corpus).parent / MARKER_NAME


def made_cases(corpus: Path) -> list[Case]:
    """The cases this corpus holds (some cannot be made on every system or by every user)."""
    return [c for c in CASES if os.path.lexists(Path(corpus) / c.path)]


class _WritesMarker:
    """Unpickling this creates the marker file: proof that a loader ran code from a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


# ----- images -------------------------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(side: int = 30000) -> bytes:
    """A ``side``×``side`` 1-bit PNG of zeros: each row compresses to the same bytes after a full flush, so
    it is made without ever holding or deflating the 112 MB it claims."""
    row = bytes(1 + (side + 7) // 8)  # filter byte + packed bits
    rows_per_block = 1000
    comp = zlib.compressobj(9)
    head = comp.compress(row * rows_per_block) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(row * rows_per_block) + comp.flush(zlib.Z_FULL_FLUSH)
    # zlib's adler32 of n zero bytes is 1 + (n << 16) mod 65521 (both running sums stay 0 + 1, n × 1)
    n = len(row) * side
    adler = (((n % 65521) << 16) | 1) & 0xFFFFFFFF
    idat = head + block * (side // rows_per_block - 1) + b"\x03\x00" + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _make_images(folder: Path, corpus: Path) -> None:
    folder.mkdir()
    for name in GOOD_IMAGES:
        shutil.copyfile(RESOURCES / "samples" / name, folder / name)
    photo = Image.open(RESOURCES / "samples" / "chelsea.jpg").convert("RGB").resize((96, 64))
    gray = np.asarray(photo.convert("L"), dtype=np.uint16)
    Image.fromarray(gray * 257).save(folder / "deep16.png")  # PIL stores uint16 arrays as I;16
    photo.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    rgba.save(folder / "rgba.png")
    photo.convert("L").save(folder / "gray.png")
    strip = np.tile(np.asarray(photo)[:10], (1, 50000 // 96 + 1, 1))[:, :50000]
    Image.fromarray(np.ascontiguousarray(strip)).save(folder / "wide.png")

    (folder / "empty.jpg").write_bytes(b"")
    jpeg = (RESOURCES / "samples" / "coffee.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    png = io.BytesIO()
    photo.save(png, format="PNG")
    (folder / "truncated.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    (folder / "random.png").write_bytes(np.random.default_rng(0).bytes(4096))
    (folder / "text.jpg").write_text("this is not a picture\n" * 20, encoding="utf-8")
    (folder / "bomb.png").write_bytes(_bomb_png())
    Image.new("RGB", (1, 1), (200, 10, 10)).save(folder / "tiny.png")
    np.save(folder / "pickle.npy", np.array([_WritesMarker(marker_path(corpus))], dtype=object))
    (folder / "huge_header.npy").write_bytes(_npy_header((100_000, 100_000, 3)) + bytes(64))

    (folder / "dir.jpg").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.jpg")
    os.symlink("loop.jpg", folder / "loop.jpg")
    os.symlink("missing-target.jpg", folder / "dangling.jpg")
    os.symlink(".", folder / "loopdir", target_is_directory=True)
    if os.geteuid() != 0:  # root reads a mode-000 file anyway: the case would not be hostile
        shutil.copyfile(RESOURCES / "samples" / "coffee.jpg", folder / "unreadable.jpg")
        os.chmod(folder / "unreadable.jpg", 0)


# ----- dictionaries -------------------------------------------------------------------------------------
def _dictionary_members(atoms: np.ndarray | bytes, h: float = 10.0) -> dict[str, bytes]:
    """The .npy members of a dictionary file as save_dictionary writes them (``atoms`` may be raw bytes)."""

    def npy(value: object) -> bytes:
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=True)
        return buf.getvalue()

    return {
        "atoms.npy": atoms if isinstance(atoms, bytes) else npy(atoms),
        "patch_size.npy": npy(np.int64(8)),
        "h.npy": npy(np.float64(h)),
        "n_images.npy": npy(np.int64(3)),
        "seed.npy": npy(np.int64(0)),
        "normalized.npy": npy(np.bool_(True)),
        "format_version.npy": npy(np.int64(1)),
        "provenance.npy": npy(np.str_("bad-input corpus")),
    }


def _write_zip(path: Path, members: dict[str, bytes], bomb: tuple[str, bytes, int] | None = None) -> None:
    """A zip of deflated members, by hand; ``bomb`` = (name, head, n_mib): a member of ``head`` followed by
    n MiB of zeros, deflated by repeating one flushed block (cheap to make, 1.5 GB to inflate)."""
    entries = []  # (name, crc, compressed size, size, offset)
    with open(path, "wb") as fh:

        def put(name: str, crc: int, comp: bytes, size: int) -> None:
            offset = fh.tell()
            raw_name = name.encode()
            fh.write(
                struct.pack(
                    "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(comp), size, len(raw_name), 0
                )
            )
            fh.write(raw_name + comp)
            entries.append((raw_name, crc, len(comp), size, offset))

        for name, data in members.items():
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            put(name, zlib.crc32(data), c.compress(data) + c.flush(), len(data))
        if bomb is not None:
            name, head, n_mib = bomb
            zeros = bytes(1 << 20)
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
            block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
            crc = zlib.crc32(head)
            for _ in range(n_mib):
                crc = zlib.crc32(zeros, crc)
            comp = first + block * n_mib + b"\x03\x00"  # an empty final block ends the stream
            put(name, crc, comp, len(head) + n_mib * len(zeros))
        start = fh.tell()
        for raw_name, crc, csize, size, offset in entries:
            fh.write(
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    20,
                    20,
                    0,
                    8,
                    0,
                    0x21,
                    crc,
                    csize,
                    size,
                    len(raw_name),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
                + raw_name
            )
        end = fh.tell()
        fh.write(
            struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), end - start, start, 0)
        )


def _make_dictionaries(folder: Path, corpus: Path) -> None:
    folder.mkdir()
    rng = np.random.default_rng(1)
    good = rng.standard_normal((64, 192)).astype(np.float32)
    good /= np.linalg.norm(good, axis=1, keepdims=True)
    _write_zip(folder / "huge_header.npz", _dictionary_members(_npy_header((10**9, 192)) + bytes(4096)))
    many = np.zeros((100_000, 192), np.float32)
    many[np.arange(100_000), np.arange(100_000) % 192] = 1.0  # unit atoms: compresses to almost nothing
    _write_zip(folder / "many_atoms.npz", _dictionary_members(many))
    n_mib = 1430  # 1.5 GB
    bomb_head = _npy_header((n_mib << 20,), "|u1")
    _write_zip(folder / "zip_bomb.npz", _dictionary_members(good), ("extra.npy", bomb_head, n_mib))
    _write_zip(folder / "h_negative.npz", _dictionary_members(good, h=-5.0))
    _write_zip(folder / "h_nan.npz", _dictionary_members(good, h=float("nan")))
    nan_atoms = good.copy()
    nan_atoms[3, 7] = np.nan
    _write_zip(folder / "nan_atoms.npz", _dictionary_members(nan_atoms))
    evil = np.array([_WritesMarker(marker_path(corpus))], dtype=object)
    _write_zip(folder / "pickled.npz", _dictionary_members(evil))


# ----- weights ------------------------------------------------------------------------------------------
def _nan_state_dict() -> dict[str, object]:
    """EfficientNet-Lite0's state dict with every float tensor NaN, all views of one half-precision storage
    (torch saves a shared storage once: about 2.5 MB instead of 19)."""
    import torch

    from rsdesk.core.models import efficientnet_lite

    own = efficientnet_lite.network("efficientnet-lite0").state_dict()
    largest = max(t.numel() for t in own.values())
    storage = torch.full((largest,), float("nan"), dtype=torch.float16)
    return {
        k: storage[: t.numel()].view(t.shape) if t.is_floating_point() else torch.zeros_like(t)
        for k, t in own.items()
    }


def _make_weights(folder: Path, corpus: Path) -> None:
    import torch

    folder.mkdir()
    (folder / "empty.pt").write_bytes(b"")
    (folder / "random.pt").write_bytes(np.random.default_rng(2).bytes(8192))
    torch.save(
        {"conv.weight": torch.zeros(2), "payload": _WritesMarker(marker_path(corpus))}, folder / "evil.pt"
    )
    torch.save(_nan_state_dict(), folder / "nan.pt")


# ----- labels -------------------------------------------------------------------------------------------
_LABELS: dict[str, bytes] = {
    "binary": np.random.default_rng(3).bytes(512),
    "bom": "\ufefffile,class_index\ncoffee.jpg,967\n".encode(),
    "wrong_columns": b"name;label\ncoffee.jpg;967\n",
    "unknown_class": b"file,class_index,synset\ncoffee.jpg,5000,\ncoffee.jpg,,n99999999\n",
    "duplicates": b"file,class_index\ncoffee.jpg,967\ncoffee.jpg,504\n",
}


def _make_labels(folder: Path) -> None:
    folder.mkdir()
    for case, data in _LABELS.items():
        sub = folder / case
        sub.mkdir()
        shutil.copyfile(RESOURCES / "samples" / "coffee.jpg", sub / "coffee.jpg")
        (sub / "labels.csv").write_bytes(data)


def make_corpus(root: Path) -> Path:
    """Write the corpus into ``root/corpus`` (which must not exist yet) and return that folder."""
    corpus = Path(root) / "corpus"
    corpus.mkdir(parents=True)
    _make_images(corpus / "images", corpus)
    _make_dictionaries(corpus / "dictionaries", corpus)
    _make_weights(corpus / "weights", corpus)
    _make_labels(corpus / "labels")
    return corpus
