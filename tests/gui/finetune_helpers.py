"""Helpers for the fine-tune task and dialog tests: a folder of sample photos, a tiny classifier family with
BatchNorm (a real core run in well under a second), and a fake core ``finetune`` for the signal plumbing."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from rsdesk.core.io.assets import resource_path
from rsdesk.core.models import ClassifierSpec, registry
from rsdesk.core.models.spec import ClassifierFamily
from rsdesk.core.progress import check_cancel
from rsdesk.core.training.finetune import EpochReport, FinetuneResult

PHOTOS = ("astronaut.jpg", "camera.jpg", "chelsea.jpg", "coffee.jpg")
TINY_NAME = "tiny/bn"


def photo_folder(folder: Path, n: int = 4) -> Path:
    """Copies of ``n`` bundled sample photos (no labels: the model's own predictions are the targets)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS[:n]:
        shutil.copy(resource_path("samples", name), folder / name)
    return folder


class TinyBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


def _build(_weights: object) -> nn.Module:
    torch.manual_seed(0)  # every load the same network: a resumed run starts from what the first one did
    return TinyBN()


TINY = ClassifierSpec(
    name=TINY_NAME,
    title="Tiny BN CNN",
    input_size=32,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    build=_build,
    needs_weights=False,
    feature_layer="conv",
    fc_layer="fc",
    tag="tinybn",
)
FAMILY = ClassifierFamily(
    names=lambda: [TINY_NAME], spec=lambda name: TINY if name == TINY_NAME else None, hint=TINY_NAME
)


def register_tiny(monkeypatch) -> None:
    """The tiny family in the registry for this test (what a family's registry line does)."""
    monkeypatch.setattr(registry, "FAMILIES", (*registry.FAMILIES, FAMILY))


def report(epoch: int, epochs: int, transformed: bool = False) -> EpochReport:
    """Like a distillation run's: the clean agreement starts at 100 % and gives a little, the agreement
    through the defense climbs from 50 %."""
    t = 0.5 + 0.05 * epoch if transformed else None
    return EpochReport(
        epoch, epochs, 2.0 / epoch, 1.0 - 0.02 * epoch, t, 0.01, True, 1.0, 0.5 if transformed else None, 20
    )


class FakeFinetune:
    """Stands in for the core's ``finetune``: progress, one report per epoch, a tiny file, a result.

    ``gate``: when set, the run waits for it before its first epoch (cancel still checked), so a test can
    act while it is running. ``write``: what to save as the model (default: a small state dict).
    """

    def __init__(self, already_done: bool = False, gate: threading.Event | None = None, write=None) -> None:
        self.already_done, self.gate, self.write = already_done, gate, write
        self.calls: list[dict] = []
        self.threads: list[threading.Thread] = []

    def __call__(self, files, config, out, *, progress=None, cancel=None, on_epoch=None, **kw):
        self.calls.append({"files": list(files), "config": config, "out": Path(out), **kw})
        self.threads.append(threading.current_thread())
        while self.gate is not None and not self.gate.is_set():
            check_cancel(cancel)
            time.sleep(0.01)
        out = Path(out)
        reports = []
        transformed = config.transform is not None
        if not self.already_done:
            for e in range(1, config.epochs + 1):
                check_cancel(cancel)
                progress(e / config.epochs, f"epoch {e}/{config.epochs}, batch 1/1, loss 1.0")
                time.sleep(0.6)  # a rate for the time-left estimate to go on
                reports.append(report(e, config.epochs, transformed))
                on_epoch(reports[-1])
        else:
            reports = [report(e, config.epochs, transformed) for e in range(1, config.epochs + 1)]
        out.parent.mkdir(parents=True, exist_ok=True)
        if self.write is not None:
            self.write(out)
        else:
            torch.save({"w": torch.zeros(1)}, out)
        reports = [replace(r, best=r.epoch == config.epochs) for r in reports]  # the saved epoch, as the core
        meta = {"classifier": {"name": config.classifier}, "transform": None}
        return FinetuneResult(out, out.with_suffix(".json"), meta, reports, 0, self.already_done)
