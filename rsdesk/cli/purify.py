"""``rsdesk purify``: purify images with RegionSparse or a baseline defense and classify the result."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from rsdesk.cli.options import check_output_folder
from rsdesk.cli.output import (
    Failures,
    emit,
    input_files,
    load_model,
    read_image,
    save_output,
    top5_record,
    top5_text,
)
from rsdesk.cli.progress import ProgressBar

#: Defense parameters with an option of their own (the others go through ``--set NAME=VALUE``).
OPTION_PARAMS = ("k", "theta", "stride")


def parse_set(values: Sequence[str] | None) -> dict[str, str]:
    """``--set NAME=VALUE`` options as a dict; the defense checks names and values."""
    out: dict[str, str] = {}
    for item in values or []:
        if "=" not in item:
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def learned_file(args: argparse.Namespace) -> object:
    """The value of the defense's learned file: the option named as its :attr:`~LearnedFile.option`
    (``--dictionary`` for RegionSparse, ``--defense-weights`` for ComDefend); None for its default. A
    learned-file option given to a defense that takes another file, or none, is refused."""
    from rsdesk.core.defenses import learned_file_value

    return learned_file_value(args.defense, vars(args), lambda option: f"--{option.replace('_', '-')}: ")


def run(args: argparse.Namespace) -> int:
    """Purify each input; the defense is built (and its device checked) before the classifier loads."""
    from rsdesk.core.defenses import create_defense

    params: dict[str, object] = dict(parse_set(args.set))
    for k in OPTION_PARAMS:
        if getattr(args, k) is not None:
            params[k] = getattr(args, k)
    defense = create_defense(args.defense, params, file=learned_file(args), device=args.device)
    failures = Failures()
    used: set[Path] = set()
    paths = input_files(args.inputs, failures)
    if not paths:
        return failures.nothing_found(args.inputs)
    out_dir = check_output_folder(args.out, f"{paths[0].stem}_{defense.name}.{args.format}")
    model = load_model(args)
    with ProgressBar("purify", not args.quiet and len(paths) > 1) as bar:
        for n, path in enumerate(paths):
            t0 = time.perf_counter()
            img = read_image(path, failures)
            if img is not None:
                result = defense.purify(model.prepare(img))
                saved, reloaded = save_output(
                    out_dir / f"{path.stem}_{defense.name}", result.purified, args.format, used
                )
                pred = model.classify(reloaded)
                rec = {
                    "file": str(path),
                    "out": str(saved),
                    "top5": top5_record(pred),
                    "seconds": round(time.perf_counter() - t0, 4),
                }
                emit(args, rec, f"{path} → {saved}: {top5_text(pred)}")
            bar((n + 1) / len(paths), path.name)
    return failures.exit_code
