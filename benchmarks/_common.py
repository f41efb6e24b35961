"""Helpers shared by the benchmark scripts: timing with repeats, a table, the dev images, machine info."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "imagenet-dev"


def dev_images(n: int | None = None, start: int = 0) -> list[Path]:
    """The ImageNet sample images in ../shared (sorted); benchmarks need them."""
    if not DEV.is_dir():
        sys.exit(f"benchmark data not found: {DEV} (the ../shared folder beside the repository)")
    files = sorted(p for p in DEV.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    return files[start : None if n is None else start + n]


def timeit(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median/min/max wall time in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def matmul_gflops(n: int = 1024, repeats: int = 10) -> float:
    """Measured fp32 matmul throughput of this machine with the current torch thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = timeit(lambda: a @ b, repeats=repeats, warmup=2)
    return 2 * n**3 / t["median"] / 1e9


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}"
    )


def print_table(header: list[str], rows: list[list[object]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for line in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths)))


def ms(t: dict[str, float]) -> list[str]:
    return [f"{1000 * t['median']:.1f}", f"{1000 * t['min']:.1f}", f"{1000 * t['max']:.1f}"]


def emit(result: dict[str, object]) -> None:
    """The last line of every benchmark: one JSON object, for tracking over time."""
    print(json.dumps(result))
