"""RegionSparse as a :class:`~rsdesk.core.defenses.base.Defense`: its parameters, the dictionary it loads,
and the purifier (:mod:`rsdesk.core.sparse`) that does the work."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from rsdesk.core.defenses.base import Defense, DefenseResult
from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.params import Param
from rsdesk.core.progress import check_cancel
from rsdesk.core.sparse.dictionary_file import Dictionary, load_dictionary
from rsdesk.core.sparse.purifier import RegionSparse, RegionSparseParams

_RS = RegionSparseParams()


class RegionSparseDefense(Defense):
    name, title = "regionsparse", "RegionSparse"
    needs_dictionary = True
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
