"""Attack cost per iteration against one forward+backward pass, and against torchattacks, same run.

EfficientNet-Lite0 at 224 px on dev images: times one forward+backward w.r.t. the input, then BIM,
MI-FGSM (10 steps) and CW-L2 (20 steps) from RSDesk and from torchattacks on the same model and inputs,
for a single image and for a batch of 8.

    python benchmarks/bench_attacks.py [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
import torchattacks
from _common import dev_images, emit, machine, print_table, timeit

from rsdesk.core.attacks import create_attack
from rsdesk.core.io.images import load_image
from rsdesk.core.models.classifier import load_classifier


def count_forwards(model: torch.nn.Module, fn: Callable[[], object]) -> int:
    """How many forward passes ``fn`` makes through ``model``."""
    calls = 0

    def hook(*_: object) -> None:
        nonlocal calls
        calls += 1

    handle = model.register_forward_hook(hook)
    try:
        fn()
    finally:
        handle.remove()
    return calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(machine(), "| device", args.device)
    model = load_classifier(device=args.device)
    files = dev_images(8)
    batch = model.to_tensor([load_image(f) for f in files])
    with torch.no_grad():
        labels = model(batch).argmax(1)
    steps = 10
    rows, ratios = [], {}
    for b in (1, 8):
        x, y = batch[:b], labels[:b]

        def fwd_bwd(x: torch.Tensor = x, y: torch.Tensor = y) -> None:
            xg = x.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)

        t_fb = timeit(fwd_bwd, repeats=args.repeats * 3)["median"]
        rows.append([f"forward+backward (batch {b})", f"{1000 * t_fb:.1f}", "", ""])
        cases = [
            (
                "BIM",
                create_attack("bim", eps=8, steps=steps),
                torchattacks.BIM(model, eps=8 / 255, alpha=0.8 / 255, steps=steps),
                steps,
            ),
            (
                "MI-FGSM",
                create_attack("mifgsm", eps=8, steps=steps),
                torchattacks.MIFGSM(model, eps=8 / 255, alpha=0.8 / 255, steps=steps, decay=1.0),
                steps,
            ),
            (
                "CW-L2",
                create_attack("cw", c=0.1, steps=20, lr=0.01),
                torchattacks.CW(model, c=0.1, kappa=0, steps=20, lr=0.01),
                20,
            ),
        ]
        for name, ours, theirs, n_iter in cases:
            run_ours = partial(ours.perturb, model, x, y, None, None, None)
            t_ours = timeit(run_ours, repeats=args.repeats)["median"]
            t_theirs = timeit(partial(theirs, x, y), repeats=args.repeats)["median"]
            # torchattacks' CW stops early once its loss stops falling: count its real iterations
            # (forward passes) instead of trusting the nominal step count.
            their_iters = max(1, count_forwards(model, partial(theirs, x, y)))
            per_iter = t_ours / n_iter
            rows.append(
                [
                    f"{name} (batch {b}), per iteration",
                    f"{1000 * per_iter:.1f}",
                    f"{1000 * t_theirs / their_iters:.1f} ({their_iters} it.)",
                    f"{per_iter / t_fb:.3f}",
                ]
            )
            ratios[(name, b)] = (per_iter / (t_theirs / their_iters), per_iter / t_fb)
        if b == 8:
            single = next(r for r in rows if r[0].startswith("BIM (batch 1)"))
            print(
                f"batch of 8: BIM {float(rows[-3][1]) / 8:.1f} ms per image-iteration "
                f"vs {float(single[1]):.1f} ms one image at a time"
            )
    print_table(["measurement", "RSDesk ms", "torchattacks ms", "RSDesk / fwd+bwd"], rows)
    emit(
        {
            "bim_time_ratio_vs_torchattacks": round(ratios[("BIM", 1)][0], 3),
            "iteration_over_fwd_bwd": round(ratios[("BIM", 1)][1], 3),
            "mifgsm_time_ratio_vs_torchattacks": round(ratios[("MI-FGSM", 1)][0], 3),
            "cw_time_ratio_vs_torchattacks": round(ratios[("CW-L2", 1)][0], 3),
            "bim_batch8_iteration_over_fwd_bwd": round(ratios[("BIM", 8)][1], 3),
        }
    )


if __name__ == "__main__":
    main()
