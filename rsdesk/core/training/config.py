"""What a fine-tune is asked to do (:class:`FinetuneConfig`), what each epoch reports (:class:`EpochReport`)
and what a call returns (:class:`FinetuneResult`), with the defaults and why they are what they are.

:mod:`.finetune` re-exports all of it; the GUI and the command line import from there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from rsdesk.core.attacks import attack_class
from rsdesk.core.defenses import defense_class
from rsdesk.core.models.registry import DEFAULT_CLASSIFIER, classifier_spec
from rsdesk.core.params import resolve_params
from rsdesk.core.training.network import TRAIN_MODES

#: Adam's learning rate per mode, smaller as more of the network moves: BatchNorm's affine parameters
#: (~1 % of the weights) take TENT's 1e-3 (Wang et al. 2021, test-time BN adaptation); the last layer 1e-4;
#: the whole pretrained network 1e-5, where larger steps on a small folder soon cost ImageNet accuracy.
DEFAULT_LR = {"bn": 1e-3, "head": 1e-4, "all": 1e-5}
#: "model": the starting model's clean top-1 (distillation); "labels": labels.csv / synsets / ``labels=``.
TARGETS = ("model", "labels")
#: The attacks adversarial training may use (their ε is ``eps``).
ADVERSARIAL_ATTACKS = ("fgsm",)
#: FGSM ε in /255: the evaluation's default strength and inside Table II's 2/14/22. Tramèr et al. (the
#: paper's adversarial-training reference) use 16 on ImageNet, but a single-step attack at a large ε is
#: where label leaking and catastrophic overfitting set in (Kurakin et al. 2017; Wong et al. 2020), and a
#: BatchNorm-only fine-tune has little capacity to absorb it.
DEFAULT_EPS = 8.0
METADATA_FORMAT = "rsdesk-finetune/1"


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number within {lo}…{hi}, got {value!r}")


def _check_real(name: str, value: object, ok: Callable[[float], bool], what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not ok(float(value)):
        raise ValueError(f"{name} must be {what}, got {value!r}")


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything a fine-tune depends on besides its images."""

    classifier: str = DEFAULT_CLASSIFIER  # the model to start from
    weights: str | None = None  # its weights file (None: the packaged one)
    transform: str | None = None  # a defense name: train on its outputs (Fig. 6/7)
    transform_params: dict[str, Any] = field(default_factory=dict)
    transform_file: str | None = None  # the defense's learned file (RegionSparse dictionary); None: bundled
    adversarial: str | None = None  # None or "fgsm" (FGSM adversarial training; combines with transform)
    eps: float = DEFAULT_EPS  # FGSM ε in /255 (see DEFAULT_EPS)
    train: str = "bn"  # bn (BatchNorm affine + running statistics), head (final linear layer), all
    epochs: int = 3
    lr: float | None = None  # None: DEFAULT_LR of the mode (see learning_rate)
    batch: int = 8
    seed: int = 0
    val_fraction: float = 0.2  # held-out validation split (by seed and file name; 0: none)
    targets: str = "model"  # "model" (the starting model's clean predictions) or "labels"
    device: str = "cpu"

    @property
    def learning_rate(self) -> float:
        """``lr``, or the mode's default from :data:`DEFAULT_LR`."""
        return float(self.lr) if self.lr is not None else DEFAULT_LR[self.train]

    def validate(self) -> None:
        """Raise one ValueError sentence naming the first bad value (nothing is loaded)."""
        classifier_spec(self.classifier)  # ClassifierError (a ValueError) naming the choices
        if self.train not in TRAIN_MODES:
            raise ValueError(f"train must be one of {', '.join(TRAIN_MODES)}, got {self.train!r}")
        if self.targets not in TARGETS:
            raise ValueError(f"targets must be one of {', '.join(TARGETS)}, got {self.targets!r}")
        _check_int("epochs", self.epochs, 1, 10_000)
        _check_int("batch", self.batch, 1, 4096)
        _check_int("seed", self.seed, 0, 2**62)
        _check_real("val_fraction", self.val_fraction, lambda v: 0 <= v < 1, "at least 0 and below 1")
        if self.lr is not None:
            _check_real("lr", self.lr, lambda v: 0 < v <= 1, "greater than 0 and at most 1")
        _check_real("eps", self.eps, lambda v: 0 < v <= 255, "greater than 0 and at most 255 (ε in /255)")
        if self.adversarial is not None and attack_class(self.adversarial).name not in ADVERSARIAL_ATTACKS:
            raise ValueError(
                f"adversarial must be {' or '.join(ADVERSARIAL_ATTACKS)} (or none), got {self.adversarial!r}"
            )
        if self.transform is None:
            if self.transform_params or self.transform_file:
                raise ValueError("transform parameters or a transform file were given without a transform")
        else:
            cls = defense_class(self.transform)  # ValueError listing the defenses
            resolve_params(cls.PARAMS, self.transform_params, cls.title)
            if self.transform_file is not None and cls.learned_file is None:
                raise ValueError(f"{cls.title} is built from no file, so transform_file must be None")
        if str(self.device) != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError, ValueError) as exc:
                raise ValueError(f"device {self.device!r} is not a device; use cpu, cuda or auto") from exc


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch. Validation figures are top-1 agreement with the targets in [0, 1]; None with no
    validation images (``val_transformed`` also without a transform). ``best``: in
    :attr:`FinetuneResult.reports`, the epoch whose weights were saved; as passed to ``on_epoch``, whether
    it is the best so far. ``*_before``: the starting model's figures on the same validation images."""

    epoch: int
    epochs: int
    train_loss: float
    val_clean: float | None
    val_transformed: float | None
    seconds: float
    best: bool
    val_clean_before: float | None = None
    val_transformed_before: float | None = None
    val_images: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpochReport:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class FinetuneResult:
    """What a call did: the files, the metadata written, every epoch's report."""

    out: Path
    metadata_path: Path
    metadata: dict[str, Any]
    reports: list[EpochReport]  # every epoch's (resumed ones included, read back from the checkpoint)
    resumed_from: int  # epochs already done when this call started (0: fresh)
    already_done: bool  # the output existed with the same fingerprint: nothing was done
    skipped: list[str] = field(default_factory=list)  # one line per image left out
    restarted: bool = False  # a checkpoint of other settings or images was there and was not resumed


def metadata_path(out: str | Path) -> Path:
    """``MODEL.pth`` → ``MODEL.json``: the metadata beside the weights."""
    return Path(out).with_suffix(".json")
