"""``rsdesk evaluate``: accuracy of defenses under attack on labelled images, into a run directory.

The options build a plan (or ``--plan`` names a preset or a plan file); the core's evaluation engine runs it
into ``--out`` (resuming whatever that directory already holds) and writes results.csv, summary.json,
summary.md and the figures. The command prints summary.md's tables, or with ``--json`` summary.json as
one line.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def attack_names(args: argparse.Namespace) -> list[str]:
    """The attacks ``--attacks`` (or the older ``--attack``) names; BIM when neither is given."""
    return [n.strip() for n in (args.attacks or args.attack or "bim").split(",") if n.strip()]


def plan_from_options(args: argparse.Namespace) -> dict[str, Any]:
    """The plan the options describe, made by the core's one plan builder (the Evaluate tab's too).

    ``--strengths`` are the L∞ attacks' ε, and every attack's when no L∞ attack runs; ``--l2-strengths``
    are the relative-L2 attacks' d."""
    from rsdesk.core.attacks import attack_class
    from rsdesk.core.attacks.base import LINF, RELATIVE_L2
    from rsdesk.core.defenses.base import DICTIONARY_OPTION
    from rsdesk.core.evaluation.builder import Choices, parse_strengths, plan_from_choices

    names = attack_names(args)
    check_attack_options(args, names, ("steps",))
    general = parse_strengths(args.strengths, "--strengths")
    l2 = parse_strengths(args.l2_strengths, "--l2-strengths")
    kinds = {attack_class(n).strength.kind for n in names}
    linf_runs = LINF.kind in kinds
    strengths = {kind: general if kind == LINF.kind or not linf_runs else () for kind in kinds}
    if l2:
        strengths[RELATIVE_L2.kind] = l2
    for n in names:
        cls = attack_class(n)
        if cls.strength.kind == RELATIVE_L2.kind and not strengths[RELATIVE_L2.kind]:
            raise ValueError(f"--l2-strengths: give the d values for {cls.short_title} (e.g. 0.01,0.1,0.2)")
    defenses = tuple(n.strip() for n in args.defenses.split(",") if n.strip())
    per_defense = parse_defense_set(args.set)
    unknown = [d for d in per_defense if d not in defenses]  # in the order typed
    if unknown:
        raise ValueError(f"--set names a defense not in --defenses: {', '.join(unknown)}")
    return plan_from_choices(
        Choices(
            attacks=tuple(names),
            strengths=strengths,
            defenses=defenses,
            defense_params=per_defense,
            steps=args.steps,
            threat="transfer" if args.source else "graybox",
            source=args.source,
            source_weights=args.source_weights,
            files={DICTIONARY_OPTION: args.dictionary},
            quantize=args.quantize,
            precision=args.precision or "fp32",
        )
    )


def build_plan(args: argparse.Namespace) -> dict[str, Any]:
    """``--plan`` (a preset name or a JSON file) or the plan the options describe."""
    from rsdesk.core.defenses.base import DICTIONARY_OPTION
    from rsdesk.core.evaluation import PRESETS, load_plan_file, preset
    from rsdesk.core.evaluation.builder import with_learned_files
    from rsdesk.core.evaluation.retrained import attach_models, parse_model_options

    if args.plan:
        data = preset(args.plan, args.source, args.source_weights) if args.plan in PRESETS else None
        if data is None:
            if not Path(args.plan).is_file():
                raise ValueError(
                    f"--plan: {args.plan!r} is neither a preset ({', '.join(PRESETS)}) nor a file"
                )
            data = load_plan_file(args.plan)
        if args.dictionary:  # each RegionSparse row that names no dictionary of its own (not ablations)
            data = with_learned_files(data, {DICTIONARY_OPTION: args.dictionary})
    else:
        data = plan_from_options(args)
    data = attach_models(data, parse_model_options(getattr(args, "model", None)))
    if args.all_images:
        data["protocol"] = "all"
    if args.precision:  # over a plan file's or a preset's own
        data["precision"] = args.precision
    return data


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the evaluation; print its tables, or summary.json as one line with ``--json``."""
    from rsdesk.core.errors import ClusterError
    from rsdesk.core.evaluation import collect_images, parse_plan, run_evaluation
    from rsdesk.core.evaluation.report import markdown
    from rsdesk.core.models.classifier import resolve_device
    from rsdesk.core.models.precision import require_precision

    if args.threads < 0:
        raise ValueError(f"--threads must be 0 (torch's choice) or more, got {args.threads}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    plan = build_plan(args)
    parsed = parse_plan(plan)  # every parameter checked now, before the images are read
    require_precision(parsed.precision, resolve_device(args.device))
    if args.out:
        check_output_folder(args.out, "results.csv")
    problems: list[str] = []

    def problem(text: str) -> None:
        problems.append(text)
        print_error(text)

    unlabelled: list[str] = []
    items = collect_images(args.folder, limit=args.limit, on_problem=problem, on_unlabelled=unlabelled.append)
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
                on_note=lambda text: write_line(f"note: {text}", sys.stderr),
                skipped=problems + unlabelled,
            )
    except ClusterError as exc:
        kept = f"; finished results are kept in {out}: run the same command to resume" if args.out else ""
        written = args.out and (out / "results.csv").is_file()
        print_error(f"{exc}{kept if written else ''}")
        return 1
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
