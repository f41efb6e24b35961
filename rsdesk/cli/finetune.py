"""``rsdesk finetune``: fine-tune a classifier on a defense's outputs and/or FGSM adversarial examples (the
paper's retrained models and Table II's adversarial-training rows), resumable after an interruption.

The options map one to one onto :class:`rsdesk.core.training.finetune.FinetuneConfig`; an option left out
keeps the core's default, and every value is checked by the core before an image is read.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from rsdesk.cli.interrupt import Interrupted
from rsdesk.cli.output import Failures, input_files
from rsdesk.cli.progress import ProgressBar, write_line

if TYPE_CHECKING:
    from rsdesk.core.training.finetune import EpochReport, FinetuneResult

#: option dest → FinetuneConfig field, for the options given as typed (None: the core's default)
_FIELDS = {
    "classifier": "classifier",
    "weights": "weights",
    "transform": "transform",
    "dictionary": "transform_file",
    "adversarial": "adversarial",
    "eps": "eps",
    "train": "train",
    "epochs": "epochs",
    "lr": "lr",
    "batch": "batch",
    "seed": "seed",
    "val_fraction": "val_fraction",
    "targets": "targets",
    "device": "device",
}


def add_options(p: argparse.ArgumentParser) -> None:
    """The command's options. No choices or defaults here: the core's config has them and checks them (a
    bad value is one ``error:`` line, exit 2), and ``--help`` stays free of torch."""
    p.add_argument("folder", nargs="+", help="folders or image files to train on")
    p.add_argument(
        "--out", required=True, metavar="MODEL.pth", help="the fine-tuned state dict (MODEL.json beside it)"
    )
    p.add_argument(
        "--transform", metavar="DEFENSE", help="train on this defense's outputs (e.g. regionsparse)"
    )
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="a parameter of --transform")
    p.add_argument(
        "--dictionary", metavar="F", help="RegionSparse dictionary .npz (default: the bundled one)"
    )
    p.add_argument(
        "--adversarial", metavar="fgsm", help="FGSM adversarial training (combines with --transform)"
    )
    p.add_argument("--eps", type=float, help="FGSM ε in /255 (default 8)")
    p.add_argument("--train", help="bn (default: BatchNorm only), head (the last layer) or all")
    p.add_argument("--epochs", type=int, help="default 3")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3 bn, 1e-4 head, 1e-5 all)")
    p.add_argument("--batch", type=int, help="images per step (default 8)")
    p.add_argument("--seed", type=int, help="shuffles, validation split and random defenses (default 0)")
    p.add_argument("--val-fraction", type=float, help="held-out validation images (default 0.2; 0: none)")
    p.add_argument("--targets", help="model (default: the starting model's predictions) or labels")
    p.add_argument("--classifier", help="the model to start from (default efficientnet-lite0)")
    p.add_argument("--weights", help="its weights file (default: the packaged one)")
    p.add_argument("--device", help="cpu (default), cuda, or auto")
    p.add_argument("--json", action="store_true", help="print each epoch and the metadata as JSON lines")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _parse_set(values: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        params[name.strip()] = value.strip()
    return params


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def epoch_text(r: EpochReport, transform_title: str | None) -> str:
    """``epoch 1/3: loss 0.412, validation clean 80.0% (before 75.0%), … 12.3 s, best so far``."""
    parts = [f"epoch {r.epoch}/{r.epochs}: loss {r.train_loss:.3f}"]
    if r.val_images:
        parts.append(f"validation clean {_pct(r.val_clean)} (before {_pct(r.val_clean_before)})")
        if r.val_transformed is not None:
            before = _pct(r.val_transformed_before)
            parts.append(f"through {transform_title} {_pct(r.val_transformed)} (before {before})")
    else:
        parts.append("no validation images")
    parts.append(f"{r.seconds:.1f} s" + (", best so far" if r.best and r.val_images else ""))
    return ", ".join(parts)


def _summary(result: FinetuneResult) -> str:
    meta = result.metadata
    if result.already_done:
        return (
            f"{result.out} is already fine-tuned with these settings and images ({result.metadata_path}); "
            "nothing to do"
        )
    val = meta["validation"]
    kept = f"epoch {meta['best_epoch']} of {meta['epochs']}"
    if val["images"]:
        after, before = val["after"], val["before"]
        kept += f", validation clean {_pct(after['clean'])} (before {_pct(before['clean'])})"
        if after["transformed"] is not None:
            kept += f", transformed {_pct(after['transformed'])} (before {_pct(before['transformed'])})"
    else:
        kept += ", the last (no validation images)"
    resumed = f"; resumed after epoch {result.resumed_from}" if result.resumed_from else ""
    return f"saved {result.out} ({kept}){resumed}; metadata {result.metadata_path}"


def _emit(args: argparse.Namespace, record: dict[str, Any]) -> None:
    write_line(json.dumps(record, allow_nan=False, default=str))


def run(args: argparse.Namespace) -> int:
    """Fine-tune (or resume, or find it finished); unusable images are reported and skipped (exit 1).

    ``--out`` is checked first; the options next (exit 2, one ``error:`` line); then the images. Ctrl-C
    keeps the last finished epoch's checkpoint beside ``--out``: the same command resumes after it.
    """
    from rsdesk.core.io.files import ensure_writable_destination
    from rsdesk.core.training.checkpoint import SUFFIX
    from rsdesk.core.training.finetune import FinetuneConfig, finetune

    out = ensure_writable_destination(args.out)
    given: dict[str, Any] = {f: getattr(args, d) for d, f in _FIELDS.items() if getattr(args, d) is not None}
    params = _parse_set(args.set)
    if params:
        given["transform_params"] = params
    config = FinetuneConfig(**given)
    config.validate()
    failures = Failures()
    files = input_files(args.folder, failures)
    if not files:
        return failures.nothing_found(args.folder)
    title = None
    if config.transform:
        from rsdesk.core.defenses import defense_class

        title = defense_class(config.transform).short_title

    def on_epoch(report: EpochReport) -> None:
        if args.json:
            _emit(args, {"type": "epoch", **report.as_dict()})
        else:
            write_line(epoch_text(report, title))

    checkpoint = out.with_name(out.name + SUFFIX)
    try:
        with ProgressBar("finetune", not args.quiet) as bar:
            result = finetune(files, config, out, progress=bar, on_epoch=on_epoch, on_problem=failures.report)
    except KeyboardInterrupt as exc:
        if checkpoint.is_file():
            raise Interrupted(
                f"interrupted: the finished epochs are kept in {checkpoint}; run the same command to resume"
            ) from exc
        raise Interrupted(
            "interrupted before an epoch finished; run the same command to start again"
        ) from exc
    if args.json:
        _emit(
            args,
            {
                "type": "result",
                "out": str(result.out),
                "metadata_path": str(result.metadata_path),
                "resumed_from": result.resumed_from,
                "already_done": result.already_done,
                "metadata": result.metadata,
            },
        )
    else:
        if result.restarted:
            write_line(
                f"note: the checkpoint beside {out.name} was of other settings or images; started afresh"
            )
        write_line(_summary(result))
    return failures.exit_code
