"""The paper's evaluation on the dev images, into benchmarks/results/dev/ (run by hand; about an hour on 2 CPU
cores): Table II's gray-box grid (FGSM, BIM at L∞ 2/14/22; CW-L2, MI-FGSM at d 0.01/0.14/0.2) for no defense,
RegionSparse, JPEG, feature squeezing and TVM; Fig. 4's ablations at L∞ 10 and d 0.1; Fig. 8's transfer from
EfficientNet-Lite2; BPDA (EOT 4 through TVM) against every defense on the first 40 counted images; and the
robust-vs-clean frontier of RegionSparse (K 1…12), JPEG, feature squeezing, TVM and the bilateral filter under
BIM ε 8. The run directory is resumable: interrupt it and run the same command again.

    python benchmarks/eval_paper.py [--out benchmarks/results/dev] [--limit N] [--ray local]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import DEV, ROOT, machine
from tqdm import tqdm

from rsdesk.core.evaluation import preset, run_evaluation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dev"))
    ap.add_argument("--limit", type=int, help="only the first N labelled images (a quick look)")
    ap.add_argument("--source", default="efficientnet-lite2", help="transfer source (Fig. 8)")
    ap.add_argument("--ray", help="'local' or a Ray address")
    args = ap.parse_args()
    if not DEV.is_dir():
        raise SystemExit(f"benchmark data not found: {DEV}")
    print(machine())
    bar = tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| [{elapsed}<{remaining}] {postfix}")

    def progress(fraction: float, message: str) -> None:
        bar.n = int(1000 * fraction)
        bar.set_postfix_str(message)

    t0 = time.perf_counter()
    summary = run_evaluation(
        preset("paper-all", source=args.source),
        [DEV],
        Path(args.out),
        limit=args.limit,
        ray=args.ray,
        progress=progress,
        on_problem=print,
    )
    bar.close()
    wall = time.perf_counter() - t0
    print((Path(args.out) / "summary.md").read_text())
    failed = [c["name"] for c in summary["checks"] if c["ok"] is False]
    print(
        json.dumps(
            {
                "bench": "eval_paper",
                "wall_s_this_session": round(wall, 1),
                "n_images": summary["n_images"],
                "n_counted": summary["n_counted"],
                "complete": summary["complete"],
                "checks_failed": failed,
                "throughput": summary["throughput"],
            }
        )
    )


if __name__ == "__main__":
    main()
