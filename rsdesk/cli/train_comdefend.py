"""``rsdesk train-comdefend``: train ComDefend's compression and reconstruction networks on benign images.

The weights go to ``--out`` (a plain state dict) with the training record beside it (``F.pth`` →
``F.json``); ``rsdesk purify --defense comdefend --defense-weights F.pth`` uses them. Every epoch is
checkpointed (``F.pth.ckpt``): the same command run again after Ctrl-C or a crash resumes after the last
finished epoch, and run again after it finished it does nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

from rsdesk.cli.interrupt import Interrupted
from rsdesk.cli.output import Failures, input_files
from rsdesk.cli.progress import ProgressBar, write_line

#: The command's options that set a training setting of the same name (the rest keep its default).
CONFIG_OPTIONS = ("epochs", "steps", "batch_size", "patch_size", "lr", "noise", "lam", "seed")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's options (defaults: :class:`~rsdesk.core.training.comdefend.ComDefendConfig`'s)."""
    p.add_argument("folder", nargs="+", help="folders or image files of benign images")
    p.add_argument("--out", required=True, metavar="F.pth", help="weights file (the record goes to F.json)")
    p.add_argument("--epochs", type=int, help="epochs (default 10)")
    p.add_argument("--steps", type=int, help="batches per epoch (default 100)")
    p.add_argument("--batch-size", type=int, help="crops per batch (default 8)")
    p.add_argument("--patch-size", type=int, help="side of the random square crops (default 32)")
    p.add_argument("--lr", type=float, help="Adam's learning rate (default 0.0005, falling on a cosine)")
    p.add_argument("--noise", type=float, help="σ of the noise on the code while training (default 20)")
    p.add_argument("--lam", type=float, help="λ, weight of the compactness term (default 0.0001)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the size)")
    p.add_argument(
        "--bf16", action="store_true", help="compute in bfloat16: much faster on CPUs with AMX / AVX-512 BF16"
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    """Train on every image found; unusable ones are reported and skipped (exit 1 at the end), none usable
    is exit 2, none found exit 1. ``--out`` is checked before any image is read."""
    from rsdesk.core.io.files import ensure_writable_destination
    from rsdesk.core.training.checkpoint import SUFFIX
    from rsdesk.core.training.comdefend import ComDefendConfig, train_comdefend

    ensure_writable_destination(args.out)
    ckpt = Path(args.out).with_name(Path(args.out).name + SUFFIX)
    given = {k: getattr(args, k) for k in CONFIG_OPTIONS if getattr(args, k) is not None}
    config = ComDefendConfig(**given, half=args.half, bf16=args.bf16)
    config.validate()
    failures = Failures()
    files = input_files(args.folder, failures)
    if not files:
        return failures.nothing_found(args.folder)
    epochs_done = 0

    def on_epoch(epoch: int, loss: float) -> None:
        nonlocal epochs_done
        epochs_done = epoch

    try:
        with ProgressBar("training", not args.quiet) as bar:
            result = train_comdefend(
                files, args.out, config, progress=bar, on_epoch=on_epoch, on_skip=failures.report
            )
    except KeyboardInterrupt as exc:
        if ckpt.is_file():
            when = f" after epoch {epochs_done} of {config.epochs}" if epochs_done else ""
            raise Interrupted(
                f"interrupted{when}: the finished epochs are kept in {ckpt}; run the same command to resume"
            ) from exc
        raise
    if result.stale_checkpoint:
        write_line(f"note: {ckpt.name} was another run's (or damaged): trained afresh", sys.stderr)
    if args.json:
        record = dataclasses.asdict(result)
        record.update(out=str(result.out), record=str(result.record))
        if not math.isfinite(record["final_loss"]):
            record["final_loss"] = None
        write_line(json.dumps(record, allow_nan=False))
    else:
        write_line(result.describe())
    return failures.exit_code
