"""``rsdesk classify``: the top-5 prediction of every image."""

from __future__ import annotations

import argparse
import time

from rsdesk.cli.output import Failures, emit, input_files, load_model, read_image, top5_record, top5_text
from rsdesk.cli.progress import ProgressBar


def run(args: argparse.Namespace) -> int:
    """Classify each input in turn; a bad input is one error line and the others are still classified.

    The inputs are walked before the model loads: when nothing usable is named, the command says so at
    once (exit 1) instead of loading a classifier for nothing.
    """
    failures = Failures()
    paths = input_files(args.inputs, failures)
    if not paths:
        return failures.nothing_found(args.inputs)
    model = load_model(args)
    with ProgressBar("classify", not args.quiet and len(paths) > 1) as bar:
        for n, path in enumerate(paths):
            t0 = time.perf_counter()
            img = read_image(path, failures)
            if img is not None:
                pred = model.classify(img)
                rec = {
                    "file": str(path),
                    "top5": top5_record(pred),
                    "seconds": round(time.perf_counter() - t0, 4),
                }
                emit(args, rec, f"{path}: {top5_text(pred)}")
            bar((n + 1) / len(paths), path.name)
    return failures.exit_code
