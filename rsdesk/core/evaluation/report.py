"""summary.md: the summary as tables a person reads — first the headline (robust accuracy per defense: the
worst case per image over every attack run at each budget, beside clean accuracy, and who holds up best), the
checks (failed ones first, marked), per experiment a Table-II-style grid (defenses down, attack × strength
across), the frontiers' verdict, throughput."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _pct(c: Mapping[str, Any] | None, ci: bool = True) -> str:
    if not c or not c.get("n"):
        return "–"
    text = f"{100 * c['accuracy']:.0f}"
    if ci:
        text += f" ({100 * c['ci_low']:.0f}–{100 * c['ci_high']:.0f})"
    return text


def _heading(attacks: Mapping[str, Any], akey: str, s: float) -> str:
    a = attacks[akey]
    if s == 0:
        return "clean"
    return f"{a['title']} {a['symbol']} {s:g}{a['unit']}"


def experiment_table(summary: Mapping[str, Any], exp: Mapping[str, Any]) -> list[str]:
    """One experiment as a Markdown table: accuracy % (95 % interval) per defense and attack × strength."""
    cells = {(c["attack"], float(c["strength"]), c["defense"]): c for c in summary["cells"]}
    attacks = summary["attacks"]
    defenses = summary["defenses"]
    columns: list[tuple[str, float]] = []
    first = next(iter(exp["strengths"]))
    columns.append((first, 0.0))
    for akey, strengths in exp["strengths"].items():
        columns += [(akey, float(s)) for s in strengths]
    lines = [
        "| defense | " + " | ".join(_heading(attacks, a, s) for a, s in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for dkey in exp["defenses"]:
        row = [_pct(cells.get((a, s, dkey))) for a, s in columns]
        lines.append(f"| {defenses[dkey]['title']} | " + " | ".join(row) + " |")
    for title, ref in (exp.get("reference") or {}).items():
        row = []
        for a, s in columns:
            values = ref.get("clean") if s == 0 else (ref.get(a) or {}).get(f"{s:g}")
            row.append("–" if values is None else f"*{values:g}*")
        lines.append(f"| *{title}* | " + " | ".join(row) + " |")
    return lines


def _frontier_lines(summary: Mapping[str, Any], name: str, f: Mapping[str, Any]) -> list[str]:
    a = summary["attacks"][f["attack"]]
    lines = [
        f"Robust accuracy under {a['title']} {a['symbol']} {f['strength']:g}{a['unit']} "
        "against clean accuracy, "
        "one point per knob value:",
        "",
        "| defense | knob | clean % | robust % (95 % interval) |",
        "|---|---|---|---|",
    ]
    for g, points in f["groups"].items():
        for p in sorted(points, key=lambda p: (p["value"] is None, p["value"] or 0)):
            knob = "–" if p["knob"] is None else f"{p['knob']} {p['value']:g}"
            lo, hi = p["robust_ci"]
            lines.append(
                f"| {g} | {knob} | {100 * p['clean']:.0f} | "
                f"{100 * p['robust']:.0f} ({100 * lo:.0f}–{100 * hi:.0f}) |"
            )
    if f["matched"]:
        lines += ["", "Best robust accuracy among settings that keep at least a given clean accuracy:", ""]
        for m in f["matched"]:
            tie = f"; within its interval: {', '.join(m['within_interval'])}" if m["within_interval"] else ""
            others = ", ".join(f"{g} {100 * v:.0f}%" for g, v in m["per_group"].items() if g != m["best"])
            lines.append(
                f"- clean ≥ {100 * m['clean_at_least']:.0f}%: **{m['best']}** ({m['defense']}) "
                f"{100 * m['robust']:.0f}%{tie}" + (f" (others: {others})" if others else "")
            )
    return lines


def _interval_text(c: Mapping[str, Any]) -> str:
    return f"{100 * c['accuracy']:.0f} ({100 * c['ci_low']:.0f}–{100 * c['ci_high']:.0f})"


def _attack_name(attacks: Mapping[str, Any], key: str) -> str:
    """An attack's title, with its source where it was transferred."""
    a = attacks.get(key, {})
    title = str(a.get("title", key))
    return f"{title} (transferred from {a['source']})" if a.get("threat") == "transfer" else title


