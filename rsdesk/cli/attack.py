"""``rsdesk attack``: craft adversarial examples, save them, and judge success on the saved files.

Judged as the window judges (``core/verdicts``): an image the model gets wrong before the attack is never
"fooled" (there was nothing to fool), so each batch's clean images are classified once first."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rsdesk.cli.options import check_attack_options, check_output_folder
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

if TYPE_CHECKING:
    import numpy as np
    import torch

    from rsdesk.core.models.classifier import Classifier
    from rsdesk.core.params import Param
    from rsdesk.core.verdicts import Judgement


def attack_params() -> dict[str, list[tuple[str, Param]]]:
    """Every parameter of every registered attack this command runs (not a defense-aware one: it needs a
    defense to go through), by name: the attacks that take it and their spec. The command line's attack
    options are these, so a new attack's parameter is an option without an edit."""
    from rsdesk.core.attacks import ATTACKS

    out: dict[str, list[tuple[str, Param]]] = {}
    for cls in ATTACKS.values():
        if cls.defense_aware:
            continue
        for p in cls.PARAMS:
            if not p.is_bool:
                out.setdefault(p.name, []).append((cls.short_title, p))
    return out


def add_options(p: argparse.ArgumentParser) -> None:
    """``--attack`` and one option per attack parameter (``--eps``, ``--steps``, ``--binary-steps`` …); an
    option not given (None) keeps the attack's default."""
    from rsdesk.core.attacks import ATTACKS

    names = ", ".join(n for n, cls in ATTACKS.items() if not cls.defense_aware)
    p.add_argument("--attack", default="bim", help=f"{names} (default bim)")
    for name, takers in attack_params().items():
        spec = takers[0][1]
        which = ", ".join(dict.fromkeys(t for t, _ in takers))
        extra = f"; {spec.help}" if spec.help else ""
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=str if spec.choices else int if spec.integer else float,
            choices=spec.choices or None,
            help=f"{spec.label} ({which}){extra}",
        )


def _load_batch(model: Classifier, paths: list[Path], failures: Failures) -> list[tuple[Path, np.ndarray]]:
    """The decodable images of one batch, model-sized; the others are reported and counted."""
    good = []
    for path in paths:
        img = read_image(path, failures)
        if img is not None:
            good.append((path, model.prepare(img)))
    return good


def _clean_predictions(model: Classifier, x: torch.Tensor) -> list[int]:
    """The bare classifier's top-1 on each clean image: one batched pass, without gradients."""
    import torch

    with torch.no_grad():
        return [int(i) for i in model(x).argmax(1).tolist()]


def _verdict_text(judgement: Judgement, clean_correct: bool, success: bool) -> str:
    """The line's verdict, in the window's terms: never "fooled" for an image the model got wrong before
    the attack; the note says why when the words alone would mislead (a target missed, nothing to fool)."""
    from rsdesk.core.verdicts import Verdict

    note = f" ({judgement.note})" if judgement.note else ""
    if success:
        return "fooled" + note
    plain = clean_correct and judgement.verdict is Verdict.CORRECT  # "the attack did not change" it
    return "not fooled" + ("" if plain else note)


def run(args: argparse.Namespace) -> int:
    """Attack the inputs batch by batch; every parameter is checked before the model is loaded."""
    from rsdesk.core.attacks import attack_class, create_attack
    from rsdesk.core.io.datasets import LabelLookup
    from rsdesk.core.io.labels import require_class
    from rsdesk.core.models.classifier import resolve_device
    from rsdesk.core.models.precision import require_precision
    from rsdesk.core.verdicts import attack_success, judge_adversarial

    attack_class(args.attack)  # an unknown name first: it says which attacks there are
    names = list(attack_params())
    check_attack_options(args, [args.attack], names)
    params = {k: getattr(args, k) for k in names}
    attack = create_attack(args.attack, **{k: v for k, v in params.items() if v is not None})
    target = require_class(args.target) if args.target else None
    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    failures = Failures()
    paths = input_files(args.inputs, failures)
    if not paths:
        return failures.nothing_found(args.inputs)
    out_dir = check_output_folder(args.out, f"{paths[0].stem}_{attack.name}.{args.format}")
    precision = require_precision(args.precision, resolve_device(args.device))
    model = load_model(args)
    label_of = LabelLookup(failures.report)  # a broken labels.csv is named; its images still run
    used: set[Path] = set()

    # Several images share each attack step (one batched forward/backward is cheaper than many); only
    # one batch of images is in memory at a time.
    for start in range(0, len(paths), args.batch):
        chunk = _load_batch(model, paths[start : start + args.batch], failures)
        if not chunk:
            continue
        t0 = time.perf_counter()
        label = f"[{start + 1}-{start + len(chunk)}/{len(paths)}]"
        x = model.to_tensor([img for _, img in chunk])
        known = [label_of(p) for p, _ in chunk]
        clean = _clean_predictions(model, x)  # the attack needs no pass of its own: every label is given
        refs = [c if k is None else k for k, c in zip(known, clean)]
        with ProgressBar(f"{label} {attack.title}", not args.quiet) as bar:
            outcomes = attack.run(
                model,
                x,
                labels=refs,
                targets=target,
                progress=bar,
                precision=precision,
            )
        per_image = (time.perf_counter() - t0) / len(chunk)
        for (path, _), outcome, clean_pred in zip(chunk, outcomes, clean):
            t1 = time.perf_counter()
            clean_correct = clean_pred == outcome.reference  # no true label: the reference is this prediction
            saved, reloaded = save_output(
                out_dir / f"{path.stem}_{attack.name}", outcome.adversarial, args.format, used
            )
            pred = model.classify(reloaded)
            judgement = judge_adversarial(pred.index, outcome.reference, target, clean_correct=clean_correct)
            success = clean_correct and attack_success(pred.index, outcome.reference, target)
            rec = {
                "file": str(path),
                "out": str(saved),
                "top5": top5_record(pred),
                "success": bool(success),
                "clean_correct": bool(clean_correct),
                "l2": round(outcome.l2, 6),
                "d": round(outcome.d, 6),
                "linf": round(outcome.linf, 4),
                "iterations": outcome.iterations,
                "seconds": round(per_image + time.perf_counter() - t1, 4),
            }
            verdict = _verdict_text(judgement, clean_correct, success)
            emit(
                args,
                rec,
                f"{path} → {saved}: {verdict}; now {top5_text(pred)}; "
                f"L2 {outcome.l2:.3f}, L∞ {outcome.linf:.1f}/255",
            )
    return failures.exit_code
