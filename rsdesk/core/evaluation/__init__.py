"""The evaluation engine (Qt-free): plans, the run directory, the driver and its executors, the summary.

:func:`run_evaluation` is the one entry point the command line (``rsdesk evaluate``), the GUI's Evaluate tab
and the benchmarks call. The run directory's layout is described in :mod:`.rundir`, its plan.json (the run's
provenance) in :mod:`.manifest`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

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
) -> dict[str, Any]:
    """Run (or resume, or extend) an evaluation into the run directory ``out``; returns the summary.

    ``images``: folders and files (walked and labelled here) or already collected items. ``ray``: None runs
    in this process; ``"local"`` or a cluster address shards the units over Ray actors. Images a row's
    retrained model was fine-tuned on are left out (``on_note`` hears how many): no model is tested on what
    it learned from.
    """
    parsed = parse_plan(plan)
    items = list(images)
    if not items or not isinstance(items[0], ImageItem):
        items = collect_images(items, limit=limit, on_problem=on_problem, cancel=cancel)  # type: ignore[arg-type]
    if not items:
        raise PlanError(
            "no labelled images (need labels.csv beside them or an ImageNet synset in each file name)"
        )
    items = exclude_trained(items, plan, on_note)  # type: ignore[arg-type]
    if not items:
        raise PlanError("every image was left out: the rows' retrained models were fine-tuned on all of them")
    rundir = RunDirectory(out)
    rundir.create()
    run_json = open_run(rundir, describe_run(parsed, items, classifier, weights))  # type: ignore[arg-type]
    config = WorkerConfig(run_json["plan"], classifier, weights, device, threads)
    if ray:
        from rsdesk.core.evaluation.ray_backend import RayExecutor

        executor: Any = RayExecutor(ray, config)
    else:
        executor = LocalExecutor(config)
    try:
        return Evaluation(run_json, rundir, executor, progress, cancel, on_rows).run()
    finally:
        executor.close()