def headline_lines(summary: Mapping[str, Any]) -> list[str]:
    """The headline table: per defense (sweep points left to their frontier), clean accuracy and the worst
    case per image at each budget; a ``†`` where no defense-aware attack ran through that defense; then
    which attacks each budget took in and, per budget, which defense holds up best."""
    w = summary.get("worst_case") or {}
    columns, rows = w.get("columns") or [], [d for d in w.get("defenses") or [] if d.get("knob") is None]
    if not columns or not rows:
        return []
    lines = [
        "## Robust accuracy: the worst case per image over every attack run",
        "",
        str(w["what"]),
        "",
        "| defense | clean | " + " | ".join(c["label"] for c in columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    marked = False
    for d in rows:
        by = {(c["kind"], c["strength"]): c for c in d["budgets"]}
        row = []
        for col in columns:
            c = by.get((col["kind"], col["strength"]))
            if c is None:
                row.append("–")
                continue
            row.append(_interval_text(c) + ("" if c["adaptive"] else " †"))
            marked |= not c["adaptive"]
        lines.append(f"| {d['title']} | {_interval_text(d['clean'])} | " + " | ".join(row) + " |")
    titles = summary.get("attacks", {})
    ns = sorted({c["n"] for d in rows for c in d["budgets"]})
    lines += [
        "",
        "Accuracy % (95 % Wilson interval); clean on the same images, "
        + (f"{ns[0]} per cell." if len(ns) == 1 else f"{ns[0]}–{ns[-1]} per cell.")
        + (
            " † no defense-aware attack ran through this defense at this budget: an upper bound."
            if marked
            else ""
        ),
    ]
    lines += [f"- {c['label']}: " + ", ".join(_attack_name(titles, a) for a in c["attacks"]) for c in columns]
    if w.get("verdicts"):
        lines += ["", "Who holds up best at each budget (worst case per image):", ""]
        for v in w["verdicts"]:
            tie = f"; within its interval: {', '.join(v['within_interval'])}" if v["within_interval"] else ""
            if v["beats_undefended"] is False:
                tie += "; not beyond the undefended model's interval"
            gray = "" if v["adaptive"] else " (gray-box only: an upper bound)"
            lines.append(
                f"- {v['label']}: **{v['title']}** {100 * v['accuracy']:.0f}% "
                f"({100 * v['ci_low']:.0f}–{100 * v['ci_high']:.0f}), "
                f"clean {100 * v['clean']:.0f}%{gray}{tie}"
            )
    return lines


def markdown(summary: Mapping[str, Any]) -> str:
    """summary.md's text."""
    lines = [
        f"# Evaluation of {summary['classifier']}",
        "",
        f"Counted: {summary['protocol_text']} (protocol {summary['protocol']}). "
        "Cells: top-1 accuracy % with its 95 % Wilson interval; clean accuracy beside the attacked ones.",
    ]
    if not summary["complete"]:
        lines += ["", "**This run is not complete**: run the same command again to resume it."]
    failed = [c for c in summary["checks"] if c["ok"] is False]
    head = headline_lines(summary)
    if head:
        lines += ["", *head]
        if failed:
            lines += [
                "",
                f"**{len(failed)} check(s) failed** (next): these numbers may overstate the defenses.",
            ]
    lines += ["", "## Checks", ""]
    for c in sorted(summary["checks"], key=lambda c: c["ok"] is not False):
        mark = {True: "passed", False: "**FAILED**", None: "n/a"}[c["ok"]]
        lines.append(f"- {mark}: {c['name']} — {c['detail']}")
    if failed:
        lines += ["", f"{len(failed)} check(s) failed: read the numbers below with that in mind."]
    for exp in summary["experiments"]:
        lines += ["", f"## {exp['title']} ({exp['name']})", ""]
        if exp.get("limit"):
            lines += [f"On the first {exp['limit']} counted images.", ""]
        lines += experiment_table(summary, exp)
        f = summary.get("frontiers", {}).get(exp["name"])
        if f:
            lines += ["", *_frontier_lines(summary, exp["name"], f)]
    t = summary["throughput"]
    if t["image_iterations_per_second"]:
        lines += [
            "",
            f"Throughput: {t['image_iterations']} attacked image-iterations in "
            f"{t['attack_seconds']:.0f} s of "
            f"attack time = {t['image_iterations_per_second']:.2f} per second; "
            f"{t['seconds_total']:.0f} s of work in all.",
        ]
    return "\n".join(lines) + "\n"
