"""``MODEL.json``: what a fine-tuned model was made from and how well it did, written beside its weights, and
read back to tell a finished run (same fingerprint, same output file) from one still to do."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rsdesk.core.training.checkpoint import file_sha256, library_versions
from rsdesk.core.training.config import EpochReport, FinetuneConfig, FinetuneResult
from rsdesk.core.training.data import Sample

#: How the saved epoch is chosen, as the metadata says it.
BEST_RULE = (
    "the epoch with the highest validation top-1 through the transform (clean without one); ties go to "
    "the higher clean top-1, then to the later epoch"
)
NO_VALIDATION = "no validation images: the last epoch was kept"
LOSS = "cross-entropy to the targets (hard labels)"
FGSM_MIX = (
    "every training image clean and adversarial in each step (one 2B batch), loss ½·CE(clean) + "
    "½·CE(adversarial) (Goodfellow et al. 2015, α = ½); crafted on the current model in eval mode against "
    "the targets, then passed through the transform when there is one"
)


def _images(samples: Sequence[Sample], indices: Sequence[int], targets: Sequence[int]) -> list[dict]:
    return [
        {
            "name": samples[i].name,
            "sha256": samples[i].sha256,
            "target": int(targets[i]),
            "path": str(samples[i].path),
        }
        for i in indices
    ]


def build_metadata(
    *,
    config: FinetuneConfig,
    identity: dict[str, Any],
    fp: str,
    weights: Path | None,
    transform: dict[str, Any] | None,
    attack: dict[str, Any] | None,
    samples: Sequence[Sample],
    split: tuple[Sequence[int], Sequence[int]],
    targets: Sequence[int],
    trainable: int,
    before: dict[str, float | None],
    reports: Sequence[EpochReport],
    best_epoch: int,
    out_sha256: str,
    skipped: Sequence[str],
) -> dict[str, Any]:
    """The metadata of a finished run (``identity`` is what the fingerprint was computed from)."""
    train_idx, val_idx = split
    kept = next(r for r in reports if r.epoch == best_epoch)
    seconds = [r.seconds for r in reports]
    return {
        "format": identity["format"],
        "fingerprint": fp,
        "classifier": {
            "name": config.classifier,
            "weights": str(weights) if weights else None,
            "weights_sha256": identity["weights_sha256"],
        },
        "transform": transform,
        "adversarial": attack,
        "train": config.train,
        "trainable_parameters": trainable,
        "epochs": config.epochs,
        "lr": config.learning_rate,
        "optimizer": "Adam",
        "batch": config.batch,
        "seed": config.seed,
        "targets": config.targets,
        "loss": LOSS,
        "val_fraction": config.val_fraction,
        "device": config.device,
        "images": {
            "train": _images(samples, train_idx, targets),
            "validation": _images(samples, val_idx, targets),
        },
        "skipped": list(skipped),
        "validation": {
            "images": len(val_idx),
            "before": before,
            "after": {"clean": kept.val_clean, "transformed": kept.val_transformed},
            "kept": BEST_RULE if val_idx else NO_VALIDATION,
        },
        "best_epoch": best_epoch,
        "epoch_reports": [r.as_dict() for r in reports],
        "minutes_per_epoch": round(sum(seconds) / len(seconds) / 60, 4) if seconds else None,
        "versions": library_versions(),
        "output_sha256": out_sha256,
    }


def finished_result(out: Path, meta: Path, fp: str, epochs: int) -> FinetuneResult | None:
    """The earlier result when ``out`` and its metadata exist with this fingerprint and ``out`` is the file
    the metadata describes (its SHA-256); None otherwise (the run is to be done)."""
    if not (out.is_file() and meta.is_file()):
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        if data.get("fingerprint") != fp or data.get("output_sha256") != file_sha256(out):
            return None
        reports = [EpochReport.from_dict(r) for r in data["epoch_reports"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return FinetuneResult(out, meta, data, reports, epochs, True, list(data.get("skipped", [])))
