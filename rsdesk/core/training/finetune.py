"""Fine-tuning a classifier: on a defense's outputs (the paper's Fig. 6/7 retrained models), with FGSM
adversarial examples (Table II's "FGSM Adversarial"), or both ("RegionSparse + FGSM Adversarial").

Targets are by default the starting model's own top-1 predictions on the clean images (distillation): any
folder works, no labels are needed, and a small folder cannot teach the model wrong classes. The loss is
cross-entropy to those hard targets rather than KL to the starting probabilities: one loss then serves
both target kinds, validation top-1 measures what is optimized, the FGSM examples are crafted against the
same labels (the model's own prediction, which Kurakin et al. 2017 recommend against "label leaking"), and
the paper's retraining is plain cross-entropy too.

Every epoch ends in an atomic checkpoint (:mod:`.checkpoint`); the same call after Ctrl-C, a kill or a power
cut continues after the last finished epoch. Shuffles come from (seed, epoch), a randomized defense's draws
from (seed, epoch, image), torch's RNG (dropout with ``train="all"``) is seeded and saved, and every tensor
the next epoch needs (weights, BatchNorm statistics, Adam's moments) is in the checkpoint: on the CPU a
resumed run writes the same bytes as an uninterrupted one. On CUDA, atomic additions in backward passes make
two runs differ in the last bits, interrupted or not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdesk.core.attacks import Attack, create_attack
from rsdesk.core.defenses import defense_class
from rsdesk.core.io.files import ensure_writable_destination
from rsdesk.core.models.classifier import Classifier, load_classifier, resolve_device
from rsdesk.core.models.registry import weights_file
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report
from rsdesk.core.training.checkpoint import (
    Checkpoint,
    file_sha256,
    fingerprint,
    rng_state,
    save_json,
    save_state_dict,
    set_rng_state,
)
from rsdesk.core.training.config import (
    ADVERSARIAL_ATTACKS,
    DEFAULT_EPS,
    DEFAULT_LR,
    METADATA_FORMAT,
    TARGETS,
    EpochReport,
    FinetuneConfig,
    FinetuneResult,
    metadata_path,
)
from rsdesk.core.training.data import (
    Transform,
    learned_file_identity,
    load_samples,
    split_validation,
    to_batch,
)
from rsdesk.core.training.metadata import FGSM_MIX, build_metadata, finished_result
from rsdesk.core.training.network import TRAIN_MODES, predictions, top1, train_step, trainable_copy

__all__ = [
    "ADVERSARIAL_ATTACKS",
    "DEFAULT_EPS",
    "DEFAULT_LR",
    "TARGETS",
    "TRAIN_MODES",
    "EpochReport",
    "FinetuneConfig",
    "FinetuneResult",
    "finetune",
    "metadata_path",
]


#: Settings the fingerprint takes in their resolved form (the defense's checked values and its file's hash,
#: the attack's ε only with an attack) or not at all (the device: resuming elsewhere is allowed).
_RESOLVED = ("device", "transform", "transform_params", "transform_file", "adversarial", "eps")


def _batches(order: np.ndarray, size: int) -> list[np.ndarray]:
    """Consecutive chunks of ``order``; a last chunk of one image joins the one before (BatchNorm's batch
    statistics of a single image would be that image's own)."""
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2:] = [np.concatenate(chunks[-2:])]
    return chunks


