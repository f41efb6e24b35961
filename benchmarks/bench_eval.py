"""What the evaluation engine's attack loop costs per image-iteration: memory format × batch size, same run.

BIM (10 steps) on EfficientNet-Lite0 at 224 px, dev images, default (contiguous) against channels-last
weights, batches of 1 and 8, interleaved so that load on a shared machine hits every variant alike; checks
that both formats give the same adversarials (up to float rounding). The engine's default follows this.

    python benchmarks/bench_eval.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import dev_images, emit, machine, print_table

from rsdesk.core.attacks import create_attack
from rsdesk.core.io.images import load_image
from rsdesk.core.models.classifier import load_classifier


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(machine())
    model = load_classifier()
    imgs = [model.prepare(load_image(p)) for p in dev_images(8)]
    x8 = model.to_tensor(imgs)
    bim = create_attack("bim", eps=8, steps=10)
    times: dict[tuple[str, int], list[float]] = {}
    outs = {}
    for _ in range(args.repeats):
        for fmt in ("default", "channels_last"):
            model.net.to(
                memory_format=torch.channels_last if fmt == "channels_last" else torch.contiguous_format
            )
            for b in (1, 8):
                t = time.perf_counter()
                res = [bim.run(model, x8[i : i + b]) for i in range(0, 8, b)]
                times.setdefault((fmt, b), []).append((time.perf_counter() - t) / (8 * 10))
                outs[(fmt, b)] = np.stack([o.adversarial for r in res for o in r])
    base = statistics.median(times[("default", 1)])
    rows = []
    for (fmt, b), ts in times.items():
        m = statistics.median(ts)
        rows.append([fmt, b, f"{1000 * m:.0f}", f"{1000 * min(ts):.0f}", f"{base / m:.2f}×"])
    print_table(["format", "batch", "ms/img-iter (median)", "min", "speed-up vs default b1"], rows)
    diff = float(np.abs(outs[("default", 8)] - outs[("channels_last", 8)]).max() * 255)
    print(f"max |Δ adversarial| default vs channels-last: {diff:.3f}/255")
    emit(
        {
            "bench": "eval_attack_loop",
            **{f"{fmt}_b{b}_ms": round(1000 * statistics.median(ts), 1) for (fmt, b), ts in times.items()},
            "max_diff_255": round(diff, 3),
        }
    )


if __name__ == "__main__":
    main()
