"""The project's 95 % interval of a proportion (Wilson score): every accuracy a summary, a check or the
headline reports carries it."""

from __future__ import annotations

import functools
import math


@functools.lru_cache(maxsize=8192)
def wilson(correct: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion (SciPy's implementation). Cached: SciPy takes about a
    millisecond per call, and a viewer that re-summarizes a growing run asks again for the same counts."""
    if n == 0:
        return (math.nan, math.nan)
    from scipy.stats import binomtest

    ci = binomtest(int(correct), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))
