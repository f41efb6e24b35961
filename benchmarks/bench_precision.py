"""What bf16 attack gradients buy and cost: BIM in fp32 against BIM under bf16 autocast, same run.

EfficientNet-Lite0 at 224 px with channels-last weights (as the evaluation engine runs it), BIM ε 4/255,
10 steps, batches of 8 on the dev images with their labels. Per batch, fp32 and bf16 alternate which goes
first, so load on a shared machine hits both alike. Reports seconds per attacked image, the fooled rate
among the images the model gets right clean (every verdict in fp32: ``Attack.run``), how many images the
two disagree on, and the agreement of the input gradient's signs at the clean images.

    python benchmarks/bench_precision.py [--images 100] [--batch 8] [--eps 4] [--steps 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np
import torch
import torch.nn.functional as F
from _common import DEV, dev_images, emit, machine, print_table

from rsdesk.core.attacks import create_attack
from rsdesk.core.io.images import load_image
from rsdesk.core.models.classifier import load_classifier
from rsdesk.core.models.precision import PRECISIONS, gradient_model, require_precision


def input_gradient(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    return g


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--eps", type=float, default=4.0)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    # 1 on a shared machine: two torch threads on two busy cores mostly wait for each other
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(machine(), "| device", args.device)
    model = load_classifier(device=args.device)
    require_precision("bf16", model.device)
    model.net.to(memory_format=torch.channels_last)
    with open(DEV / "labels.csv", newline="", encoding="utf-8") as fh:
        labels = {row["file"]: int(row["class_index"]) for row in csv.DictReader(fh)}
    files = [p for p in dev_images() if p.name in labels][: args.images]
    x_all = model.to_tensor([model.prepare(load_image(p)) for p in files])
    y_all = torch.tensor([labels[p.name] for p in files], device=model.device)
    with torch.no_grad():
        correct = (model.probabilities(x_all).argmax(1) == y_all).cpu().numpy()
    bim = create_attack("bim", eps=args.eps, steps=args.steps)
    bim.run(model, x_all[:2], labels=y_all[:2], precision="bf16")  # warm both paths up
    bim.run(model, x_all[:2], labels=y_all[:2])
    seconds = dict.fromkeys(PRECISIONS, 0.0)
    fooled: dict[str, list[bool]] = {p: [] for p in PRECISIONS}
    same_sign, total_sign = 0, 0
    for n, start in enumerate(range(0, len(files), args.batch)):
        x, y = x_all[start : start + args.batch], y_all[start : start + args.batch]
        order = PRECISIONS if n % 2 == 0 else PRECISIONS[::-1]
        for precision in order:
            t = time.perf_counter()
            outs = bim.run(model, x, labels=y, precision=precision)
            seconds[precision] += time.perf_counter() - t
            fooled[precision] += [o.success for o in outs]
        g32 = input_gradient(model, x, y)
        g16 = input_gradient(gradient_model(model, "bf16"), x, y)
        same_sign += int((g32.sign() == g16.sign()).sum())
        total_sign += g32.numel()
        print(f"  {start + len(x)}/{len(files)} images", flush=True)
    counted = int(correct.sum())
    rows, rates = [], {}
    for precision in PRECISIONS:
        hits = int(np.asarray(fooled[precision])[correct].sum())
        rates[precision] = hits / max(counted, 1)
        per_image = seconds[precision] / len(files)
        rows.append([precision, f"{per_image:.3f}", f"{hits}/{counted}", f"{100 * rates[precision]:.1f} %"])
    print_table(["precision", "s / image", "fooled (of clean-correct)", "fooled rate"], rows)
    speedup = seconds["fp32"] / seconds["bf16"]
    a, b = (np.asarray(fooled[p])[correct] for p in PRECISIONS)
    disagree = int((a != b).sum())
    agreement = same_sign / total_sign
    print(
        f"BIM ε {args.eps:g}/255, {args.steps} steps, batch {args.batch}, {len(files)} images: bf16 "
        f"{speedup:.2f}× faster; fooled rate bf16 − fp32 {100 * (rates['bf16'] - rates['fp32']):+.1f} points "
        f"({disagree} images judged differently); gradient-sign agreement at the clean images "
        f"{100 * agreement:.1f} %"
    )
    emit(
        {
            "bench": "precision",
            "images": len(files),
            "clean_correct": counted,
            "fp32_s_per_image": round(seconds["fp32"] / len(files), 4),
            "bf16_s_per_image": round(seconds["bf16"] / len(files), 4),
            "speedup": round(speedup, 3),
            "fp32_fooled_rate": round(rates["fp32"], 4),
            "bf16_fooled_rate": round(rates["bf16"], 4),
            "images_judged_differently": disagree,
            "grad_sign_agreement": round(agreement, 4),
        }
    )


if __name__ == "__main__":
    main()
