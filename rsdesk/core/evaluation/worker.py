"""One unit of evaluation work, done where the classifier lives: in this process, or in a Ray actor.

A :class:`Unit` carries its images (prepared at the classifier's input size) and any cached adversarials, so
a worker needs no access to the run directory or the user's files: the driver alone reads and writes them,
and a run on a cluster writes the same files as a local one.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdesk.core.attacks import attack_class
from rsdesk.core.attacks.base import RESCALED, scale_perturbation
from rsdesk.core.defenses import Defense, create_defense
from rsdesk.core.evaluation.parsing import parse_plan
from rsdesk.core.evaluation.plan import AttackEntry, DefenseEntry, Plan
from rsdesk.core.io.images import quantize
from rsdesk.core.models.classifier import Classifier, load_classifier
from rsdesk.core.progress import CancelFn, check_cancel
from rsdesk.core.verdicts import batch_perturbation_stats


@dataclass
class Unit:
    """A shard of images and what to do with it: classify them clean through ``defenses`` (attack None),
    or attack them at each strength and classify the adversarials through that strength's defenses."""

    index: int
    ids: list[str]
    labels: list[int]
    images: np.ndarray  # B×S×S×3 float32, prepared for the classifier under test
    attack: str | None = None
    via: str | None = None  # the row a per-row attack is crafted for (through its defense, or its model)
    strengths: list[float] = field(default_factory=list)
    defenses: dict[float, list[str]] = field(default_factory=dict)  # strength (0: clean) → defense keys
    cached: dict[float | str, np.ndarray] = field(default_factory=dict)  # strength or "base" → B×S×S×3
    cost: float = 1.0


