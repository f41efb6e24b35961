"""RegionSparse as a :class:`~rsdesk.core.defenses.base.Defense`: its parameters, the dictionary it loads,
and the purifier (:mod:`rsdesk.core.sparse`) that does the work."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from rsdesk.core.defenses.base import DICTIONARY_OPTION, Defense, DefenseResult, LearnedFile
from rsdesk.core.io.assets import ABLATION_DICTIONARIES, bundled_dictionary_path, default_dictionary_path
from rsdesk.core.params import Param
from rsdesk.core.progress import check_cancel
from rsdesk.core.sparse.dictionary_file import Dictionary, load_dictionary, random_dictionary
from rsdesk.core.sparse.linearized import IDENTITY, LINEAR, Linearization, linearize_regionsparse
from rsdesk.core.sparse.purifier import RegionSparse, RegionSparseParams

_RS = RegionSparseParams()

#: A plan's word for the bundled default dictionary (giving no dictionary at all means the same).
BUNDLED_DICTIONARY = "bundled"
#: ``dictionary=RANDOM``: Gaussian unit-norm atoms instead of a trained dictionary (the paper's noTR).
RANDOM_DICTIONARY = "random"
#: The bundled dictionaries a plan's defense entry may name instead of a file: the default and the ablations.
BUNDLED_DICTIONARY_NAMES = (BUNDLED_DICTIONARY, *ABLATION_DICTIONARIES)
#: Every name a plan's defense entry may give instead of a dictionary file: the bundled ones and noTR's.
NAMED_DICTIONARIES = (*BUNDLED_DICTIONARY_NAMES, RANDOM_DICTIONARY)


def is_dictionary_name(value: object) -> bool:
    """Whether a plan's dictionary value is one of :data:`NAMED_DICTIONARIES` rather than a file."""
    return isinstance(value, str) and value in NAMED_DICTIONARIES


def dictionary_source(value: str | os.PathLike[str] | None) -> Path | str | None:
    """Which dictionary a plan's dictionary value means, so the evaluation, its
    provenance and its titles read a name the same way: None for the bundled default (None or
    ``"bundled"``), :data:`RANDOM_DICTIONARY` for noTR, a bundled ablation's file for its name, else the
    value as a file path. Exact names only; nothing is read."""
    if value is None or value == BUNDLED_DICTIONARY:
        return None
    if value == RANDOM_DICTIONARY:
        return RANDOM_DICTIONARY
    if isinstance(value, str) and value in ABLATION_DICTIONARIES:
        return bundled_dictionary_path(value)
    return Path(value)


DictionarySource = Dictionary | str | os.PathLike[str] | None


def _dictionary_argument(value: DictionarySource) -> Dictionary | Path | None:
    """A loaded dictionary as it is; noTR's name → random atoms; any other name or file → its path (None:
    the bundled default)."""
    if isinstance(value, Dictionary):
        return value
    source = dictionary_source(value)
    return random_dictionary() if source == RANDOM_DICTIONARY else source  # type: ignore[return-value]


#: RegionSparse's learned file: the dictionary (a loaded one, a file, or one of the bundled names).
DICTIONARY_FILE = LearnedFile(
    DICTIONARY_OPTION, "dictionary", NAMED_DICTIONARIES, BUNDLED_DICTIONARY, _dictionary_argument
)


class RegionSparseDefense(Defense):
    name, title = "regionsparse", "RegionSparse"
    learned_file = DICTIONARY_FILE
    surrogates = (IDENTITY, LINEAR)
    MAIN_PARAMS = ("k", "theta", "stride")
    PARAMS = (
        Param(
            "k", "K (sparsity)", _RS.k, 1, 64, "atoms per patch: lower removes more", integer=True, symbol="K"
        ),
        Param(
            "theta", "θ (region weight)", _RS.theta, 0.0, 1.0, "1: code object, filter background", symbol="θ"
        ),
        Param("stride", "patch stride", _RS.stride, 1, 16, "1 codes every overlapping patch", integer=True),
        Param("bilateral_d", "bilateral diameter", _RS.bilateral_d, 1, 31, integer=True),
        Param("sigma_color", "bilateral σ colour", _RS.sigma_color, 0.1, 500.0),
        Param("sigma_space", "bilateral σ space", _RS.sigma_space, 0.1, 500.0),
        Param("feather", "mask feather (px)", _RS.feather, 0.0, 50.0),
        Param("localize", "object localization", True, help="off: the 'Whole' ablation"),
        Param("background_filter", "background filter", True, help="off: the 'noBS' ablation"),
        Param("normalize", "patch normalization", True, help="off: the 'noPN' ablation"),
    )

    def __init__(
        self,
        dictionary: Dictionary | str | os.PathLike[str] | None = None,
        device: torch.device | str = "cpu",
        **values: object,
    ) -> None:
        super().__init__(**values)
        if dictionary is None:
            dictionary = default_dictionary_path()
        if not isinstance(dictionary, Dictionary):
            dictionary = load_dictionary(Path(dictionary))
        self.dictionary = dictionary
        params = RegionSparseParams(**self.values)  # type: ignore[arg-type]
        self.purifier = RegionSparse(dictionary, params, device=device)

    def describe(self) -> str:
        return super().describe() + f" [{self.dictionary.describe()}]"

    @classmethod
    def summary(cls, values: Mapping[str, object]) -> str:
        """``RegionSparse K 4, θ 1, stride 4``: the three numbers a demo tunes."""
        return f"RegionSparse K {values['k']}, θ {values['theta']:g}, stride {values['stride']}"

    @classmethod
    def param_limits(cls, dictionary: Dictionary | None) -> dict[str, int]:
        """K cannot exceed the number of atoms."""
        return {"k": dictionary.n_atoms} if dictionary is not None else {}

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        check_cancel(cancel)
        r = self.purifier.purify(img, progress, cancel)
        return DefenseResult(
            purified=r.purified,
            mask=r.mask,
            weight=r.weight,
            sparse_coded=r.sparse_coded,
            background=r.background,
            info=r.info,
        )

    def linearize(self, img: np.ndarray) -> Linearization:
        """The purification and its exact local surrogate: the mask, each patch's OMP support and each
        bilateral weight's table bin held at their values for ``img``."""
        return linearize_regionsparse(self.purifier, img)
