"""The ``rsdesk`` command line: classify, attack, purify, train-dictionary, evaluate; no command: the GUI.

Every command takes many images or folders in one process, prints one clear line per bad input and keeps
going, and exits non-zero if any input failed. With ``--json`` it prints one JSON object per image; the keys
``file``, ``top5`` ([{"index", "label", "prob"}]), ``seconds``, and for attack ``out``, ``success``, ``l2``,
``linf``, ``iterations`` (for purify ``out``) are a public contract.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rsdesk import __version__


class ProgressBar:
    """A minimal stderr progress bar: redraws in place on a terminal, prints sparse lines otherwise."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last = -1.0
        self._t0 = time.perf_counter()

    def __call__(self, fraction: float, message: str = "") -> None:
        if not self.enabled:
            return
        if not self.tty and fraction - self._last < 0.1 and fraction < 1.0:
            return
        self._last = fraction
        elapsed = time.perf_counter() - self._t0
        eta = f" ~{elapsed / fraction * (1 - fraction):.0f}s left" if 0.02 < fraction < 1 else ""
        bar = "#" * int(30 * fraction)
        line = f"{self.label} [{bar:<30}] {100 * fraction:5.1f}% {message}{eta}"
        if self.tty:
            sys.stderr.write("\r" + line[:120].ljust(120))
            if fraction >= 1.0:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--classifier",
        default="efficientnet-lite0",
        help="efficientnet-lite0 (default, bundled), inception-v3, or torchvision/<arch>",
    )
    p.add_argument("--weights", help="weights file (state dict) for classifiers that need one")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _parse_set(values: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        if "=" not in item:
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def build_parser() -> argparse.ArgumentParser:
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
    p.add_argument("--attack", default="bim", help="fgsm, bim, mifgsm, cw (default bim)")
    p.add_argument("--eps", type=float, help="L∞ budget in /255 units (FGSM, BIM, MI-FGSM)")
    p.add_argument("--steps", type=int, help="iterations (BIM, MI-FGSM, CW)")
    p.add_argument("--alpha", type=float, help="step size in /255 (default ε/steps)")
    p.add_argument("--decay", type=float, help="MI-FGSM momentum μ (default 1.0)")
    p.add_argument("--c", type=float, help="CW-L2 constant c")
    p.add_argument("--kappa", type=float, help="CW-L2 margin κ")
    p.add_argument("--d", type=float, help="CW-L2: scale δ so that ‖δ‖₂/‖x‖₂ reaches d")
    p.add_argument("--target", help="target class (index, synset or name) for a targeted attack")
    p.add_argument(
        "--format",
        choices=("png", "npy"),
        default="png",
        help="png (8-bit, lossless) or npy (exact float); success is judged on the saved file",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--batch", type=int, default=8, help="images attacked together per step (default 8)")
    _add_model_args(p)

    p = sub.add_parser("purify", help="purify images with RegionSparse or a baseline")
    p.add_argument("inputs", nargs="+", metavar="IMG")
    p.add_argument(
        "--defense",
        default="regionsparse",
        help="regionsparse (default), jpeg, squeeze, tvm, bilateral, nlm, none",
    )
    p.add_argument(
        "--dictionary",
        help="RegionSparse dictionary .npz (default: the bundled one; 'random': the noTR ablation)",
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
    p.add_argument("--h", type=float, default=10.0, help="NLM smoothing strength (0: none)")
    p.add_argument("--atoms", type=int, default=256)
    p.add_argument("--patch-size", type=int, default=8)
    p.add_argument("--patches-per-image", type=int, default=2000)
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

    p = sub.add_parser("evaluate", help="top-1 accuracy of defenses under attack on labelled images")
    p.add_argument("folder", nargs="+", help="labelled images (labels.csv beside them or synsets in names)")
    p.add_argument("--attack", default="bim")
    p.add_argument("--strengths", default="8", help="comma-separated ε (/255), or d for cw (e.g. 2,8,14)")
    p.add_argument("--steps", type=int)
    p.add_argument("--defenses", default="none,regionsparse,jpeg,squeeze,tvm,bilateral,nlm")
    p.add_argument("--dictionary", help="RegionSparse dictionary .npz ('random': the noTR ablation)")
    p.add_argument(
        "--set",
        action="append",
        metavar="DEFENSE.NAME=VALUE",
        help="defense parameter, e.g. regionsparse.k=3",
    )
    p.add_argument("--quantize", action="store_true", help="round adversarial images to 8 bits first")
    p.add_argument("--limit", type=int, help="use only the first N images")
    _add_model_args(p)
    return parser


def _load_model(args: argparse.Namespace):  # noqa: ANN202
    from rsdesk.core.classifier import load_classifier

    return load_classifier(args.classifier, args.weights, args.device)


def _expand(inputs: Sequence[str]) -> list[Path]:
    from rsdesk.core.images import list_images

    return list_images(inputs)


def _emit(args: argparse.Namespace, record: dict, text: str) -> None:
    print(json.dumps(record) if args.json else text, flush=True)


def _top5_text(top: list) -> str:
    return ", ".join(f"{c.label} {c.prob:.2f}" for c in top[:3])


def cmd_classify(args: argparse.Namespace) -> int:
    from rsdesk.core.images import ImageError, load_image

    model = _load_model(args)
    failed = 0
    for path in _expand(args.inputs):
        t0 = time.perf_counter()
        try:
            pred = model.classify(load_image(path))
        except ImageError as exc:
            _err(str(exc))
            failed += 1
            continue
        top = pred.top(5)
        rec = {
            "file": str(path),
            "top5": [c.as_dict() for c in top],
            "seconds": round(time.perf_counter() - t0, 4),
        }
        _emit(args, rec, f"{path}: {_top5_text(top)}")
    return 1 if failed else 0


def _resolve_class(text: str) -> int:
    from rsdesk.core.labels import imagenet_classes

    classes = imagenet_classes()
    if text.isdigit() and 0 <= int(text) < len(classes):
        return int(text)
    idx = classes.index_of_synset(text)
    if idx is not None:
        return idx
    exact = [i for i, n in enumerate(classes.names) if n.lower() == text.lower()]
    hits = exact or classes.search(text)
    if len(hits) == 1:
        return hits[0]
    raise ValueError(f"target class {text!r} is {'ambiguous' if hits else 'unknown'}")


def _save_output(base: Path, img, fmt: str, used: set[Path]):  # noqa: ANN001, ANN202
    """Save as ``base.fmt`` and reload it; never over a file this run already wrote (same stems).

    The suffix is appended, not swapped in: ``with_suffix`` would cut a stem with dots (``a.v2_fgsm``).
    """
    from rsdesk.core.images import load_image, save_image

    out, n = base.with_name(f"{base.name}.{fmt}"), 1
    while out in used:
        n += 1
        out = base.with_name(f"{base.name}_{n}.{fmt}")
    used.add(out)
    saved = save_image(out, img)
    return saved, load_image(saved)


def cmd_attack(args: argparse.Namespace) -> int:
    from rsdesk.core.attacks import create_attack
    from rsdesk.core.images import ImageError, load_image
    from rsdesk.core.labels import true_label

    params = {k: getattr(args, k) for k in ("eps", "steps", "alpha", "decay", "c", "kappa", "d")}
    attack = create_attack(args.attack, **{k: v for k, v in params.items() if v is not None})
    target = _resolve_class(args.target) if args.target else None
    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    model = _load_model(args)
    out_dir = Path(args.out)
    paths = _expand(args.inputs)
    failed = 0
    used: set[Path] = set()

    def load_batch(batch_paths: list[Path]) -> list[tuple[Path, object]]:
        nonlocal failed
        good: list[tuple[Path, object]] = []
        for path in batch_paths:
            try:
                good.append((path, model.prepare(load_image(path))))
            except ImageError as exc:
                _err(str(exc))
                failed += 1
        return good

    # Several images share each attack step (one batched forward/backward is cheaper than many); only
    # one batch of images is in memory at a time.
    for start in range(0, len(paths), args.batch):
        chunk = load_batch(paths[start : start + args.batch])
        if not chunk:
            continue
        t0 = time.perf_counter()
        label = f"[{start + 1}-{start + len(chunk)}/{len(paths)}]"
        bar = ProgressBar(f"{label} {attack.title}", not args.quiet and not args.json)
        outcomes = attack.run(
            model,
            model.to_tensor([img for _, img in chunk]),
            labels=[true_label(p) for p, _ in chunk],
            targets=target,
            progress=bar,
        )
        per_image = (time.perf_counter() - t0) / len(chunk)
        for (path, _), outcome in zip(chunk, outcomes):
            t1 = time.perf_counter()
            saved, reloaded = _save_output(
                out_dir / f"{path.stem}_{attack.name}", outcome.adversarial, args.format, used
            )
            pred = model.classify(reloaded)
            success = pred.index == target if target is not None else pred.index != outcome.reference
            rec = {
                "file": str(path),
                "out": str(saved),
                "top5": [c.as_dict() for c in pred.top(5)],
                "success": bool(success),
                "l2": round(outcome.l2, 6),
                "d": round(outcome.d, 6),
                "linf": round(outcome.linf, 4),
                "iterations": outcome.iterations,
                "seconds": round(per_image + time.perf_counter() - t1, 4),
            }
            verdict = "fooled" if success else "not fooled"
            _emit(
                args,
                rec,
                f"{path} → {saved}: {verdict}; now {_top5_text(pred.top(5))}; "
                f"L2 {outcome.l2:.3f}, L∞ {outcome.linf:.1f}/255",
            )
    return 1 if failed else 0


def _defense_from_args(name: str, params: dict[str, object], dictionary: str | None, device: str):  # noqa: ANN202
    from rsdesk.core.classifier import resolve_device
    from rsdesk.core.defenses import RegionSparseDefense, create_defense
    from rsdesk.core.dictionary import random_dictionary

    d = create_defense(name, **params) if name != "regionsparse" and name != "rs" else None
    if d is None:
        # resolve_device turns "cuda without CUDA" into a clear error instead of a torch traceback
        dev = "cpu" if device == "auto" else resolve_device(device)
        # "random": Gaussian unit-norm atoms, the paper's noTR ablation (no trained dictionary)
        source = random_dictionary() if dictionary == "random" else dictionary
        d = RegionSparseDefense(dictionary=source, device=dev, **params)
    return d


def cmd_purify(args: argparse.Namespace) -> int:
    from rsdesk.core.images import ImageError, load_image

    params: dict[str, object] = dict(_parse_set(args.set))
    for k in ("k", "theta", "stride"):
        if getattr(args, k) is not None:
            params[k] = getattr(args, k)
    defense = _defense_from_args(args.defense.lower(), params, args.dictionary, args.device)
    model = _load_model(args)
    out_dir = Path(args.out)
    failed = 0
    used: set[Path] = set()
    paths = _expand(args.inputs)
    bar = ProgressBar("purify", not args.quiet and not args.json and len(paths) > 1)
    for n, path in enumerate(paths):
        t0 = time.perf_counter()
        try:
            img = model.prepare(load_image(path))
        except ImageError as exc:
            _err(str(exc))
            failed += 1
            continue
        result = defense.purify(img)
        saved, reloaded = _save_output(
            out_dir / f"{path.stem}_{defense.name}", result.purified, args.format, used
        )
        pred = model.classify(reloaded)
        rec = {
            "file": str(path),
            "out": str(saved),
            "top5": [c.as_dict() for c in pred.top(5)],
            "seconds": round(time.perf_counter() - t0, 4),
        }
        _emit(args, rec, f"{path} → {saved}: {_top5_text(pred.top(5))}")
        bar((n + 1) / len(paths), path.name)
    return 1 if failed else 0


def cmd_train(args: argparse.Namespace) -> int:
    from rsdesk.core.dictionary import TrainingConfig, save_dictionary, train_dictionary

    paths = _expand(args.folder)
    if not paths:
        _err("no images found in " + ", ".join(args.folder))
        return 1
    cfg = TrainingConfig(
        h=args.h,
        patch_size=args.patch_size,
        patches_per_image=args.patches_per_image,
        n_atoms=args.atoms,
        normalize=not args.no_normalize,
        seed=args.seed,
        epochs=args.epochs,
        learner=args.learner,
    )
    bar = ProgressBar("training", not args.quiet)
    d = train_dictionary(paths, cfg, progress=bar, on_skip=_err)
    out = save_dictionary(args.out, d)
    print(f"saved {out}: {d.describe()}; {d.provenance}")
    return 1 if d.n_images < len(paths) else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rsdesk.core.evaluate import sweep
    from rsdesk.core.images import ImageError, load_image
    from rsdesk.core.labels import read_labels_csv, true_label

    model = _load_model(args)
    paths = _expand(args.folder)
    images, labels, failed = [], [], 0
    csv_cache: dict[Path, dict[str, int]] = {}
    for path in paths:
        lab = true_label(path, csv_cache.setdefault(path.parent, read_labels_csv(path.parent)))
        if lab is None:
            continue
        try:
            images.append(load_image(path))
            labels.append(lab)
        except ImageError as exc:
            _err(str(exc))
            failed += 1
        if args.limit and len(images) >= args.limit:
            break
    if not images:
        _err("no labelled images (need labels.csv beside them or an ImageNet synset in each file name)")
        return 1
    per_defense: dict[str, dict[str, object]] = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        dname, _, pname = key.partition(".")
        if not pname:
            raise ValueError(f"--set expects DEFENSE.NAME=VALUE, got {item!r}")
        per_defense.setdefault(dname.strip(), {})[pname.strip()] = value.strip()
    defenses = {}
    for name in [n.strip() for n in args.defenses.split(",") if n.strip()]:
        d = _defense_from_args(name, per_defense.get(name, {}), args.dictionary, args.device)
        key = d.name if args.json else d.title
        n = 2
        while key in defenses:  # the same defense twice (e.g. with different --set values)
            key = f"{d.name if args.json else d.title} #{n}"
            n += 1
        defenses[key] = d
    strengths = [float(s) for s in args.strengths.split(",") if s.strip()]
    attack_params = {"steps": args.steps} if args.steps else {}
    bar = ProgressBar("evaluate", not args.quiet)
    res = sweep(
        model,
        images,
        labels,
        args.attack,
        strengths,
        defenses,
        attack_params,
        quantize_adversarial=args.quantize,
        progress=bar,
    )
    if args.json:
        print(json.dumps(res.as_dict()))
    else:
        print(
            f"{res.n_images} images, attack {args.attack}, classifier {model.spec.title}, {res.seconds:.0f} s"
        )
        print(res.table())
        print(
            "attack success on the bare classifier: "
            + ", ".join(
                f"{s:g}: " + ("n/a (attacked through each defense)" if a != a else f"{100 * a:.0f}%")
                for s, a in zip(res.strengths, res.attack_success)
            )
        )
        for d in defenses.values():
            if d.values:
                print(f"  {d.describe()}")
    return 1 if failed else 0


def run_gui(images: Sequence[str], screenshot: str | None) -> int:
    try:
        from rsdesk.gui.app import run
    except ImportError as exc:  # e.g. Qt's system libraries missing
        _err(f"the GUI cannot start: {exc}")
        return 1
    return run(list(images), screenshot=screenshot)


COMMANDS = {
    "classify": cmd_classify,
    "attack": cmd_attack,
    "purify": cmd_purify,
    "train-dictionary": cmd_train,
    "evaluate": cmd_evaluate,
}


def build_gui_parser() -> argparse.ArgumentParser:
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
        help="render the main window offscreen after running the pipeline, then exit",
    )
    parser.add_argument("images", nargs="*", help="images or folders to open")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # GUI images and sub-commands would share the first position: route on the first word.
    if not argv or argv[0] not in COMMANDS:
        gui_args = build_gui_parser().parse_args(argv)
        return run_gui(gui_args.images, gui_args.screenshot)
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except (ValueError, OSError) as exc:
        _err(str(exc))
        return 2
