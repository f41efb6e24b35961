"""``rsdesk evaluate``: top-1 accuracy of defenses under attack on labelled images."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rsdesk.cli.output import load_model, print_error
from rsdesk.cli.progress import ProgressBar, write_line

if TYPE_CHECKING:
    from rsdesk.core.defenses import Defense
    from rsdesk.core.evaluate import SweepResult

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


def build_defenses(args: argparse.Namespace) -> dict[str, Defense]:
    """The ``--defenses`` list, built and checked up front; keyed by name (JSON) or title (table), a
    repeated defense numbered (``#2``) so that both columns survive."""
    from rsdesk.core.defenses import create_defense

    per_defense = parse_defense_set(args.set)
    defenses: dict[str, Defense] = {}
    for name in [n.strip() for n in args.defenses.split(",") if n.strip()]:
        d = create_defense(name, per_defense.get(name, {}), dictionary=args.dictionary, device=args.device)
        key = d.name if args.json else d.title
        n = 2
        while key in defenses:  # the same defense twice (e.g. with different --set values)
            key = f"{d.name if args.json else d.title} #{n}"
            n += 1
        defenses[key] = d
    return defenses


def _print_table(
    args: argparse.Namespace, res: SweepResult, title: str, defenses: dict[str, Defense]
) -> None:
    """The text report: a header, the accuracy table, the attack's own success, each defense's settings."""
    write_line(f"{res.n_images} images, attack {args.attack}, classifier {title}, {res.seconds:.0f} s")
    write_line(res.table())
    write_line(
        "attack success on the bare classifier: "
        + ", ".join(
            f"{s:g}: " + ("n/a (attacked through each defense)" if a != a else f"{100 * a:.0f}%")
            for s, a in zip(res.strengths, res.attack_success)
        )
    )
    for d in defenses.values():
        if d.values:
            write_line(f"  {d.describe()}")


def run(args: argparse.Namespace) -> int:
    """Load the labelled images, sweep attack strengths × defenses, print the table (or one JSON object)."""
    from rsdesk.core.datasets import load_labelled_set
    from rsdesk.core.evaluate import sweep

    model = load_model(args)
    data = load_labelled_set(args.folder, limit=args.limit, on_problem=print_error)
    if not data.images:
        print_error(NO_LABELS)
        return 1
    defenses = build_defenses(args)
    strengths = [float(s) for s in args.strengths.split(",") if s.strip()]
    attack_params = {"steps": args.steps} if args.steps else {}
    with ProgressBar("evaluate", not args.quiet) as bar:
        res = sweep(
            model,
            data.images,
            data.labels,
            args.attack,
            strengths,
            defenses,
            attack_params,
            quantize_adversarial=args.quantize,
            progress=bar,
        )
    if args.json:
        write_line(json.dumps(res.as_dict()))
    else:
        _print_table(args, res, model.spec.title, defenses)
    return 1 if data.problems else 0
