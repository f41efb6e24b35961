"""Parsing and routing for ``rsdesk``: every sub-command's options, the GUI's options, and the exit codes.

The first word decides: a command name runs that command, anything else (images, ``--screenshot``,
nothing) starts the window. Nothing here imports Qt or torch at import time, so ``rsdesk --help`` is quick
and the commands run where Qt's libraries are missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rsdesk import __version__
from rsdesk.cli import attack, classify, evaluate, finetune, purify, train, train_comdefend
from rsdesk.cli.interrupt import EXIT_INTERRUPTED, Interrupted, InterruptGuard, caused_by_interrupt
from rsdesk.cli.output import print_error


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from rsdesk.core.models.registry import DEFAULT_CLASSIFIER, FAMILIES

    p.add_argument(
        "--classifier",
        default=DEFAULT_CLASSIFIER,
        help=f"{DEFAULT_CLASSIFIER} (the default, bundled); any of " + ", ".join(f.hint for f in FAMILIES),
    )
    p.add_argument("--weights", help="weights file (state dict) for classifiers that need one")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _add_precision_arg(p: argparse.ArgumentParser, default: str | None) -> None:
    """``--precision fp32|bf16``: of the attacks' gradient steps only (the core's spec says which)."""
    from rsdesk.core.models.precision import PRECISION

    p.add_argument(
        "--precision",
        choices=PRECISION.choices,
        default=default,
        help=f"{' or '.join(PRECISION.choices)} (default {PRECISION.default}); {PRECISION.help}",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of the sub-commands (``rsdesk COMMAND ...``). The method lists and the attack options come
    from the core's registries (so building it imports torch: only a command line with a command does)."""
    from rsdesk.core.attacks import ATTACKS
    from rsdesk.core.defenses import DEFENSES
    from rsdesk.core.evaluation.presets import PRESETS
    from rsdesk.core.models.precision import PRECISION

    parser = argparse.ArgumentParser(
        prog="rsdesk",
        description="Adversarial attacks and the RegionSparse defense. Without a command, "
        "`rsdesk [--screenshot OUT.png] [IMAGES...]` starts the GUI.",
    )
    parser.add_argument("--version", action="version", version=f"rsdesk {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("classify", help="top-5 predictions for images")
    p.add_argument("inputs", nargs="+", metavar="IMG", help="image files or folders")
    _add_model_args(p)

    p = sub.add_parser("attack", help="craft adversarial examples")
    p.add_argument("inputs", nargs="+", metavar="IMG")
    attack.add_options(p)  # --attack and one option per parameter of the registered attacks
    p.add_argument("--target", help="target class (index, synset or name) for a targeted attack")
    p.add_argument(
        "--format",
        choices=("png", "npy"),
        default="png",
        help="png (8-bit, lossless) or npy (exact float); success is judged on the saved file",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--batch", type=int, default=8, help="images attacked together per step (default 8)")
    _add_precision_arg(p, PRECISION.default)
    _add_model_args(p)

    p = sub.add_parser("purify", help="purify images with RegionSparse or a baseline")
    p.add_argument("inputs", nargs="+", metavar="IMG")
    p.add_argument(
        "--defense",
        default="regionsparse",
        help=f"{', '.join(DEFENSES)} (default regionsparse)",
    )
    p.add_argument(
        "--dictionary",
        help="RegionSparse dictionary .npz (default: the bundled one; 'random': the noTR ablation)",
    )
    p.add_argument(
        "--defense-weights",
        metavar="F.pth",
        help="weights of a learned defense (ComDefend; default: the bundled ones, trained here)",
    )
    p.add_argument("--k", type=int, help="RegionSparse sparsity K")
    p.add_argument("--theta", type=float, help="RegionSparse θ")
    p.add_argument("--stride", type=int, help="RegionSparse patch stride")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="any defense parameter")
    p.add_argument("--format", choices=("png", "npy"), default="png")
    p.add_argument("--out", required=True, help="output folder")
    _add_model_args(p)

    p = sub.add_parser("train-dictionary", help="learn a RegionSparse dictionary from a folder of images")
    p.add_argument("folder", nargs="+", help="folders or image files of benign images")
    # Named as the training parameters are (dest): their defaults and ranges are the core's TRAINING_PARAMS,
    # applied when the command runs (importing them here would load the engine for ``--help``).
    p.add_argument("--h", type=float, help="NLM smoothing strength (0: none)")
    p.add_argument("--atoms", dest="n_atoms", type=int, help="dictionary size")
    p.add_argument("--patch-size", type=int, help="patches are b×b×3 pixels")
    p.add_argument("--patches-per-image", type=int, help="random patches sampled per image")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-normalize", action="store_true", help="skip Patch Normalization (noPN)")
    p.add_argument(
        "--learner",
        choices=("torch", "sklearn"),
        default="torch",
        help="torch: fast online learner with OMP coding (default); sklearn: the reference",
    )
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("train-comdefend", help="train ComDefend's compression model on a folder of images")
    train_comdefend.add_arguments(p)

    p = sub.add_parser(
        "evaluate",
        help="accuracy of defenses under attack on labelled images, into a resumable run directory",
    )
    p.add_argument("folder", nargs="+", help="labelled images (labels.csv beside them or synsets in names)")
    p.add_argument("--attacks", help=f"comma-separated attacks: {', '.join(ATTACKS)} (default bim)")
    p.add_argument("--attack", help=argparse.SUPPRESS)  # the one-attack spelling of earlier versions
    p.add_argument(
        "--strengths",
        default="8",
        help="comma-separated ε in /255 for L∞ attacks (default 8); d for L2 attacks when no L∞ attack runs",
    )
    p.add_argument("--l2-strengths", help="comma-separated d = ‖δ‖₂/‖x‖₂ for CW-L2 (e.g. 0.01,0.14,0.2)")
    p.add_argument("--steps", type=int, help="iterations of every iterative attack")
    p.add_argument("--defenses", default="none,regionsparse,jpeg,squeeze,tvm")
    p.add_argument("--dictionary", help="RegionSparse dictionary .npz ('random': the noTR ablation)")
    p.add_argument(
        "--set",
        action="append",
        metavar="DEFENSE.NAME=VALUE",
        help="defense parameter, e.g. regionsparse.k=3",
    )
    p.add_argument(
        "--plan",
        help=f"a plan file (JSON) or a preset: {', '.join(PRESETS)}",
    )
    p.add_argument(
        "--out", metavar="RUN_DIR", help="run directory (resumed if it exists); default: temporary"
    )
    p.add_argument("--all-images", action="store_true", help="count images the classifier gets wrong clean")
    p.add_argument("--source", help="transfer attacks: craft on this classifier (e.g. efficientnet-lite2)")
    p.add_argument("--source-weights", help="weights file of the --source classifier")
    p.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster ('local': a private one here)")
    p.add_argument("--quantize", action="store_true", help="round adversarial images to 8 bits first")
    p.add_argument("--limit", type=int, help="use only the first N labelled images")
    p.add_argument(
        "--model",
        action="append",
        metavar="ROW=FILE",
        help="judge the plan's defense row ROW by this retrained model (rsdesk finetune's output; its "
        "MODEL.json names the classifier); images it was fine-tuned on are left out of the run",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    _add_precision_arg(p, None)  # None: the plan's (a plan file's own, else fp32)
    _add_model_args(p)

    p = sub.add_parser("finetune", help="fine-tune a classifier on a defense's outputs and/or FGSM examples")
    finetune.add_options(p)  # every value is checked by the core's FinetuneConfig when the command runs
    return parser


def run_gui(images: Sequence[str], screenshot: str | None, open_run: str | None = None) -> int:
    """Start the window; Qt is imported only here, so a machine without its libraries still runs commands."""
    try:
        from rsdesk.gui.app import run
    except ImportError as exc:  # e.g. Qt's system libraries missing
        print_error(f"the GUI cannot start: {exc}")
        return 1
    return run(list(images), screenshot=screenshot, open_run=open_run)


#: Sub-command name → its ``run(args) -> exit code``.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "classify": classify.run,
    "attack": attack.run,
    "purify": purify.run,
    "train-dictionary": train.run,
    "train-comdefend": train_comdefend.run,
    "evaluate": evaluate.run,
    "finetune": finetune.run,
}


def build_gui_parser() -> argparse.ArgumentParser:
    """The parser used when the first word is not a command: ``rsdesk [--screenshot OUT.png] [IMAGES]``."""
    parser = argparse.ArgumentParser(
        prog="rsdesk",
        description="Start the RSDesk window. Commands: "
        + ", ".join(COMMANDS)
        + " (see `rsdesk COMMAND --help`).",
    )
    parser.add_argument("--version", action="version", version=f"rsdesk {__version__}")
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="render the window offscreen on the default settings after running the pipeline, then exit",
    )
    parser.add_argument(
        "--open-run",
        metavar="RUN_DIR",
        help="show this evaluation run directory on the Evaluate tab (with --screenshot: in the PNG)",
    )
    parser.add_argument("images", nargs="*", help="images or folders to open")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``rsdesk``: 0 done, 1 some input failed, 2 a bad option or parameter, 130 interrupted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # GUI images and sub-commands would share the first position: route on the first word.
    if not argv or argv[0] not in COMMANDS:
        gui_args = build_gui_parser().parse_args(argv)
        return run_gui(gui_args.images, gui_args.screenshot, gui_args.open_run)
    with InterruptGuard() as guard:
        try:
            args = build_parser().parse_args(argv)
            return COMMANDS[args.command](args)
        except SystemExit:
            raise  # argparse's own errors and --help
        except BaseException as exc:
            return _exit_code(exc, guard.interrupted)


def _exit_code(exc: BaseException, interrupted: bool) -> int:
    """One ``error:`` line for an exception that ended a command, and the exit status it means."""
    from rsdesk.core.errors import error_text

    if interrupted or caused_by_interrupt(exc):
        # after Ctrl-C, whatever broke on the way out (a half-written archive) is a consequence of it
        print_error(exc.message if isinstance(exc, Interrupted) else "interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, MemoryError):
        print_error(f"not enough memory to finish ({error_text(exc)})")
        return 1
    if isinstance(exc, (ValueError, OSError)):
        print_error(error_text(exc))
        return 2
    raise exc
