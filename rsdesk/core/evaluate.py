"""Accuracy sweeps: attack a labelled image set once per strength, then classify it through every defense.

This is what reproduces the paper's Fig. 5 / Table II on a user's own images (``rsdesk evaluate``, and the
GUI's Evaluate tab). Adversarial examples are gray-box: made on the bare classifier, then purified.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rsdesk.core.attacks import Attack, attack_class
from rsdesk.core.classifier import Classifier
from rsdesk.core.defenses import Defense
from rsdesk.core.images import quantize
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report


@dataclass
class SweepResult:
    """Top-1 accuracy (fraction) per defense and attack strength; strength 0 is the clean images."""

    attack: str
    strengths: list[float]
    defenses: list[str]
    accuracy: dict[str, list[float]] = field(default_factory=dict)  # defense → per strength
    attack_success: list[float] = field(default_factory=list)  # per strength, on the bare classifier
    n_images: int = 0
    seconds: float = 0.0

    def table(self) -> str:
        """A plain-text table, one row per defense, one column per strength."""
        unit = attack_class(self.attack).strength.symbol
        width = max(12, *(len(n) for n in self.defenses))
        head = ["defense".ljust(width)] + [
            ("clean" if s == 0 else f"{unit} {s:g}").rjust(9) for s in self.strengths
        ]
        lines = [" ".join(head)]
        for name in self.defenses:
            cells = [f"{100 * a:8.1f}%" for a in self.accuracy[name]]
            lines.append(" ".join([name.ljust(width), *cells]))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "attack": self.attack,
            "strengths": self.strengths,
            "n_images": self.n_images,
            "accuracy": self.accuracy,
            "attack_success": self.attack_success,
            "seconds": round(self.seconds, 2),
        }


def _top1(model: Classifier, imgs: Sequence[np.ndarray]) -> np.ndarray:
    out: list[int] = []
    for s in range(0, len(imgs), 16):
        out += [p.index for p in model.classify_many(list(imgs[s : s + 16]))]
    return np.array(out)


def make_attack(name: str, strength: float, purify: Defense | None = None, **params: float) -> Attack:
    """The attack at one sweep strength (its :attr:`~Attack.strength` trait: ε /255 for L∞ attacks, d for
    CW-L2); a defense-aware attack is made through ``purify``."""
    cls = attack_class(name)
    values: dict[str, object] = {**params, cls.strength.param: strength}
    if cls.defense_aware:
        values["purify"] = purify
    return cls(**values)


def _attack_all(
    model: Classifier,
    prepared: list[np.ndarray],
    y: np.ndarray,
    atk: Attack,
    quantize_adversarial: bool,
    batch_size: int,
    on_batch: Callable[[float], None],
    cancel: CancelFn | None,
) -> list[np.ndarray]:
    adv: list[np.ndarray] = []
    for s in range(0, len(prepared), batch_size):
        check_cancel(cancel)
        x = model.to_tensor(prepared[s : s + batch_size])
        outs = atk.run(model, x, labels=[int(v) for v in y[s : s + batch_size]], cancel=cancel)
        adv += [quantize(o.adversarial) if quantize_adversarial else o.adversarial for o in outs]
        on_batch(s / len(prepared))
    return adv


def sweep(
    model: Classifier,
    images: Sequence[np.ndarray],
    labels: Sequence[int],
    attack: str,
    strengths: Sequence[float],
    defenses: dict[str, Defense],
    attack_params: dict[str, float] | None = None,
    quantize_adversarial: bool = False,
    batch_size: int = 8,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> SweepResult:
    """Top-1 accuracy of every defense on the clean images and at every attack strength.

    Gray-box attacks are made once per strength on the bare classifier and shown to every defense. A
    defense-aware attack (BPDA) is made separately against each defense (its gradients go through that
    defense), so its ``attack_success`` on the bare classifier is not defined and recorded as NaN.
    ``quantize_adversarial`` rounds adversarial images to 8 bits first, as saving them to PNG would.
    """
    t0 = time.perf_counter()
    if len(images) != len(labels) or not images:
        raise ValueError("need the same, non-zero number of images and labels")
    prepared = [model.prepare(im) for im in images]
    y = np.asarray(labels)
    levels = [0.0] + [float(s) for s in strengths if float(s) > 0]
    aware = attack_class(attack).defense_aware
    res = SweepResult(attack, levels, list(defenses), {n: [] for n in defenses}, n_images=len(images))
    steps_total = len(levels) * (1 + len(defenses))
    step = 0
    for level in levels:
        check_cancel(cancel)

        def on_batch(frac: float, at: float = step, lvl: float = level) -> None:
            report(progress, (at + frac) / steps_total, f"{attack} {lvl:g}: attacking")

        shared: list[np.ndarray] = prepared
        if level == 0:
            res.attack_success.append(float(np.mean(_top1(model, prepared) != y)))
        elif aware:
            res.attack_success.append(float("nan"))
        else:
            atk = make_attack(attack, level, **(attack_params or {}))
            shared = _attack_all(model, prepared, y, atk, quantize_adversarial, batch_size, on_batch, cancel)
            res.attack_success.append(float(np.mean(_top1(model, shared) != y)))
        step += 1
        for name, defense in defenses.items():
            adv = shared
            if aware and level > 0:
                atk = make_attack(attack, level, purify=defense, **(attack_params or {}))
                adv = _attack_all(model, prepared, y, atk, quantize_adversarial, batch_size, on_batch, cancel)
            purified = []
            for i, im in enumerate(adv):
                check_cancel(cancel)
                purified.append(defense.purify(im, cancel=cancel).purified)
                if i % 10 == 0:
                    report(progress, (step + i / len(adv)) / steps_total, f"{attack} {level:g}: {name}")
            res.accuracy[name].append(float(np.mean(_top1(model, purified) == y)))
            step += 1
    report(progress, 1.0, "done")
    res.seconds = time.perf_counter() - t0
    return res
