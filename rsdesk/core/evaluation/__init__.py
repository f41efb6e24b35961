"""The evaluation engine (Qt-free): plans, the run directory, the driver and its executors, the summary.

:func:`run_evaluation` is the one entry point the command line (``rsdesk evaluate``), the GUI's Evaluate tab
and the benchmarks call. The run directory's layout is described in :mod:`.rundir`, its plan.json (the run's
provenance) in :mod:`.manifest`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from rsdesk.core.evaluation.engine import Evaluation, LocalExecutor, collect_images
from rsdesk.core.evaluation.intervals import wilson
from rsdesk.core.evaluation.manifest import describe_run, open_run
from rsdesk.core.evaluation.parsing import parse_plan
from rsdesk.core.evaluation.plan import Plan, PlanError
from rsdesk.core.evaluation.presets import PRESETS, load_plan_file, preset
from rsdesk.core.evaluation.retrained import exclude_trained
from rsdesk.core.evaluation.rundir import COLUMNS, ImageItem, RunDirectory, RunDirError
from rsdesk.core.evaluation.summary import summarize
from rsdesk.core.evaluation.worker import WorkerConfig
from rsdesk.core.io.datasets import PathLike
from rsdesk.core.models import DEFAULT_CLASSIFIER
from rsdesk.core.progress import CancelFn, ProgressFn

__all__ = [
    "COLUMNS",
    "PRESETS",
    "Evaluation",
    "ImageItem",
    "Plan",
    "PlanError",
    "RunDirError",
    "RunDirectory",
    "collect_images",
    "load_plan_file",
    "parse_plan",
    "preset",
    "record_threads",
    "run_evaluation",
    "summarize",
    "wilson",
]


def run_evaluation(
    plan: Mapping[str, Any],
    images: Iterable[PathLike] | list[ImageItem],
    out: PathLike,
    *,
    classifier: str = DEFAULT_CLASSIFIER,
    weights: str | None = None,
    device: str = "cpu",
    limit: int | None = None,
    ray: str | None = None,
    threads: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_problem: Callable[[str], None] | None = None,
    on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    skipped: list[str] | None = None,
) -> dict[str, Any]:
    """Run (or resume, or extend) an evaluation into the run directory ``out``; returns the summary.

    ``images``: folders and files (walked and labelled here) or already collected items. ``ray``: None runs
    in this process; ``"local"`` or a cluster address shards the units over Ray actors. Images a row's
    retrained model was fine-tuned on are left out (``on_note`` hears how many): no model is tested on what
    it learned from. ``skipped``: the files the caller's own walk left out, with why (plan.json records
    them, so "4 of 5 images counted" can say which files never were images).
    """
    parsed = parse_plan(plan)
    items = list(images)
    skipped = list(skipped or [])
    if not items or not isinstance(items[0], ImageItem):

        def problem(text: str) -> None:
            skipped.append(text)
            if on_problem is not None:
                on_problem(text)

        items = collect_images(  # type: ignore[arg-type]
            items, limit=limit, on_problem=problem, cancel=cancel, on_unlabelled=skipped.append
        )
    if not items:
        raise PlanError(
            "no labelled images (need labels.csv beside them or an ImageNet synset in each file name)"
        )
    items = exclude_trained(items, plan, on_note)  # type: ignore[arg-type]
    if not items:
        raise PlanError("every image was left out: the rows' retrained models were fine-tuned on all of them")
    connection = None
    if ray:  # before the run directory: a cluster that cannot be reached leaves nothing behind
        from rsdesk.core.evaluation.ray_backend import RayExecutor, connect

        connection = connect(ray)
    try:
        rundir = RunDirectory(out)
        rundir.create()
        run_json = open_run(rundir, describe_run(parsed, items, classifier, weights))  # type: ignore[arg-type]
        run_json["skipped"] = skipped
        config = WorkerConfig(run_json["plan"], classifier, weights, device, threads)
        record_threads(run_json, (threads or 1) if ray else (threads or torch.get_num_threads()), on_note)
        if ray:
            executor: Any = RayExecutor(ray, config, run_json, connection=connection)
        else:
            executor = LocalExecutor(config)
    except BaseException:
        if connection is not None and connection[1]:
            connection[0].shutdown()
        raise
    try:
        return Evaluation(run_json, rundir, executor, progress, cancel, on_rows).run()
    finally:
        executor.close()


def record_threads(run_json: dict[str, Any], threads: int, on_note: Callable[[str], None] | None) -> None:
    """plan.json's ``threads``: the torch threads each attempt of the run used, in order. Float sums
    differ with the thread count, so iterative attacks' L2/L∞/d (and, rarely, a prediction near a tie) of
    rows made with other threads differ in their last digits; ``on_note`` hears when a resume changes it."""
    used = list(run_json.get("threads") or [])
    if used and used[-1] != threads and on_note is not None:
        on_note(
            f"this run was made with {used[-1]} torch thread{'s' * (used[-1] != 1)} and now runs with "
            f"{threads}: rows finished now may differ from earlier ones in their last digits (--threads)"
        )
    if not used or used[-1] != threads:
        used.append(threads)
    run_json["threads"] = used
