"""Full RegionSparse purification time at 224×224 and 299×299 (b = 8, 256 atoms, K = 4, stride 1 by
default), with each stage's share, plus the app's default stride for comparison.

    python benchmarks/bench_purify.py [--stride 1] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from _common import dev_images, emit, machine, print_table

from rsdesk.core.io.assets import default_dictionary_path
from rsdesk.core.io.images import load_image, resize_center_crop
from rsdesk.core.sparse.dictionary_file import load_dictionary
from rsdesk.core.sparse.purifier import RegionSparse, RegionSparseParams


def run(rs: RegionSparse, imgs: list[np.ndarray], repeats: int) -> dict[str, float]:
    rs.purify(imgs[0])  # warm-up
    totals, stages = [], {"seconds_localize": [], "seconds_sparse_code": [], "seconds_background": []}
    for _ in range(repeats):
        for img in imgs:
            info = rs.purify(img).info
            totals.append(info["seconds"])
            for key in stages:
                stages[key].append(info[key])
    out = {"median": statistics.median(totals), "min": min(totals), "max": max(totals)}
    out.update({k: statistics.median(v) for k, v in stages.items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(machine(), "| device", args.device)
    d = load_dictionary(default_dictionary_path())
    files = dev_images(args.images)
    rows, result = [], {}
    for size in (224, 299):
        imgs = [resize_center_crop(load_image(f), size) for f in files]
        for stride in dict.fromkeys((args.stride, RegionSparseParams().stride)):
            rs = RegionSparse(d, RegionSparseParams(k=args.k, stride=stride), device=args.device)
            t = run(rs, imgs, args.repeats)
            rows.append(
                [
                    f"{size}×{size}",
                    stride,
                    f"{1000 * t['median']:.1f}",
                    f"{1000 * t['min']:.1f}",
                    f"{1000 * t['max']:.1f}",
                    f"{1000 * t['seconds_localize']:.1f}",
                    f"{1000 * t['seconds_sparse_code']:.1f}",
                    f"{1000 * t['seconds_background']:.1f}",
                ]
            )
            if stride == args.stride:
                result[f"median_ms_{size}"] = round(1000 * t["median"], 1)
    print_table(
        ["image", "stride", "median ms", "min ms", "max ms", "localize", "sparse code", "background"], rows
    )
    emit(result)


if __name__ == "__main__":
    main()
