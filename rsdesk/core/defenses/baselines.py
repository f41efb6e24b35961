"""The paper's parameter-only baselines (spec §9): JPEG compression, feature squeezing, and the two filters
RegionSparse is built from, used alone (bilateral, non-local means). TVM, which has its own solver, is
:mod:`rsdesk.core.defenses.tvm`."""

from __future__ import annotations

import numpy as np

from rsdesk.core.defenses.base import Defense, DefenseResult
from rsdesk.core.io.images import from_uint8, to_uint8
from rsdesk.core.params import Param
from rsdesk.core.progress import report
from rsdesk.core.sparse.filters import bilateral, smooth_nlm
from rsdesk.core.sparse.linearized import IDENTITY, LINEAR, Linearization, clamped, linearize_bilateral


class JPEG(Defense):
    name, title = "jpeg", "JPEG compression"
    PARAMS = (
        Param(
            "quality", "quality", 75, 1, 100, "JPEG quality (lower removes more)", integer=True, symbol="q"
        ),
    )
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


class Bilateral(Defense):
    name, title = "bilateral", "Bilateral filter"
    surrogates = (IDENTITY, LINEAR)
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

    def linearize(self, img: np.ndarray) -> Linearization:
        """The filter with each weight's table bin held for ``img`` (the weights still follow the input, so
        the gradient is the filter's own), then the same clip to [0, 1]."""
        v = self.values
        return clamped(
            linearize_bilateral(img, int(v["d"]), float(v["sigma_color"]), float(v["sigma_space"]))
        )


class NLM(Defense):
    name, title = "nlm", "Non-local means"
    short_title = "NLM"
    PARAMS = (Param("h", "h (strength)", 10.0, 0.0, 100.0),)
    MAIN_PARAMS = ("h",)

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201

        out = smooth_nlm(img, float(self.values["h"]))
        report(progress, 1.0, "done")
        return DefenseResult(purified=out)
