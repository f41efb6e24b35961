"""Every input-purification defense behind one interface, listed in :data:`DEFENSES` with its parameters.

RegionSparse (spec §1–6) and the paper's baselines (spec §9): JPEG, feature squeezing, TVM, bilateral
only, NLM only, ComDefend (a learned compression model, trained here) — plus "none" so the evaluation
table has its no-defense row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from rsdesk.core.defenses.base import Defense, DefenseResult, LearnedFile, NoDefense
from rsdesk.core.defenses.baselines import JPEG, NLM, Bilateral, FeatureSqueezing
from rsdesk.core.defenses.comdefend import ComDefend
from rsdesk.core.defenses.regionsparse import RANDOM_DICTIONARY, RegionSparseDefense
from rsdesk.core.defenses.tvm import TVM
from rsdesk.core.models.classifier import resolve_device
from rsdesk.core.params import lookup

__all__ = [
    "DEFENSES",
    "JPEG",
    "NLM",
    "RANDOM_DICTIONARY",
    "TVM",
    "Bilateral",
    "ComDefend",
    "Defense",
    "DefenseResult",
    "FeatureSqueezing",
    "LearnedFile",
    "NoDefense",
    "RegionSparseDefense",
    "create_defense",
    "defense_class",
    "learned_file_value",
]


#: Every defense, in menu order.
DEFENSES: dict[str, type[Defense]] = {
    cls.name: cls
    for cls in (NoDefense, RegionSparseDefense, JPEG, FeatureSqueezing, TVM, Bilateral, NLM, ComDefend)
}
_ALIASES = {"rs": "regionsparse", "featuresqueezing": "squeeze", "tv": "tvm", "nonlocalmeans": "nlm"}


def defense_class(name: str) -> type[Defense]:
    """The defense a name means (case, ``-`` and ``_`` ignored; ``rs``, ``tv`` …); unknown → ValueError."""
    return lookup(DEFENSES, _ALIASES, name, "defense")


def create_defense(
    name: str,
    params: Mapping[str, object] | None = None,
    *,
    file: object = None,
    device: torch.device | str = "cpu",
    **more: object,
) -> Defense:
    """The one way to build a defense: name + parameters (+ its learned file and device where it has one).

    ``file``: the value of the defense's :attr:`~Defense.learned_file` — for RegionSparse a loaded
    :class:`~rsdesk.core.sparse.dictionary_file.Dictionary`, a file, one of its names
    (:data:`RANDOM_DICTIONARY`, ``"noIS"`` …) or None for the bundled one; ignored by defenses without one.
    ``device``: where a learned defense computes; ``"auto"`` means the CPU (the classifier's own device
    choice is separate), and CUDA without CUDA is a clear error. Parameter values may be text (``"0.5"``,
    ``"off"``): each is checked against the defense's specs.
    """
    cls = defense_class(name)
    values = {**(params or {}), **more}
    learned = cls.learned_file
    if learned is None:
        return cls(**values)
    dev = "cpu" if str(device) == "auto" else resolve_device(device)
    return cls(**{learned.option: learned.resolve(file)}, device=dev, **values)  # type: ignore[arg-type]


def learned_file_value(
    name: str, given: Mapping[str, object], spell: Callable[[str], str] = lambda option: ""
) -> object:
    """Defense ``name``'s learned-file value among ``given`` (its option → value; None when not given). A
    value given for a learned file the defense does not take (a dictionary for JPEG) is a ValueError that
    names it, prefixed with ``spell(option)`` (the command line writes ``--defense-weights: ``)."""
    cls = defense_class(name)
    own = cls.learned_file.option if cls.learned_file is not None else None
    for other in (c.learned_file for c in DEFENSES.values() if c.learned_file is not None):
        if other.option != own and given.get(other.option) is not None:
            raise ValueError(f"{spell(other.option)}{cls.title} takes no {other.title}")
    return given.get(own) if own is not None else None
