"""Resumable training: an epoch's state saved atomically, read back without unpickling code.

A checkpoint is one ``torch.save`` of plain containers (tensors, numbers, strings, lists, dicts) written
through :func:`~rsdesk.core.io.files.atomic_write`, so a kill -9 or power cut leaves either the previous
checkpoint or the new one, never a torn file, and ``torch.load(weights_only=True)`` reads it. It records a
``fingerprint`` of everything the run depends on (settings, image list, starting weights): a checkpoint
from a different run is never resumed, it is started afresh (and the caller says so).
"""

from __future__ import annotations

import hashlib
import json
import platform
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdesk.core.io.files import atomic_write

#: the checkpoint's suffix beside the output file (``MODEL.pth`` → ``MODEL.pth.ckpt``)
SUFFIX = ".ckpt"


def fingerprint(settings: Any) -> str:
    """A short SHA-256 of JSON-serializable ``settings`` (sorted keys): equal settings, equal fingerprint."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file (weights, dictionaries) for metadata and fingerprints."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rng_state() -> dict[str, torch.Tensor]:
    """torch's CPU generator state (and CUDA's where present), to restore with :func:`set_rng_state`."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@dataclass
class Checkpoint:
    """The checkpoint file of one training run (``path`` is usually the output file plus :data:`SUFFIX`)."""

    path: Path
    fingerprint: str

    @classmethod
    def beside(cls, out: str | Path, fingerprint: str) -> Checkpoint:
        out = Path(out)
        return cls(out.with_name(out.name + SUFFIX), fingerprint)

    def load(self) -> dict[str, Any] | None:
        """The saved state if it belongs to this run (same fingerprint) and is readable; else None.

        A damaged or foreign checkpoint is not an error: the run starts from the beginning, which loses
        time but never a correct result (the caller may say so: :attr:`stale` tells whether one was there).
        """
        self.stale = False
        if not self.path.is_file():
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:  # torn, damaged or not ours: start over
            self.stale = True
            return None
        if not isinstance(state, dict) or state.get("fingerprint") != self.fingerprint:
            self.stale = True
            return None
        return state

    def save(self, state: dict[str, Any]) -> Path:
        """Write ``state`` (plain containers of tensors and numbers) atomically, with the fingerprint."""
        payload = {**state, "fingerprint": self.fingerprint}
        return atomic_write(self.path, lambda fh: torch.save(payload, fh))

    def remove(self) -> None:
        """Delete the checkpoint once the run's output is saved (a finished run needs none)."""
        self.path.unlink(missing_ok=True)


def save_state_dict(path: str | Path, state: dict[str, torch.Tensor]) -> Path:
    """Save a plain state dict atomically (loadable with ``weights_only=True``; tensors made contiguous
    and moved to the CPU so the file loads anywhere)."""
    plain = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    return atomic_write(path, lambda fh: torch.save(plain, fh))


def save_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write metadata as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def library_versions() -> dict[str, str]:
    """What a training record says it was made with (rsdesk, torch, numpy, Python)."""
    from rsdesk import __version__

    return {
        "rsdesk": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