def _clone(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


class _Progress:
    """Overall progress in work units (an image transformed, an image trained one epoch)."""

    def __init__(self, progress: ProgressFn | None, total: int) -> None:
        self.progress, self.total, self.done = progress, max(1, total), 0

    def add(self, n: int, text: str) -> None:
        self.done += n
        report(self.progress, self.done / self.total, text)

    def ticker(self, text: str) -> Callable[[], None]:
        return lambda: self.add(1, text)


class _Run:
    """One fine-tune's tensors and training state, from a fresh start or a checkpoint."""

    def __init__(self, config: FinetuneConfig, start: Classifier, state: dict[str, Any] | None) -> None:
        self.config = config
        self.live, params = trainable_copy(start, config.train)
        self.trainable = sum(p.numel() for p in params)
        self.optimizer = torch.optim.Adam(params, lr=config.learning_rate)
        self.reports: list[EpochReport] = []
        self.best_epoch, self.best_score = 0, None
        self.best_state = _clone(self.live.net.state_dict())
        if state:
            self.live.net.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.reports = [EpochReport.from_dict(r) for r in state["reports"]]
            self.best_epoch, self.best_score = int(state["best_epoch"]), state["best_score"]
            self.best_state = _clone(state["best"] if state["best"] is not None else state["model"])

    def epoch(
        self,
        epoch: int,
        data: dict[str, Any],
        transform: Transform | None,
        attack: Attack | None,
        progress: _Progress,
        cancel: CancelFn | None,
    ) -> EpochReport:
        """Train one epoch, validate, and keep the weights if they are the best so far."""
        cfg, t0 = self.config, time.perf_counter()
        train_idx, x_train, y_train = data["train_idx"], data["x_train"], data["y_train"]
        inputs = data["t_train"]
        if transform is not None and inputs is None:  # randomized: a new draw every epoch
            keys = [("train", epoch, i) for i in train_idx]
            inputs = to_batch(transform.many(data["train_images"], keys, cancel), x_train.device)
        if inputs is None:
            inputs = x_train
        chunks = _batches(np.random.default_rng([cfg.seed, epoch]).permutation(len(train_idx)), cfg.batch)
        loss_sum, seen = 0.0, 0
        for b, idx in enumerate(chunks):
            check_cancel(cancel)
            sel = torch.as_tensor(idx, dtype=torch.long)
            purify = None
            if transform is not None and attack is not None:
                keys = [("adversarial", epoch, train_idx[int(i)]) for i in idx]
                purify = lambda arr, keys=keys: transform.many(list(arr), keys)  # noqa: E731
            loss = train_step(
                self.live, cfg.train, self.optimizer, inputs[sel], y_train[sel],
                attack=attack, clean=x_train[sel], purify=purify,
            )  # fmt: skip
            if not math.isfinite(loss):
                raise ValueError(f"the training loss became {loss} in epoch {epoch}; give a smaller lr")
            loss_sum, seen = loss_sum + loss * len(idx), seen + len(idx)
            progress.add(
                len(idx),
                f"epoch {epoch}/{cfg.epochs}, batch {b + 1}/{len(chunks)}, loss {loss_sum / seen:.3f}",
            )
        val_clean = top1(self.live, data["x_val"], data["y_val"], cfg.batch)
        val_t = top1(self.live, data["t_val"], data["y_val"], cfg.batch) if transform is not None else None
        # through the transform first, then clean (a tie through the transform keeps the epoch that kept
        # more of the clean behaviour), then the later epoch; a list, as the checkpoint stores it
        score = None if val_clean is None else ([val_t, val_clean] if transform is not None else [val_clean])
        best = score is None or self.best_score is None or score >= self.best_score
        if best:
            self.best_epoch, self.best_score = epoch, score
            self.best_state = _clone(self.live.net.state_dict())
        before = data["before"]
        rep = EpochReport(
            epoch, cfg.epochs, loss_sum / max(1, seen), val_clean, val_t, time.perf_counter() - t0, best,
            before["clean"], before["transformed"], len(data["val_idx"]),
        )  # fmt: skip
        self.reports.append(rep)
        return rep

    def checkpoint_state(self, epoch: int, before: dict[str, float | None]) -> dict[str, Any]:
        """Everything the next epoch needs (the best weights only when they are not the current ones)."""
        return {
            "epoch": epoch,
            "model": self.live.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng_state(),
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "best": None if self.best_epoch == epoch else self.best_state,
            "before": before,
            "reports": [r.as_dict() for r in self.reports],
        }


def finetune(
    files: Sequence[Path],
    config: FinetuneConfig,
    out: str | Path,
    *,
    labels: Mapping[str, int] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``config.classifier`` on ``files``; save its state dict to ``out``, metadata beside it.

    ``labels``: true classes by path or file name for ``targets="labels"`` (else labels.csv and synsets, as
    the evaluation reads them). ``on_problem``: one line per image skipped. A cancel (checked between
    batches) raises :class:`~rsdesk.core.progress.Cancelled` and keeps the last epoch's checkpoint; calling
    again resumes. The saved weights are the best epoch's by validation top-1 through the transform when
    there is one, else clean; ties go to the higher clean top-1, then to the later epoch (with few
    validation images ties are common, and the later epoch has trained longer on what validation cannot
    tell apart); with no validation images,
    the last epoch's. Every image is held in memory, prepared (and transformed): ~0.6 MB each at 224².
    """
    config.validate()
    out = Path(out)
    if out.suffix.lower() == ".json":
        raise ValueError(f"{out.name}: the model file cannot be a .json (its metadata goes beside it)")
    ensure_writable_destination(out)  # an OSError now, not after the first epoch (its checkpoint is beside)
    device = resolve_device(config.device)
    # building a network draws its (then overwritten) initial weights from torch's RNG, and training is
    # seeded: both on a fork, so the caller's global RNG is left as it was
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        return _finetune(files, config, out, device, labels, progress, cancel, on_epoch, on_problem)


def _finetune(
    files: Sequence[Path],
    config: FinetuneConfig,
    out: Path,
    device: torch.device,
    labels: Mapping[str, int] | None,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    on_epoch: Callable[[EpochReport], None] | None,
    on_problem: Callable[[str], None] | None,
) -> FinetuneResult:
    meta_path = metadata_path(out)
    skipped: list[str] = []

    def problem(text: str) -> None:
        skipped.append(text)
        if on_problem is not None:
            on_problem(text)

    start = load_classifier(config.classifier, config.weights, device)
    wfile = weights_file(config.classifier, config.weights)
    tcls = defense_class(config.transform) if config.transform else None
    transform = None
    if tcls is not None and not tcls.identity:  # the "none" defense trains on the clean images
        transform = Transform(
            tcls.name, config.transform_params, config.transform_file, str(device), config.seed
        )
    attack = create_attack(config.adversarial, eps=config.eps) if config.adversarial else None
    use_labels = config.targets == TARGETS[1]
    samples = load_samples(
        files, start.prepare, need_labels=use_labels, labels=labels, on_problem=problem, cancel=cancel,
        progress=progress,
    )  # fmt: skip
    if not samples:
        raise ValueError("no usable images to fine-tune on" + (" (see the lines above)" if skipped else ""))
    train_idx, val_idx = split_validation([s.name for s in samples], config.val_fraction, config.seed)
    t_info = None
    if transform is not None:
        t_info = {
            "name": transform.name,
            "title": transform.title,
            "params": transform.values,
            "file": learned_file_identity(transform.name, config.transform_file),
            "randomized": transform.cls.randomized,
        }
    a_info = {"attack": attack.name, "eps": config.eps, "mix": FGSM_MIX} if attack else None
    identity = {  # what the fingerprint covers: the device is left out (a resume elsewhere is allowed)
        "format": METADATA_FORMAT,
        "settings": {f.name: getattr(config, f.name) for f in fields(config) if f.name not in _RESOLVED}
        | {"lr": config.learning_rate, "transform": t_info, "adversarial": a_info},
        "weights_sha256": file_sha256(wfile) if wfile and wfile.is_file() else None,
        "images": [[s.name, s.sha256, s.label if use_labels else None] for s in samples],
    }
    fp = fingerprint(identity)
    done = finished_result(out, meta_path, fp, config.epochs)
    if done is not None:
        return done
    ckpt = Checkpoint.beside(out, fp)
    state = ckpt.load()

    # the tensors: the prepared images, their targets, the defense's outputs (recomputed on a resume)
    x_all = to_batch(np.stack([s.image for s in samples]), device)
    if use_labels:
        y_all = torch.tensor([int(s.label or 0) for s in samples], dtype=torch.long, device=device)
    else:
        y_all = predictions(start, x_all, config.batch)
    tr, va = torch.as_tensor(train_idx, dtype=torch.long), torch.as_tensor(val_idx, dtype=torch.long)
    data: dict[str, Any] = {
        "train_idx": train_idx,
        "val_idx": val_idx,
        "x_train": x_all[tr],
        "y_train": y_all[tr],
        "x_val": x_all[va],
        "y_val": y_all[va],
        "train_images": [samples[i].image for i in train_idx],
        "t_train": None,
        "t_val": None,
    }
    first = int(state["epoch"]) if state else 0
    cached = transform is not None and not transform.reseeded
    upfront = (len(samples) if cached else len(val_idx)) if transform is not None else 0
    bar = _Progress(progress, upfront + (config.epochs - first) * len(train_idx))
    if transform is not None:
        tick = bar.ticker(f"applying {transform.title}")
        val_images = [samples[i].image for i in val_idx]
        data["t_val"] = to_batch(
            transform.many(val_images, [("val", i) for i in val_idx], cancel, tick), device
        )
        if cached:
            keys = [("train", i) for i in train_idx]
            data["t_train"] = to_batch(transform.many(data["train_images"], keys, cancel, tick), device)
    if state:
        data["before"] = dict(state["before"])
    else:
        # with the starting model's own predictions as the targets, its clean figure is 1 by definition
        clean = top1(start, data["x_val"], data["y_val"], config.batch) if use_labels or not val_idx else 1.0
        through = top1(start, data["t_val"], data["y_val"], config.batch) if transform else None
        data["before"] = {"clean": clean, "transformed": through}
    run = _Run(config, start, state)
    del start

    if state:
        set_rng_state(state["rng"])
    else:
        torch.manual_seed(config.seed)
    for epoch in range(first + 1, config.epochs + 1):
        rep = run.epoch(epoch, data, transform, attack, bar, cancel)
        ckpt.save(run.checkpoint_state(epoch, data["before"]))
        if on_epoch is not None:
            on_epoch(rep)

    reports = [replace(r, best=r.epoch == run.best_epoch) for r in run.reports]
    save_state_dict(out, run.best_state)
    metadata = build_metadata(
        config=config,
        identity=identity,
        fp=fp,
        weights=wfile,
        transform=t_info,
        attack=a_info,
        samples=samples,
        split=(train_idx, val_idx),
        targets=[int(t) for t in y_all.tolist()],
        trainable=run.trainable,
        before=data["before"],
        reports=reports,
        best_epoch=run.best_epoch,
        out_sha256=file_sha256(out),
        skipped=skipped,
    )
    save_json(meta_path, metadata)
    ckpt.remove()
    report(progress, 1.0, "done")
    return FinetuneResult(
        out,
        meta_path,
        metadata,
        reports,
        first,
        False,
        skipped,
        restarted=bool(getattr(ckpt, "stale", False)),
    )
