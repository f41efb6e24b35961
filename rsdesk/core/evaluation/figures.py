"""The figures of an evaluation run, drawn from its ``summary.json`` alone so they can be redrawn any time.

Three kinds, after the paper: accuracy-vs-strength curves (Fig. 5), grouped bars for ablations and transfer
(Figs. 4 and 8), and a clean-vs-robust frontier over a defense's knob. The numbers each figure plots, and
their colours, come from :mod:`.series` (pure, shared with the GUI's live curves); this module draws them.
Matplotlib is imported lazily (the app starts without it) and only through its object API with the Agg
canvas: no pyplot, no global state, safe in a worker thread.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rsdesk.core.evaluation.series import (
    IDENTITY_COLOUR,
    bar_series,
    curve_series,
    curve_strengths,
    defense_styles,
    frontier_series,
    group_colours,
    is_identity,
    knob_label,
)
from rsdesk.core.io.files import atomic_write

DPI = 150


def _style(styles: Mapping[str, dict[str, Any]], key: str) -> dict[str, Any]:
    return styles.get(key, {"color": "black", "linestyle": "-", "marker": "o"})


def _title(summary: Mapping[str, Any], kind: str, key: str) -> str:
    return str(summary.get(kind, {}).get(key, {}).get("title") or key)


def _attack_title(summary: Mapping[str, Any], attack: str) -> str:
    info = summary.get("attacks", {}).get(attack, {})
    title = _title(summary, "attacks", attack)
    if info.get("threat") == "transfer" and info.get("source"):
        title += f" from {info['source']}"
    return title


def _strength_text(summary: Mapping[str, Any], attack: str, strength: float) -> str:
    """ "ε 10/255", "d 0.1" or "clean"."""
    if strength == 0:
        return "clean"
    info = summary.get("attacks", {}).get(attack, {})
    unit = str(info.get("unit") or "")
    sep = "" if not unit or unit.startswith("/") else " "
    return f"{info.get('symbol') or 'strength'} {strength:g}{sep}{unit}"


def _axis_label(summary: Mapping[str, Any], attack: str) -> str:
    info = summary.get("attacks", {}).get(attack, {})
    symbol, unit = info.get("symbol") or "attack strength", info.get("unit")
    return f"{symbol} ({unit})" if unit else str(symbol)


def _subtitle(summary: Mapping[str, Any]) -> str:
    counted, total = summary.get("n_counted"), summary.get("n_images")
    protocol = summary.get("protocol")
    images = f"{counted} of {total} images" if counted is not None else f"{total} images"
    return f"{summary.get('classifier', '')} · {images}" + (f" ({protocol})" if protocol else "")


def _new_figure(summary: Mapping[str, Any], experiment: Mapping[str, Any], size: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    fig.suptitle(str(experiment.get("title") or experiment.get("name")), fontsize=14, fontweight="bold")
    fig.supxlabel(_subtitle(summary), fontsize=10, color="0.35")  # a footer: what was measured, on what
    return fig


def _finish(ax: Any, empty: bool, ylabel: str | None = "top-1 accuracy (%)") -> None:
    """Readable ticks and a light grid; a panel with nothing to show says so instead of looking broken."""
    if empty:
        ax.text(0.5, 0.5, "no results yet", transform=ax.transAxes, ha="center", fontsize=12, color="0.4")
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, alpha=0.3)


_LEGEND = {"fontsize": 10, "title": "defense", "title_fontsize": 10}
_CLEAN_MARK = {"marker": "_", "s": 260, "linewidths": 2.5, "color": "black", "alpha": 0.55, "zorder": 3}


def _draw_curves(summary: Mapping[str, Any], experiment: Mapping[str, Any], styles: dict) -> Any:
    attacks = list(experiment.get("attacks", ()))
    ncols = max(1, min(3, len(attacks)))
    nrows = max(1, math.ceil(len(attacks) / ncols))
    fig = _new_figure(summary, experiment, (4.6 * ncols + 2.6, 3.9 * nrows + 0.9))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    handles: dict[str, Any] = {}
    for ax, attack in zip(axes, attacks):
        series = curve_series(summary, experiment, attack)
        for defense, points in series.items():
            st, xs = _style(styles, defense), [p.strength for p in points]
            label = _title(summary, "defenses", defense)
            (line,) = ax.plot(xs, [p.acc for p in points], **st, linewidth=2, markersize=6, label=label)
            ax.fill_between(xs, [p.lo for p in points], [p.hi for p in points], color=st["color"], alpha=0.15)
            handles.setdefault(defense, line)
        ticks = curve_strengths(experiment, attack)
        ax.set_xticks(ticks, ["clean" if s == 0 else f"{s:g}" for s in ticks])
        ax.tick_params(axis="x", rotation=45 if len(ticks) > 7 else 0)
        ax.set_title(_attack_title(summary, attack), fontsize=12)
        ax.set_xlabel(_axis_label(summary, attack), fontsize=11)
        ax.set_ylim(-2, 102)
        _finish(ax, not series, None)
    for ax in axes[len(attacks) :]:
        ax.set_visible(False)
    for row in range(nrows):
        axes[row * ncols].set_ylabel("top-1 accuracy (%)", fontsize=11)
    if handles:
        labels = [h.get_label() for h in handles.values()]
        fig.legend(list(handles.values()), labels, loc="outside right upper", **_LEGEND)
    return fig


def _draw_bars(summary: Mapping[str, Any], experiment: Mapping[str, Any], styles: dict) -> Any:
    groups, defenses = bar_series(summary, experiment), list(experiment.get("defenses", ()))
    fig = _new_figure(summary, experiment, (max(6.5, 1.1 * len(defenses) * len(groups) + 4.0), 5.0))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(defenses))
    for j, defense in enumerate(defenses):
        offset = (j - (len(defenses) - 1) / 2) * width
        shown = [(i + offset, g.bars[defense]) for i, g in enumerate(groups) if defense in g.bars]
        acc = [v[0] for _, v in shown]
        err = [[a - v[1] for a, (_, v) in zip(acc, shown)], [v[2] - a for a, (_, v) in zip(acc, shown)]]
        hatch = "//" if is_identity(summary, defense) else None
        label, colour = _title(summary, "defenses", defense), _style(styles, defense)["color"]
        look = {"color": colour, "label": label, "hatch": hatch, "edgecolor": "white" if hatch else None}
        bars = (
            ax.bar([x for x, _ in shown], acc, width * 0.92, yerr=err, capsize=3, **look) if shown else None
        )
        if bars and len(defenses) * len(groups) <= 12:
            ax.bar_label(bars, labels=[f"{a:.0f}" for a in acc], padding=2, fontsize=10)
        clean = [(i + offset, g.clean[defense]) for i, g in enumerate(groups) if defense in g.clean]
        ax.scatter([x for x, _ in clean], [y for _, y in clean], **_CLEAN_MARK)
    ax.scatter([], [], **_CLEAN_MARK, label="clean accuracy")
    ticks = [
        f"{_attack_title(summary, g.attack)}\n{_strength_text(summary, g.attack, g.strength)}" for g in groups
    ]
    ax.set_xticks(range(len(groups)), ticks)
    ax.set(xlim=(-0.5, len(groups) - 0.5), ylim=(0, 108))
    ax.set_xlabel("attack", fontsize=11)
    _finish(ax, not any(g.bars for g in groups))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), **_LEGEND)
    return fig


def _draw_frontier(summary: Mapping[str, Any], experiment: Mapping[str, Any], styles: dict) -> Any:
    frontier = experiment.get("frontier") or {}
    attack, strength = str(frontier.get("attack", "")), float(frontier.get("strength", 0))
    under = f"{_attack_title(summary, attack)} {_strength_text(summary, attack, strength)}"
    fig = _new_figure(summary, experiment, (8.6, 6.0))
    ax = fig.add_subplot()
    series, colours = frontier_series(summary, experiment), group_colours(summary)
    for group, pts in series.items():
        identity = all(is_identity(summary, p.defense) for p in pts)
        colour = IDENTITY_COLOUR if identity else colours.get(group, "black")
        ax.errorbar([p.x for p in pts], [p.y for p in pts],
                    xerr=[[p.x - p.x_lo for p in pts], [p.x_hi - p.x for p in pts]],
                    yerr=[[p.y - p.y_lo for p in pts], [p.y_hi - p.y for p in pts]],
                    color=colour, marker="s" if identity else "o", markersize=7, lw=0 if identity else 2,
                    capsize=3, elinewidth=1, label=_group_title(summary, group, identity))  # fmt: skip
        for p in pts:
            ax.annotate(
                p.label, (p.x, p.y), xytext=(6, 6), textcoords="offset points", fontsize=10, color=colour
            )
    xs = [v for pts in series.values() for p in pts for v in (p.x_lo, p.x_hi)]
    ys = [v for pts in series.values() for p in pts for v in (p.y_lo, p.y_hi)]
    if xs:
        ax.plot([0, 100], [0, 100], color="0.75", linestyle="--", lw=1, zorder=0, label="robust = clean")
        ax.set_xlim(max(0.0, min(xs) - 8), min(102.0, max(xs) + 10))
        ax.set_ylim(max(0.0, min(ys) - 8), min(102.0, max(ys) + 10))
        ax.legend(loc="best", fontsize=10)
    else:
        ax.set(xlim=(0, 100), ylim=(0, 100))
    ax.set_title(f"robust accuracy under {under}", fontsize=12)
    ax.set_xlabel("clean accuracy (%)", fontsize=11)
    _finish(ax, not xs, f"robust accuracy (%) — {under}")
    return fig


def _group_title(summary: Mapping[str, Any], group: str, identity: bool) -> str:
    """A group's name in a legend: the words its members' titles share ("RegionSparse" of "… K 4")."""
    if identity:
        return "no defense"
    defenses = summary.get("defenses", {})
    infos = [d for d in defenses.values() if str(d.get("group") or "") == group] or [{"title": group}]
    titles = [str(d.get("title") or group) for d in infos]
    titles = [t.removesuffix(knob_label(d)).strip() or t for t, d in zip(titles, infos)]  # "RegionSparse K 4"
    common = []
    for words in zip(*(t.split() for t in titles)):
        if len(set(words)) > 1:
            break
        common.append(words[0])
    return " ".join(common) or group


_DRAWERS = {"curves": _draw_curves, "bars": _draw_bars, "frontier": _draw_frontier}


def figure_name(experiment: Mapping[str, Any]) -> str:
    """The file name of an experiment's figure: its name with anything outside [A-Za-z0-9_-] made "_"."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(experiment.get("name") or "figure")) + ".png"


def draw_figures(summary: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Draw one PNG per figure-kind experiment of ``summary`` into ``out_dir``; returns the files written.

    Tables get no figure. Each file is written atomically, so a viewer never shows half a PNG.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    styles = defense_styles(summary)
    written: list[Path] = []
    for experiment in summary.get("experiments", ()):
        draw = _DRAWERS.get(str(experiment.get("kind")))
        if draw is None:
            continue
        fig = draw(summary, experiment, styles)
        canvas = FigureCanvasAgg(fig)
        path = out_dir / figure_name(experiment)
        atomic_write(path, lambda fh, canvas=canvas: canvas.print_png(fh))
        written.append(path)
    return written
