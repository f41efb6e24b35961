"""Reading a weights file a user names: a state dict of tensors and nothing else.

``torch.load(weights_only=True)`` refuses pickled Python objects, but its messages are written for
developers (one ends by suggesting ``weights_only=False``, the unsafe thing) and some failures carry no
message at all. Here every way a file can be wrong becomes one sentence for a person, and what torch would
read is bounded first: the file must be a regular file (a named pipe would block), its archive may not
inflate far beyond its size, and the tensors it holds must be finite.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from rsdesk.core.errors import ClassifierError
from rsdesk.core.io.files import require_regular_file

#: How far the members of a weights archive may inflate beyond the file itself. ``torch.save`` stores
#: members uncompressed (ratio 1); a ratio far above it is a decompression bomb, not a weights file.
MAX_INFLATION = 2.0
_SLACK_BYTES = 1 << 20

_REFUSED = (
    "refused: the file holds Python objects other than tensors{what}, which could run code when loaded; "
    "RSDesk only loads plain weight files (a state dict of tensors)"
)
_DAMAGED = "not a plain PyTorch state dict: the file is damaged, truncated or in another format"


def _check_archive(path: Path, size: int) -> None:
    """Refuse a zip whose members claim far more bytes than the file holds (read before torch does)."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            claimed = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError):
        return  # torch gives its own (translated) error for a damaged archive
    if claimed > MAX_INFLATION * size + _SLACK_BYTES:
        raise ClassifierError(
            f"{path.name}: refused: its archive inflates to {claimed / 1e6:.0f} MB from "
            f"{size / 1e6:.1f} MB, which no weights file does"
        )


def _load_error(path: Path, exc: BaseException) -> ClassifierError:
    """Translate what ``torch.load`` raised into one sentence."""
    text = str(exc)
    if isinstance(exc, MemoryError):
        return ClassifierError(f"{path.name}: {_DAMAGED} (it claims more memory than there is)")
    refused = re.search(r"\bGLOBAL ([\w.]+)", text)  # weights_only's refusal names what was asked for
    if refused:
        return ClassifierError(f"{path.name}: " + _REFUSED.format(what=f" ({refused.group(1)})"))
    return ClassifierError(f"{path.name}: {_DAMAGED}")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a file without unpickling arbitrary objects; :class:`ClassifierError` if not.

    Accepts the usual wrappers (``state_dict``, ``model``, ``model_state_dict``) and strips the
    ``module.`` prefix ``DataParallel`` adds.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ClassifierError(f"weights file not found: {path}")
    require_regular_file(path, "weights file")
    size = path.stat().st_size
    if size == 0:
        raise ClassifierError(f"{path.name}: the weights file is empty")
    _check_archive(path, size)
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not for a user
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign, damaged or unsafe files
        raise _load_error(path, exc) from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ClassifierError(f"{path.name}: the file holds no state dict of tensors")
    for key, value in obj.items():
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            raise ClassifierError(
                f"{path.name}: the weights hold NaN or infinite values (first in {key}); the file is damaged"
            )
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def misfit(
    own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], optional: tuple[str, ...] = ()
) -> str:
    """What keeps ``state`` from loading into a network whose state dict is ``own``, in words ("" when it
    fits); keys ending in one of ``optional`` may be missing (batch norm's step counter)."""
    missing = [k for k in own if k not in state and not k.endswith(optional)]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if wrong:
        k = wrong[0]
        parts.append(
            f"{len(wrong)} with the wrong shape (e.g. {k}: {tuple(state[k].shape)} "
            f"instead of {tuple(own[k].shape)})"
        )
    return "; ".join(parts)


def load_into(net: nn.Module, path: Path, title: str) -> nn.Module:
    """Load ``path`` into ``net`` only if every parameter fits; else one sentence naming what does not."""
    state = read_state_dict(path)
    problem = misfit(net.state_dict(), state)
    if problem:
        raise ClassifierError(f"{path.name} does not fit {title}: parameters {problem}")
    net.load_state_dict(state)
    return net


def model_card_path(weights: str | Path) -> Path:
    """Where the metadata of a weights file lives: ``MODEL.pth`` → ``MODEL.json`` (``rsdesk finetune``
    writes it beside the state dict)."""
    return Path(weights).expanduser().with_suffix(".json")


def model_card(weights: str | Path | None) -> dict[str, object] | None:
    """The metadata beside a weights file (which classifier it is, what it was trained on), or None when
    there is none or it is not a JSON object: a plain downloaded state dict has no card, which is fine."""
    if not weights:
        return None
    path = model_card_path(weights)
    try:
        if not path.is_file() or path.stat().st_size > 64 << 20:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def card_classifier(weights: str | Path | None) -> str | None:
    """The classifier a weights file's card names (``"classifier": "efficientnet-lite0"`` or
    ``{"classifier": {"name": …}}``), so ``--model ROW=FILE`` needs no ``--classifier`` beside it."""
    card = model_card(weights)
    if card is None:
        return None
    value = card.get("classifier")
    if isinstance(value, dict):
        value = value.get("name")
    return value if isinstance(value, str) and value else None