@dataclass
class UnitResult:
    """Rows for results.csv (without ``counted``, which the driver decides) and adversarials to cache."""

    unit: Unit
    rows: list[dict[str, Any]]
    adversarials: dict[float | str, np.ndarray]  # strength or "base" → B×S×S×3, only newly crafted ones


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to build its models and defenses (plain data: it travels to Ray actors)."""

    plan: dict[str, Any]
    classifier: str
    weights: str | None = None
    device: str = "cpu"
    threads: int = 0  # torch threads; 0 keeps torch's default
    #: channels-last weights: 1.4× faster per attacked image-iteration than the default format at batch 8 on
    #: 2 CPU cores (benchmarks/bench_eval.py). The same attack: rounding differs, so where a gradient
    #: component is near zero its sign (and that pixel of the adversarial) can differ.
    channels_last: bool = True
    #: where this process finds each file the plan names (a Ray actor's checked local copies,
    #: :mod:`.ray_files`); a path not in it is opened as named
    files: dict[str, str] = field(default_factory=dict)


def stable_seed(*parts: object) -> int:
    """A seed that depends only on its parts (so a resumed run draws what the first attempt drew)."""
    return zlib.crc32("|".join(map(str, parts)).encode()) & 0x7FFFFFFF


class Worker:
    """The classifier under test, any transfer sources, and every defense of the plan, built once."""

    def __init__(self, config: WorkerConfig) -> None:
        if config.threads:
            torch.set_num_threads(config.threads)
        self.files = dict(config.files)
        self._named = {local: named for named, local in self.files.items()}
        self.plan: Plan = parse_plan(_with_local_files(config.plan, self.files))
        self.device = config.device
        self.channels_last = config.channels_last
        self.classifier_name, self.weights = config.classifier, config.weights
        self.model = self._load(config.classifier, config.weights)
        self._sources: dict[tuple[str, str | None], Classifier] = {}
        self._defenses: dict[str, Defense] = {}

    def source(self, entry: AttackEntry, via: str | None = None) -> Classifier:
        """The classifier an attack is crafted on: a transfer attack's source; under a per-row threat (the
        defense-aware attacker, the extended gray-box one) the classifier of the row it goes to; else the
        plan's classifier (gray-box, and black-box: what a retrained row never showed the attacker)."""
        if entry.threat == "transfer":
            return self._other(str(entry.source), entry.source_weights)
        if entry.per_row and via is not None:
            return self.judge(via)
        return self.model

    def judge(self, dkey: str) -> Classifier:
        """The classifier that judges a defense row: its own (a retrained model) or the plan's."""
        entry = self.plan.defenses[dkey]
        if not entry.own_model:
            return self.model
        return self._other(entry.classifier or self.classifier_name, entry.weights)

    def judge_label(self, dkey: str) -> str:
        """How results.csv names the classifier that judged a row: ``name`` or ``name [weights file]``."""
        entry = self.plan.defenses[dkey]
        name = entry.classifier or self.classifier_name
        weights = entry.weights if entry.own_model else self.weights
        return f"{name} [{Path(self._named.get(weights, weights)).name}]" if weights else name

    def _other(self, name: str, weights: str | None) -> Classifier:
        key = (name, weights)
        if key not in self._sources:
            self._sources[key] = self._load(name, weights)
        return self._sources[key]

    def _local(self, named: str | None) -> str | None:
        """The file this process opens for one the command names (its local copy on a Ray actor)."""
        return self.files.get(named, named) if isinstance(named, str) else named

    def _load(self, name: str, weights: str | None) -> Classifier:
        model = load_classifier(name, self._local(weights), self.device)
        if self.channels_last:
            model.net.to(memory_format=torch.channels_last)
        return model

    def defense(self, key: str, seed: int | None = None) -> Defense:
        """The plan's defense; a randomized one is rebuilt with ``seed`` so each draw is reproducible."""
        entry = self.plan.defenses[key]
        if seed is not None and entry.randomized:
            return _build(entry, self.device, {"seed": seed})
        if key not in self._defenses:
            self._defenses[key] = _build(entry, self.device)
        return self._defenses[key]

    # ----- the work -------------------------------------------------------------------------------------
    def run(self, unit: Unit, cancel: CancelFn | None = None) -> UnitResult:
        if unit.attack is None:
            rows = []
            for dkey in unit.defenses.get(0.0, []):
                rows += self._judge(unit, None, 0.0, dkey, unit.images, np.zeros(len(unit.ids)), cancel)
            return UnitResult(unit, rows, {})
        entry = self.plan.attacks[unit.attack]
        crafted: dict[float | str, np.ndarray] = {}
        rows: list[dict[str, Any]] = []
        base = unit.cached.get("base")
        for strength in unit.strengths:
            check_cancel(cancel)
            t0 = time.perf_counter()
            adv = unit.cached.get(strength)
            fresh = adv is None
            if adv is None:
                if entry.scaled:
                    if base is None:
                        base = self._craft(entry, None, unit, cancel)
                        crafted["base"] = base
                    adv = _scale(unit.images, base, strength, exact=entry.scale_to_d)
                else:
                    adv = self._craft(entry, strength, unit, cancel)
                if self.plan.quantize:
                    adv = np.stack([quantize(a) for a in adv])
                crafted[strength] = adv
            per_image = (time.perf_counter() - t0) / len(unit.ids) if fresh else 0.0
            seconds = np.full(len(unit.ids), per_image)
            for dkey in unit.defenses.get(strength, []):
                rows += self._judge(unit, entry, strength, dkey, adv, seconds, cancel)
        return UnitResult(unit, rows, crafted)

    def _craft(
        self, entry: AttackEntry, strength: float | None, unit: Unit, cancel: CancelFn | None
    ) -> np.ndarray:
        cls = attack_class(entry.name)
        params = dict(entry.params)
        if strength is not None:
            params[cls.strength.param] = strength
        elif cls.budget == RESCALED:
            params[cls.strength.param] = None  # the base result; it is rescaled to each strength
        if cls.defense_aware:
            # the defense itself (its surrogates trait and linearization come with it), or its draws
            params["purify"] = self._draws(unit)
            takes_eot = any(p.name == "eot" for p in cls.PARAMS)
            if takes_eot and not self.plan.defenses[str(unit.via)].randomized:
                params["eot"] = 1  # the same draw every time: more samples would only cost time
        attack = cls(**params)
        model = self.source(entry, unit.via)
        x = torch.from_numpy(unit.images).permute(0, 3, 1, 2).contiguous().to(model.device)
        outs = attack.run(model, x, labels=list(unit.labels), cancel=cancel, precision=self.plan.precision)
        return np.stack([o.adversarial for o in outs]).astype(np.float32)

    def _draws(self, unit: Unit) -> Callable[[np.ndarray], np.ndarray]:
        """The defense a defense-aware attack goes through; a randomized one draws afresh on every call
        (that is what EOT averages over), from a seeded stream so a resumed run draws the same."""
        assert unit.via is not None
        via = unit.via
        if not self.plan.defenses[via].randomized:
            return self.defense(via)
        rng = np.random.default_rng(stable_seed(self.plan.seed, "bpda", unit.attack, via, *unit.ids))
        return lambda img: self.defense(via, int(rng.integers(2**31 - 1)))(img)

    def _judge(
        self,
        unit: Unit,
        entry: AttackEntry | None,
        strength: float,
        dkey: str,
        imgs: np.ndarray,
        attack_seconds: np.ndarray,
        cancel: CancelFn | None,
    ) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        purified = []
        for img_id, img in zip(unit.ids, imgs):
            check_cancel(cancel)
            seed = stable_seed(self.plan.seed, img_id, unit.attack or "clean", strength, dkey)
            purified.append(self.defense(dkey, seed).purify(img, cancel=cancel).purified)
        batch = torch.from_numpy(np.stack(purified)).permute(0, 3, 1, 2).contiguous()
        pred = self.judge(dkey).probabilities(batch).argmax(1).cpu().numpy()
        per_image = (time.perf_counter() - t0) / len(unit.ids)
        l2, linf, d = batch_perturbation_stats(unit.images, imgs)
        flat = imgs.reshape(len(unit.ids), -1)
        ok = np.isfinite(flat).all(1) & (flat.min(1) >= 0) & (flat.max(1) <= 1)
        eot = unit.via is not None and self.plan.defenses[unit.via].randomized
        iters = 0 if entry is None else entry.iterations(eot)
        judge = self.judge_label(dkey)
        rows = []
        for i, img_id in enumerate(unit.ids):
            rows.append(
                {
                    "file": img_id,
                    "true_index": unit.labels[i],
                    "threat": entry.threat if entry else "",
                    "source": (entry.source or "") if entry else "",
                    "attack": unit.attack or "",
                    "strength": float(strength),
                    "defense": dkey,
                    "pred_index": int(pred[i]),
                    "correct": int(pred[i] == unit.labels[i]),
                    "l2": float(l2[i]),
                    "linf": float(linf[i]),
                    "d": float(d[i]),
                    "in_range": int(ok[i]),
                    "iterations": iters,
                    "attack_seconds": float(attack_seconds[i]),
                    "seconds": float(attack_seconds[i] + per_image),
                    "classifier": judge,
                }
            )
        return rows


def _scale(x: np.ndarray, base: np.ndarray, d: float, exact: bool) -> np.ndarray:
    out = scale_perturbation(torch.from_numpy(x), torch.from_numpy(base), d, at_least_one=not exact)
    return out.numpy().astype(np.float32)


def _build(entry: DefenseEntry, device: str, extra: dict[str, Any] | None = None) -> Defense:
    """The one builder: the entry's learned file (a name or a file) is read by the defense's own trait."""
    params = {**entry.params, **(extra or {})}
    return create_defense(entry.name, params, file=entry.file, device=device)


def _with_local_files(value: Any, files: dict[str, str]) -> Any:
    """The plan with every file it names replaced by this process's copy (``files``: named → local)."""
    if not files:
        return value
    if isinstance(value, str):
        return files.get(value, value)
    if isinstance(value, dict):
        return {k: _with_local_files(v, files) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_local_files(v, files) for v in value]
    return value
