"""``rsdesk classify``: the top-5 prediction of every image."""

from __future__ import annotations

import argparse
import time

from rsdesk.cli.output import Failures, emit, input_files, load_model, read_image, top5_record, top5_text


def run(args: argparse.Namespace) -> int:
    """Classify each input in turn; a bad input is one error line and the others are still classified."""
    model = load_model(args)
    failures = Failures()
    for path in input_files(args.inputs, failures):
        t0 = time.perf_counter()
        img = read_image(path, failures)
        if img is None:
            continue
        pred = model.classify(img)
        rec = {"file": str(path), "top5": top5_record(pred), "seconds": round(time.perf_counter() - t0, 4)}
        emit(args, rec, f"{path}: {top5_text(pred)}")
    return failures.exit_code
