"""Every input-purification defense behind one interface, listed in :data:`DEFENSES` with its parameters.

RegionSparse (spec §1–6) and the paper's baselines (spec §9): JPEG, feature squeezing, TVM, bilateral
only, NLM only — plus "none" so the evaluation table has its no-defense row.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from rsdesk.core.assets import default_dictionary_path
from rsdesk.core.classifier import resolve_device
from rsdesk.core.dictionary import Dictionary, load_dictionary, random_dictionary
from rsdesk.core.images import from_uint8, to_uint8
from rsdesk.core.params import Param, format_params, lookup, resolve_params
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report
from rsdesk.core.regionsparse import DefenseResult, RegionSparse, RegionSparseParams, bilateral
from rsdesk.core.tvm import tv_minimize


def _with_params(title: str, values: Mapping[str, object]) -> str:
    return f"{title} ({format_params(values)})" if values else title


class Defense(ABC):
    """Configure with keyword parameters (validated against :attr:`PARAMS`), then :meth:`purify`.

    The class attributes are the defense's traits; the CLI, the window and the evaluations read them
    instead of testing a defense's name. Build one with :func:`create_defense`.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: the name in menus, where the full title would be too long
    short_title: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: the parameters a user tunes first (shown inline in the window; the rest behind ⚙)
    MAIN_PARAMS: ClassVar[tuple[str, ...]] = ()
    #: whether repeated calls on the same input can differ (EOT matters for these)
    randomized: ClassVar[bool] = False
    #: whether it needs a RegionSparse dictionary (``dictionary=`` and ``device=`` in the constructor)
    needs_dictionary: ClassVar[bool] = False
    #: the "no defense" row: returns its input (the window's D toggle, not a menu entry)
    identity: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "short_title" not in cls.__dict__:
            cls.short_title = cls.title

    def __init__(self, **values: object) -> None:
        self.values = resolve_params(self.PARAMS, values, self.title)

    def describe(self) -> str:
        """Every parameter: ``JPEG compression (quality=75)``."""
        return _with_params(self.title, self.values)

    @classmethod
    def summary(cls, values: Mapping[str, object]) -> str:
        """A short line for a panel subtitle; by default every parameter, as :meth:`describe`."""
        return _with_params(cls.title, values)

    @classmethod
    def param_limits(cls, dictionary: Dictionary | None) -> dict[str, int]:
        """Upper limits that depend on the dictionary in use (beyond :attr:`PARAMS`' fixed ranges)."""
        return {}

    @abstractmethod
    def purify(
        self, img: np.ndarray, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> DefenseResult:
        """Return the purified H×W×3 [0, 1] image (and intermediates where the defense has any)."""

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return self.purify(img).purified


class NoDefense(Defense):
    name, title = "none", "No defense"
    identity = True

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        report(progress, 1.0, "done")
        return DefenseResult(purified=np.asarray(img, dtype=np.float32).copy())


class JPEG(Defense):
    name, title = "jpeg", "JPEG compression"
    PARAMS = (Param("quality", "quality", 75, 1, 100, "JPEG quality (lower removes more)", integer=True),)
    MAIN_PARAMS = ("quality",)

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        # Pillow with its defaults (4:2:0 chroma subsampling), the call ART's JpegCompression makes, so the
        # two agree exactly (OpenCV's codec gave the same pixels here, but only as its libjpeg build does).
        # One difference, kept on purpose: ART truncates x·255 to uint8, we round (as an 8-bit file would);
        # on 8-bit inputs the two are identical, otherwise ours equals ART's on the rounded image.
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(to_uint8(img)).save(buf, format="jpeg", quality=int(self.values["quality"]))
        buf.seek(0)
        with Image.open(buf) as decoded:
            out = np.asarray(decoded.convert("RGB"))
        report(progress, 1.0, "done")
        return DefenseResult(purified=from_uint8(out))


class FeatureSqueezing(Defense):
    name, title = "squeeze", "Feature squeezing"
    MAIN_PARAMS = ("bits", "median")
    PARAMS = (
        Param("bits", "bit depth", 5, 1, 8, "colour depth reduction", integer=True),
        Param("median", "median window", 2, 1, 9, "median smoothing window (1: none)", integer=True),
    )

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        from scipy.ndimage import median_filter

        # ART's FeatureSqueezing exactly: rint(x · (2^bits − 1)) / (2^bits − 1) in float64 (rounding in
        # float32 moves a few values that sit on a .5 boundary).
        levels = float(2 ** int(self.values["bits"]) - 1)
        out = (np.rint(np.asarray(img, dtype=np.float64) * levels) / levels).astype(np.float32)
        k = int(self.values["median"])
        if k > 1:
            # ART's SpatialSmoothing exactly (the same scipy call, window k×k per channel, mode "reflect"),
            # even windows included: ART accepts the paper's 2×2 (any window ≥ 1; 1 is the identity), where
            # scipy takes the upper of the two middle values. OpenCV's medianBlur only takes odd windows.
            out = median_filter(out, size=(k, k, 1), mode="reflect")
        report(progress, 1.0, "done")
        return DefenseResult(purified=out)


class TVM(Defense):
    name, title = "tvm", "Total variation minimization"
    short_title = "TVM"
    randomized = True
    MAIN_PARAMS = ("keep", "lam", "iterations")
    PARAMS = (
        Param("keep", "pixel keep probability", 0.3, 0.01, 1.0, "Bernoulli p of kept pixels"),
        Param("lam", "λ (TV weight)", 0.5, 0.0, 10.0),
        # ART's TotalVarMin default (max_iter 10); its fidelity term is weak, so this sets the smoothing:
        # more iterations, a smoother image (see rsdesk.core.tvm)
        Param("iterations", "L-BFGS-B iterations", 10, 1, 500, "more: smoother (ART: 10)", integer=True),
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
    MAIN_PARAMS = ("d", "sigma_color", "sigma_space")
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
    short_title = "NLM"
    PARAMS = (Param("h", "h (strength)", 10.0, 0.0, 100.0),)
    MAIN_PARAMS = ("h",)

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        from rsdesk.core.dictionary import smooth_nlm

        out = smooth_nlm(img, float(self.values["h"]))
        report(progress, 1.0, "done")
        return DefenseResult(purified=out)


_RS = RegionSparseParams()


class RegionSparseDefense(Defense):
    name, title = "regionsparse", "RegionSparse"
    needs_dictionary = True
    MAIN_PARAMS = ("k", "theta", "stride")
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
        return self.purifier.purify(img, progress, cancel)


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
