"""Every input-purification defense behind one interface, listed in :data:`DEFENSES` with its parameters.

RegionSparse (spec §1–6) and the paper's baselines (spec §9): JPEG, feature squeezing, TVM, bilateral
only, NLM only — plus "none" so the evaluation table has its no-defense row.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import torch

from rsdesk.core.assets import default_dictionary_path
from rsdesk.core.dictionary import Dictionary, load_dictionary
from rsdesk.core.images import from_uint8, to_uint8
from rsdesk.core.params import Param, format_params, resolve_params
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report
from rsdesk.core.regionsparse import DefenseResult, RegionSparse, RegionSparseParams, bilateral
from rsdesk.core.tvm import tv_minimize


class Defense(ABC):
    """Configure with keyword parameters (validated against :attr:`PARAMS`), then :meth:`purify`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: whether repeated calls on the same input can differ (EOT matters for these)
    randomized: ClassVar[bool] = False

    def __init__(self, **values: object) -> None:
        self.values = resolve_params(self.PARAMS, values, self.title)

    def describe(self) -> str:
        return f"{self.title} ({format_params(self.values)})" if self.values else self.title

    @abstractmethod
    def purify(
        self, img: np.ndarray, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> DefenseResult:
        """Return the purified H×W×3 [0, 1] image (and intermediates where the defense has any)."""

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return self.purify(img).purified


class NoDefense(Defense):
    name, title = "none", "No defense"

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        report(progress, 1.0, "done")
        return DefenseResult(purified=np.asarray(img, dtype=np.float32).copy())


class JPEG(Defense):
    name, title = "jpeg", "JPEG compression"
    PARAMS = (Param("quality", "quality", 75, 1, 100, "JPEG quality (lower removes more)", integer=True),)

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        bgr = cv2.cvtColor(to_uint8(img), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(self.values["quality"])])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        report(progress, 1.0, "done")
        return DefenseResult(purified=from_uint8(out))


class FeatureSqueezing(Defense):
    name, title = "squeeze", "Feature squeezing"
    PARAMS = (
        Param("bits", "bit depth", 5, 1, 8, "colour depth reduction", integer=True),
        Param("median", "median window", 2, 1, 9, "median smoothing window (1: none)", integer=True),
    )

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        from scipy.ndimage import median_filter

        levels = 2 ** int(self.values["bits"]) - 1
        out = np.round(np.asarray(img, dtype=np.float32) * levels) / levels
        k = int(self.values["median"])
        if k > 1:
            # scipy, because OpenCV's medianBlur only takes odd windows and the paper's 2×2 is even.
            out = median_filter(out, size=(k, k, 1), mode="reflect")
        report(progress, 1.0, "done")
        return DefenseResult(purified=out.astype(np.float32))


class TVM(Defense):
    name, title = "tvm", "Total variation minimization"
    randomized = True
    PARAMS = (
        Param("keep", "pixel keep probability", 0.3, 0.01, 1.0, "Bernoulli p of kept pixels"),
        Param("lam", "λ (TV weight)", 0.5, 0.0, 10.0),
        Param("iterations", "L-BFGS iterations", 40, 1, 500, integer=True),
        Param("seed", "seed (-1: random)", -1, -1, 2**31 - 1, integer=True),
    )

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        seed = int(self.values["seed"])
        out = tv_minimize(
            img,
            keep_prob=float(self.values["keep"]),
            lam=float(self.values["lam"]),
            iterations=int(self.values["iterations"]),
            seed=None if seed < 0 else seed,
            cancel=cancel,
        )
        report(progress, 1.0, "done")
        return DefenseResult(purified=out)


class Bilateral(Defense):
    name, title = "bilateral", "Bilateral filter"
    PARAMS = (
        Param("d", "diameter", 9, 1, 31, integer=True),
        Param("sigma_color", "σ colour (8-bit units)", 75.0, 0.1, 500.0),
        Param("sigma_space", "σ space (px)", 75.0, 0.1, 500.0),
    )

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        v = self.values
        out = bilateral(img, int(v["d"]), float(v["sigma_color"]), float(v["sigma_space"]))
        report(progress, 1.0, "done")
        return DefenseResult(purified=np.clip(out, 0, 1))


class NLM(Defense):
    name, title = "nlm", "Non-local means"
    PARAMS = (Param("h", "h (strength)", 10.0, 0.0, 100.0),)

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        from rsdesk.core.dictionary import smooth_nlm

        out = smooth_nlm(img, float(self.values["h"]))
        report(progress, 1.0, "done")
        return DefenseResult(purified=out)


_RS = RegionSparseParams()


class RegionSparseDefense(Defense):
    name, title = "regionsparse", "RegionSparse"
    PARAMS = (
        Param("k", "K (sparsity)", _RS.k, 1, 64, "atoms per patch: lower removes more", integer=True),
        Param("theta", "θ (region weight)", _RS.theta, 0.0, 1.0, "1: code object, filter background"),
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

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        check_cancel(cancel)
        return self.purifier.purify(img, progress, cancel)


DEFENSES: dict[str, type[Defense]] = {
    cls.name: cls for cls in (NoDefense, RegionSparseDefense, JPEG, FeatureSqueezing, TVM, Bilateral, NLM)
}


def create_defense(name: str, **params: object) -> Defense:
    """Build a defense by registry name; RegionSparse also takes ``dictionary=`` and ``device=``."""
    key = name.lower().replace("-", "").replace("_", "")
    aliases = {"rs": "regionsparse", "featuresqueezing": "squeeze", "tv": "tvm", "nonlocalmeans": "nlm"}
    key = aliases.get(key, key)
    if key not in DEFENSES:
        raise ValueError(f"unknown defense {name!r}; choose one of {', '.join(DEFENSES)}")
    return DEFENSES[key](**params)
