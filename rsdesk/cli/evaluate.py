"""``rsdesk evaluate``: accuracy of defenses under attack on labelled images, into a run directory.

The options build a plan (or ``--plan`` names a preset or a plan file); the core's evaluation engine runs it
into ``--out`` (resuming whatever that directory already holds) and writes results.csv, summary.json,
summary.md and the figures. The command prints summary.md's tables, or with ``--json`` summary.json as
one line.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rsdesk.cli.interrupt import Interrupted
from rsdesk.cli.options import check_attack_options, check_output_folder
from rsdesk.cli.output import print_error
from rsdesk.cli.progress import ProgressBar, write_line

NO_LABELS = "no labelled images (need labels.csv beside them or an ImageNet synset in each file name)"


def parse_defense_set(values: Sequence[str] | None) -> dict[str, dict[str, object]]:
    """``--set DEFENSE.NAME=VALUE`` options, grouped by the defense name as typed in ``--defenses``."""
    per_defense: dict[str, dict[str, object]] = {}
    for item in values or []:
        key, _, value = item.partition("=")
        dname, _, pname = key.partition(".")
        if not pname:
            raise ValueError(f"--set expects DEFENSE.NAME=VALUE, got {item!r}")
        per_defense.setdefault(dname.strip(), {})[pname.strip()] = value.strip()
    return per_defense


def _numbers(text: str | None, option: str) -> list[float]:
    if text is None:
        return []
    out = []
    for part in text.split(","):
        if part.strip():
            try:
                value = float(part)
            except ValueError:
                raise ValueError(f"{option}: {part.strip()!r} is not a number") from None
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{option}: {part.strip()!r} is not a strength (a finite number ≥ 0)")
            out.append(value)
    return out


def attack_names(args: argparse.Namespace) -> list[str]:
    """The attacks ``--attacks`` (or the older ``--attack``) names; BIM when neither is given."""
    return [n.strip() for n in (args.attacks or args.attack or "bim").split(",") if n.strip()]


def plan_from_options(args: argparse.Namespace) -> dict[str, Any]:
    """The plan the options describe: one experiment, every attack × its strengths × every defense."""
    from rsdesk.core.attacks import attack_class

    names = attack_names(args)
    check_attack_options(args, names, ("steps",))
    linf = _numbers(args.strengths, "--strengths")
    l2 = _numbers(args.l2_strengths, "--l2-strengths")
    attacks: dict[str, Any] = {}
    grid: dict[str, list[float]] = {}
    any_linf = any(attack_class(n).strength.param == "eps" for n in names)
    for n in names:
        cls = attack_class(n)
        params = {}
        if args.steps is not None and any(p.name == "steps" for p in cls.PARAMS):
            params["steps"] = args.steps
        spec: dict[str, Any] = {"attack": cls.name, "params": params}
        key = cls.name
        if args.source and not cls.defense_aware:
            key = f"{cls.name}@{args.source.split('/')[-1]}"
            spec.update(source=args.source, source_weights=args.source_weights, threat="transfer")
        attacks[key] = spec
        is_d = cls.strength.param == "d"
        grid[key] = (l2 or (linf if not any_linf else [])) if is_d else linf
        if not grid[key]:
            raise ValueError(f"--l2-strengths: give the d values for {cls.short_title} (e.g. 0.01,0.1,0.2)")
    per_defense = parse_defense_set(args.set)
    defenses: dict[str, Any] = {}
    for name in [n.strip() for n in args.defenses.split(",") if n.strip()]:
        spec = {"defense": name, "params": per_defense.pop(name, {})}
        if args.dictionary:
            from rsdesk.core.defenses import defense_class

            if defense_class(name).needs_dictionary:
                spec["dictionary"] = args.dictionary
        defenses[name] = spec
    if per_defense:
        raise ValueError(f"--set names a defense not in --defenses: {', '.join(per_defense)}")
    return {
        "attacks": attacks,
        "defenses": defenses,
        "quantize": args.quantize,
        "experiments": [
            {
                "name": "evaluate",
                "kind": "curves",
                "title": "Accuracy vs attack strength",
                "attacks": grid,
                "defenses": list(defenses),  # "none" is the reference row of every experiment anyway
            }
        ],
    }


def build_plan(args: argparse.Namespace) -> dict[str, Any]:
    """``--plan`` (a preset name or a JSON file) or the plan the options describe."""
    from rsdesk.core.evaluation import PRESETS, load_plan_file, preset

    if args.plan:
        data = preset(args.plan, args.source, args.source_weights) if args.plan in PRESETS else None
        if data is None:
            if not Path(args.plan).is_file():
                raise ValueError(
                    f"--plan: {args.plan!r} is neither a preset ({', '.join(PRESETS)}) nor a file"
                )
            data = load_plan_file(args.plan)
    else:
        data = plan_from_options(args)
    if args.all_images:
        data["protocol"] = "all"
    return data


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the evaluation; print its tables, or summary.json as one line with ``--json``."""
    from rsdesk.core.evaluation import collect_images, parse_plan, run_evaluation
    from rsdesk.core.evaluation.report import markdown

    if args.threads < 0:
        raise ValueError(f"--threads must be 0 (torch's choice) or more, got {args.threads}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    plan = build_plan(args)
    parse_plan(plan)  # every parameter checked now, before the images are read
    if args.out:
        check_output_folder(args.out, "results.csv")
    problems: list[str] = []

    def problem(text: str) -> None:
        problems.append(text)
        print_error(text)

    items = collect_images(args.folder, limit=args.limit, on_problem=problem)
    if not items:
        print_error(NO_LABELS)
        return 1
    temp = None if args.out else tempfile.TemporaryDirectory(prefix="rsdesk-eval-")
    out = Path(args.out) if args.out else Path(temp.name)  # type: ignore[union-attr]
    try:
        with ProgressBar("evaluate", not args.quiet) as bar:
            summary = run_evaluation(
                plan,
                items,
                out,
                classifier=args.classifier,
                weights=args.weights,
                device=args.device,
                ray=args.ray,
                threads=args.threads,
                progress=bar,
                on_problem=problem,
            )
    except KeyboardInterrupt as exc:
        if args.out:
            raise Interrupted(
                f"interrupted: finished results are kept in {out}; run the same command to resume"
            ) from exc
        raise
    finally:
        if temp is not None:
            temp.cleanup()
    if args.json:
        write_line(json.dumps(summary, allow_nan=False, default=str, separators=(",", ":")))
    else:
        write_line(markdown(summary).rstrip())
        if args.out:
            write_line(f"\nrun directory: {out} (results.csv, summary.json, summary.md, figures/)")
    return 1 if problems else 0
