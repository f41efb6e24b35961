"""Every input-purification defense behind one interface, listed in :data:`DEFENSES` with its parameters.

RegionSparse (spec §1–6) and the paper's baselines (spec §9): JPEG, feature squeezing, TVM, bilateral
only, NLM only — plus "none" so the evaluation table has its no-defense row.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from rsdesk.core.defenses.base import Defense, DefenseResult, NoDefense
from rsdesk.core.defenses.baselines import JPEG, NLM, Bilateral, FeatureSqueezing
from rsdesk.core.defenses.regionsparse import RegionSparseDefense
from rsdesk.core.defenses.tvm import TVM
from rsdesk.core.models.classifier import resolve_device
from rsdesk.core.params import lookup
from rsdesk.core.sparse.dictionary_file import Dictionary, random_dictionary

__all__ = [
    "DEFENSES",
    "JPEG",
    "NLM",
    "TVM",
    "Bilateral",
    "Defense",
    "DefenseResult",
    "FeatureSqueezing",
    "NoDefense",
    "RegionSparseDefense",
    "create_defense",
    "defense_class",
]


#: Every defense, in menu order.
DEFENSES: dict[str, type[Defense]] = {
    cls.name: cls for cls in (NoDefense, RegionSparseDefense, JPEG, FeatureSqueezing, TVM, Bilateral, NLM)
}
_ALIASES = {"rs": "regionsparse", "featuresqueezing": "squeeze", "tv": "tvm", "nonlocalmeans": "nlm"}
#: ``dictionary=RANDOM``: Gaussian unit-norm atoms instead of a trained dictionary (the paper's noTR).
RANDOM_DICTIONARY = "random"

DictionarySource = Dictionary | str | os.PathLike[str] | None


def defense_class(name: str) -> type[Defense]:
    """The defense a name means (case, ``-`` and ``_`` ignored; ``rs``, ``tv`` …); unknown → ValueError."""
    return lookup(DEFENSES, _ALIASES, name, "defense")


def create_defense(
    name: str,
    params: Mapping[str, object] | None = None,
    *,
    dictionary: DictionarySource = None,
    device: torch.device | str = "cpu",
    **more: object,
) -> Defense:
    """The one way to build a defense: name + parameters (+ dictionary and device where it needs them).

    ``dictionary``: a loaded :class:`Dictionary`, a file, :data:`RANDOM_DICTIONARY`, or None for the
    bundled one; ignored by defenses without one. ``device``: where sparse coding runs; ``"auto"`` means
    the CPU (the classifier's own device choice is separate), and CUDA without CUDA is a clear error.
    Parameter values may be text (``"0.5"``, ``"off"``): each is checked against the defense's specs.
    """
    cls = defense_class(name)
    values = {**(params or {}), **more}
    if not cls.needs_dictionary:
        return cls(**values)
    dev = "cpu" if str(device) == "auto" else resolve_device(device)
    if isinstance(dictionary, str) and dictionary == RANDOM_DICTIONARY:
        dictionary = random_dictionary()
    return cls(dictionary=dictionary, device=dev, **values)  # type: ignore[call-arg]
