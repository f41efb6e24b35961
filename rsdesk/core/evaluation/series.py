"""The numbers and styles an evaluation's figures plot, read from its ``summary.json``: no drawing here.

The PNG figures (:mod:`.figures`, matplotlib) and the GUI's live curves (pyqtgraph) both draw from these
pure helpers, so they show the same points in the same colours, and tests check the data, not pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

#: Colours for defense groups in order of first appearance (tab10 without its grey, kept for "no defense").
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
#: The undefended model's colour in every figure.
IDENTITY_COLOUR = "#404040"
#: Markers of a group's settings, in knob order.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


class CurvePoint(NamedTuple):
    """One point of a curve: strength (0 is clean) and accuracy with its CI, in percent."""

    strength: float
    acc: float
    lo: float
    hi: float


class BarGroup(NamedTuple):
    """One group of bars: an attack at one strength; per defense (acc, lo, hi) and clean accuracy, in %."""

    attack: str
    strength: float
    bars: dict[str, tuple[float, float, float]]
    clean: dict[str, float]


class FrontierPoint(NamedTuple):
    """One defense setting: clean accuracy (x) against robust accuracy (y), each with its CI, in percent."""

    defense: str
    label: str
    knob_value: float | None
    x: float
    x_lo: float
    x_hi: float
    y: float
    y_lo: float
    y_hi: float


def _cell_index(summary: Mapping[str, Any]) -> dict[tuple[str, float, str], tuple[float, float, float]]:
    """Usable cells by (attack, strength, defense) in percent; cells with n = 0 or no accuracy left out."""
    index: dict[tuple[str, float, str], tuple[float, float, float]] = {}
    for cell in summary.get("cells", ()):
        acc = cell.get("accuracy")
        if not cell.get("n") or acc is None or not math.isfinite(float(acc)):
            continue
        lo, hi = cell.get("ci_low"), cell.get("ci_high")
        lo = acc if lo is None or not math.isfinite(float(lo)) else lo
        hi = acc if hi is None or not math.isfinite(float(hi)) else hi
        key = (str(cell["attack"]), float(cell["strength"]), str(cell["defense"]))
        index[key] = (100.0 * float(acc), 100.0 * float(lo), 100.0 * float(hi))
    return index


def curve_strengths(experiment: Mapping[str, Any], attack: str) -> list[float]:
    """The x positions of an attack's curve: its experiment strengths and 0 (clean), rising."""
    values = {0.0, *(float(s) for s in experiment.get("strengths", {}).get(attack, ()))}
    return sorted(values)


def _main_strength(experiment: Mapping[str, Any], attack: str) -> float:
    """The strength a bar group stands for: the experiment's first non-zero one (0, clean, when none)."""
    return next((float(s) for s in experiment.get("strengths", {}).get(attack, ()) if float(s) != 0), 0.0)


def curve_series(
    summary: Mapping[str, Any], experiment: Mapping[str, Any], attack: str
) -> dict[str, list[CurvePoint]]:
    """Per defense (experiment order), the points of its curve under ``attack`` by rising strength.

    Missing cells (a run still going) are skipped; a defense with no point at all is left out.
    """
    index = _cell_index(summary)
    series: dict[str, list[CurvePoint]] = {}
    for defense in experiment.get("defenses", ()):
        points = [
            CurvePoint(s, *index[(attack, s, defense)])
            for s in curve_strengths(experiment, attack)
            if (attack, s, defense) in index
        ]
        if points:
            series[defense] = points
    return series


def bar_series(summary: Mapping[str, Any], experiment: Mapping[str, Any]) -> list[BarGroup]:
    """One group per attack of the experiment at its main strength; missing cells simply have no bar."""
    index = _cell_index(summary)
    groups = []
    for attack in experiment.get("attacks", ()):
        strength = _main_strength(experiment, attack)
        bars, clean = {}, {}
        for defense in experiment.get("defenses", ()):
            if (attack, strength, defense) in index:
                bars[defense] = index[(attack, strength, defense)]
            if (attack, 0.0, defense) in index:
                clean[defense] = index[(attack, 0.0, defense)][0]
        groups.append(BarGroup(attack, strength, bars, clean))
    return groups


def knob_label(defense: Mapping[str, Any]) -> str:
    """How one setting of a defense reads beside its point: "K 4", "q 30", or its title if it has no knob."""
    knob, value = defense.get("knob"), defense.get("knob_value")
    if defense.get("identity"):
        return "no defense"
    if not knob or value is None:
        return str(defense.get("title", "?"))
    return f"{defense.get('knob_symbol') or knob} {value:g}"


def frontier_series(
    summary: Mapping[str, Any], experiment: Mapping[str, Any]
) -> dict[str, list[FrontierPoint]]:
    """Per defense group, its settings as (clean, robust) points in knob order, for the frontier attack.

    A setting needs both its clean cell and its attacked cell; otherwise it is skipped.
    """
    frontier = experiment.get("frontier") or {}
    attack, strength = str(frontier.get("attack", "")), float(frontier.get("strength", 0))
    index, defenses = _cell_index(summary), summary.get("defenses", {})
    series: dict[str, list[FrontierPoint]] = {}
    for key in experiment.get("defenses", ()):
        info = defenses.get(key, {})
        clean, robust = index.get((attack, 0.0, key)), index.get((attack, strength, key))
        if clean is None or robust is None:
            continue
        value = info.get("knob_value")
        point = FrontierPoint(key, knob_label(info), None if value is None else float(value), *clean, *robust)
        series.setdefault(defense_group(summary, key), []).append(point)
    for points in series.values():
        points.sort(key=lambda p: (p.knob_value is not None, p.knob_value or 0.0))
    return series


def defense_group(summary: Mapping[str, Any], defense: str) -> str:
    """The group a defense's settings share one colour in (its own key when it has none)."""
    return str(summary.get("defenses", {}).get(defense, {}).get("group") or defense)


def is_identity(summary: Mapping[str, Any], defense: str) -> bool:
    """Whether the defense is the undefended model's row (drawn grey, dotted, hatched)."""
    info = summary.get("defenses", {}).get(defense, {})
    return bool(info.get("identity"))


def group_colours(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Colour per defense group, from the palette in order of first appearance, so every figure agrees."""
    groups = dict.fromkeys(
        defense_group(summary, k) for k in summary.get("defenses", {}) if not is_identity(summary, k)
    )
    return {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}


def defense_styles(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Line style per defense, the same in every figure of a run: its group's colour, shaded dark to light
    and with its own marker for settings in knob order inside a group; "no defense" grey and dotted.
    """
    defenses, colours = summary.get("defenses", {}), group_colours(summary)
    styles = {k: {"color": IDENTITY_COLOUR, "linestyle": ":", "marker": "o"} for k in defenses}
    for group, base in colours.items():
        keys = [k for k in defenses if defense_group(summary, k) == group and not is_identity(summary, k)]
        keys.sort(key=lambda k: float(defenses[k].get("knob_value") or 0.0))
        for i, key in enumerate(keys):
            t = 0.5 if len(keys) == 1 else i / (len(keys) - 1)  # a lone setting keeps the palette colour
            styles[key] = {"color": _shade(base, 0.6 * t - 0.3), "linestyle": "-", "marker": MARKERS[i % 8]}
    return styles


def _shade(colour: str, amount: float) -> tuple[float, ...]:
    """Darken (amount < 0) or lighten (amount > 0) a hex colour by mixing it with black or white."""
    target = 1.0 if amount > 0 else 0.0
    return tuple((c := int(colour[i : i + 2], 16) / 255) + abs(amount) * (target - c) for i in (1, 3, 5))
