"""``rsdesk train-dictionary``: learn a RegionSparse dictionary from benign images."""

from __future__ import annotations

import argparse

from rsdesk.cli.output import Failures, input_files, print_error
from rsdesk.cli.progress import ProgressBar, write_line


def run(args: argparse.Namespace) -> int:
    """Train on every image found; unusable ones are reported and skipped (exit 1), none at all is exit 1.

    ``--out`` is checked first: a destination that cannot be written fails in a second, not after the
    training. The save is atomic, so Ctrl-C or a full disk while saving leaves no partial file.
    """
    from rsdesk.core.io.files import ensure_writable_destination
    from rsdesk.core.sparse.dictionary_file import save_dictionary
    from rsdesk.core.sparse.training import TRAINING_PARAMS, TrainingConfig, train_dictionary

    ensure_writable_destination(args.out)
    # An option left out keeps the spec's default; every one given is range-checked against its spec.
    given = {p.name: getattr(args, p.name) for p in TRAINING_PARAMS if getattr(args, p.name) is not None}
    cfg = TrainingConfig(
        **given,
        normalize=not args.no_normalize,
        seed=args.seed,
        epochs=args.epochs,
        learner=args.learner,
    )
    cfg.validate()
    failures = Failures()
    files = input_files(args.folder, failures)
    if not files:
        return failures.nothing_found(args.folder)
    with ProgressBar("training", not args.quiet) as bar:
        d = train_dictionary(files, cfg, progress=bar, on_skip=print_error)
    out = save_dictionary(args.out, d)
    write_line(f"saved {out}: {d.describe()}; {d.provenance}")
    return 1 if failures.count or d.n_images < len(files) else 0
