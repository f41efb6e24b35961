"""The pipeline's stages as plain, Qt-free functions that take ``progress``/``cancel`` callables.

Each runs on a worker thread (submitted through :mod:`rsdesk.gui.tasks.runner`) and returns a record of
:mod:`rsdesk.gui.models.stage_results` that the GUI thread displays. Data flows one way: image → attack →
purify → classify; CAM and activation profiles come last, because the verdicts matter more and must not
wait for them. Also here: loading the classifier, decoding an imported file, and the batch attack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from rsdesk.core.attacks import AttackOutcome
from rsdesk.core.errors import ImageError, error_text
from rsdesk.core.io.datasets import LabelLookup
from rsdesk.core.io.images import load_image, resize_center_crop, to_uint8
from rsdesk.core.models.classifier import Classifier, Prediction, load_classifier
from rsdesk.core.models.explain import activation_profile, class_activation_map
from rsdesk.core.overlays import amplify_difference
from rsdesk.core.progress import CancelFn, ProgressFn, check_cancel, report, scaled
from rsdesk.core.verdicts import (
    Judgement,
    Verdict,
    judge_adversarial,
    judge_original,
    judge_purified,
    perturbation_stats,
    psnr,
)
from rsdesk.gui.models.configs import AttackConfig, DefenseConfig
from rsdesk.gui.models.stage_results import (
    AttackResult,
    CachedAttack,
    ExplainResult,
    OriginalResult,
    PurifyResult,
)


class ModelLock:
    """Readers-writer lock for the shared classifier.

    Plain forward/backward passes (classify, attacks) may run together on different threads; explanations
    register forward hooks on the network, which would catch another thread's pass, so they run alone.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and self._readers == 0)
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


MODEL_LOCK = ModelLock()

THUMB_SIZE = 112


def load_and_warm(name: str, weights: str | None, device: str) -> Classifier:
    """Load a classifier and run one forward+backward pass, so the first attack is not 2 s slower."""
    model = load_classifier(name, weights or None, device)
    x = torch.zeros(1, 3, model.input_size, model.input_size, device=model.device, requires_grad=True)
    with MODEL_LOCK.shared():
        model(x).sum().backward()
    return model


# ----- import --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedImage:
    path: Path
    thumbnail: np.ndarray  # uint8 RGB, longer side THUMB_SIZE
    prepared: np.ndarray | None  # float32 at the classifier's input size (None: made when opened)
    true_label: int | None
    size: tuple[int, int]  # original width, height


def thumbnail(img: np.ndarray, side: int = THUMB_SIZE) -> np.ndarray:
    """A small uint8 copy for the gallery (area-averaged, aspect kept)."""
    h, w = img.shape[:2]
    s = side / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return to_uint8(small)


def import_image(path: Path, input_size: int, label_of: LabelLookup, prepare: bool = True) -> ImportedImage:
    """Decode one file (ImageError says why it cannot be used) into a thumbnail and, with ``prepare``, a
    copy at the classifier's input size (else made when the image is opened)."""
    img = load_image(path)
    return ImportedImage(
        path=path,
        thumbnail=thumbnail(img),
        prepared=resize_center_crop(img, input_size) if prepare else None,
        true_label=label_of(path),
        size=(img.shape[1], img.shape[0]),
    )


# ----- stages --------------------------------------------------------------------------------------


def prepare_path(path: Path, input_size: int) -> np.ndarray:
    return resize_center_crop(load_image(path), input_size)


def _classify(model: Classifier, img: np.ndarray) -> Prediction:
    with MODEL_LOCK.shared():
        return model.classify(img)


def run_original(
    model: Classifier,
    path: Path,
    image: np.ndarray | None,
    label: int | None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> OriginalResult:
    """Load (unless given) and classify the clean image."""
    report(progress, 0.0, "loading")
    img = image if image is not None else prepare_path(path, model.input_size)
    check_cancel(cancel)
    report(progress, 0.5, "classifying")
    pred = _classify(model, img)
    report(progress, 1.0, "done")
    return OriginalResult(path, img, pred, label, judge_original(pred.index, label))


def _judge_attack(predicted: int, original: OriginalResult, config: AttackConfig | CachedAttack) -> Judgement:
    """The adversarial panel's verdict: never FOOLED for an image wrong before the attack; a defense-aware
    attack that leaves the bare classifier right is judged on the Purified panel."""
    aware, target = config.defense_aware, config.target
    return judge_adversarial(
        predicted, original.reference, target, clean_correct=original.clean_correct, defense_aware=aware
    )


def run_attack(
    model: Classifier,
    original: OriginalResult,
    config: AttackConfig,
    defense: DefenseConfig | None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> AttackResult:
    """Attack the clean image (BPDA through ``defense``) and classify the result on the bare classifier."""
    t0 = time.perf_counter()
    purify: Callable[[np.ndarray], np.ndarray] | None = None
    if config.defense_aware:
        if defense is None or not defense.enabled:
            raise ValueError(f"{config.name_text} attacks through the defense: turn a defense on first (D)")
        purify = defense.create()
    attack = config.create(purify)
    with MODEL_LOCK.shared():
        outcome = attack.run(
            model,
            model.to_tensor(original.image),
            labels=[original.reference],
            targets=config.target,
            progress=scaled(progress, 0.0, 0.95),
            cancel=cancel,
            precision=config.precision,
        )[0]
    check_cancel(cancel)
    adv = outcome.adversarial
    pred = _classify(model, adv)
    report(progress, 1.0, "done")
    return AttackResult(
        config=config,
        outcome=outcome,
        image=adv,
        prediction=pred,
        judgement=_judge_attack(pred.index, original, config),
        stats=perturbation_stats(original.image, adv),
        psnr=psnr(adv, original.image),
        seconds=time.perf_counter() - t0,
    )


def run_cached_adversarial(
    model: Classifier,
    original: OriginalResult,
    config: CachedAttack,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> AttackResult:
    """The attack stage without an attack: classify an adversarial image made elsewhere (``config.image``,
    e.g. an evaluation's cache) on the bare classifier, and measure it against the clean image."""
    t0 = time.perf_counter()
    adv = config.image
    if adv.shape != original.image.shape:
        h, w = adv.shape[:2]
        size = f"{original.image.shape[1]}×{original.image.shape[0]}"
        raise ValueError(f"the cached adversarial image is {w}×{h}, the classifier takes {size} images")
    check_cancel(cancel)
    report(progress, 0.5, "classifying")
    pred = _classify(model, adv)
    judgement = _judge_attack(pred.index, original, config)
    stats = perturbation_stats(original.image, adv)
    report(progress, 1.0, "done")
    return AttackResult(
        config=config,
        outcome=AttackOutcome(
            adversarial=adv,
            success=judgement.verdict is Verdict.FOOLED,
            l2=stats.l2,
            d=stats.d,
            linf=stats.linf,
            iterations=0,
            reference=original.reference,
            predicted=pred.index,
        ),
        image=adv,
        prediction=pred,
        judgement=judgement,
        stats=stats,
        psnr=psnr(adv, original.image),
        seconds=time.perf_counter() - t0,
    )


def run_purify(
    model: Classifier,
    original: OriginalResult,
    attack: AttackResult,
    defense: DefenseConfig,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    shown: Callable[[PurifyResult], None] | None = None,
) -> PurifyResult:
    """Purify the adversarial image, hand that image-only result to ``shown`` (the panel shows it at once),
    then purify the clean image (the defense's price) and classify both."""
    t0 = time.perf_counter()
    d = defense.create()
    result = d.purify(attack.image, scaled(progress, 0.0, 0.5), cancel)
    check_cancel(cancel)
    removed, gain = amplify_difference(result.purified, attack.image)
    mask = result.mask
    image_only = PurifyResult(
        defense=defense,
        title=d.describe(),
        image=result.purified,
        mask=mask,
        coverage=float(mask.mean()) if mask is not None else None,
        removed=removed,
        removed_gain=gain,
        psnr=psnr(result.purified, original.image),
        seconds=time.perf_counter() - t0,
    )
    if shown is not None:
        shown(image_only)
    # Nothing below is needed for the image: it follows, and fills in the predictions and the verdict.
    report(progress, 0.5, "purifying the clean image")
    clean = d.purify(original.image, None, cancel).purified
    check_cancel(cancel)
    report(progress, 0.7, "classifying")
    with MODEL_LOCK.shared():  # one batched forward pass for both images: cheaper than two
        pred, clean_pred = model.classify_many([result.purified, clean])
    report(progress, 1.0, "done")
    defended_ok = clean_pred.index == original.reference  # the defense's price: the clean image through it
    return replace(
        image_only,
        prediction=pred,
        judgement=judge_purified(
            *(pred.index, original.reference, attack.fooled),
            clean_correct=original.clean_correct,
            defended_clean_correct=defended_ok,
            defense_aware=attack.defense_aware,
        ),
        clean_prediction=clean_pred,
        clean_correct=defended_ok,
        seconds=time.perf_counter() - t0,
    )


def run_explain(
    model: Classifier,
    images: dict[str, np.ndarray],
    profiles: bool,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExplainResult:
    """CAM of each image's top-1 class, and (if asked) its activation profile for the Activations tab."""
    out = ExplainResult()
    total = max(1, len(images) * (2 if profiles else 1))
    done = 0
    for key, img in images.items():
        check_cancel(cancel)
        with MODEL_LOCK.exclusive():
            out.cams[key] = class_activation_map(model, img)
        done += 1
        report(progress, done / total, f"CAM {key}")
    if profiles:
        for key, img in images.items():
            check_cancel(cancel)
            with MODEL_LOCK.exclusive():
                out.profiles[key] = activation_profile(model, img)
            done += 1
            report(progress, done / total, f"activations {key}")
    return out


# ----- batch ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchItem:
    path: Path
    image: np.ndarray | None  # the prepared image if already loaded
    label: int | None
    original: OriginalResult | None  # if already classified


@dataclass(frozen=True)
class BatchOutcome:
    path: Path
    original: OriginalResult | None = None
    attack: AttackResult | None = None
    purified: PurifyResult | None = None
    error: str = ""


@dataclass(frozen=True)
class BatchCounts:
    """What a batch did, in the panels' words: images attacked (without the failed ones), FOOLED,
    RECOVERED, DEFENSE BEATEN, and those the model got wrong before any attack (never counted as fooled)."""

    done: int
    fooled: int
    recovered: int
    beaten: int
    misclassified: int
    failed: int


def run_batch(
    model: Classifier,
    items: list[BatchItem],
    config: AttackConfig,
    defense: DefenseConfig,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    emit: Callable[[BatchOutcome], None],
) -> BatchCounts:
    """Attack, purify and classify each image; ``emit`` each outcome as it is ready (a bad image is an
    outcome with an error, and the batch goes on)."""
    fooled = recovered = beaten = misclassified = failed = 0
    for i, item in enumerate(items):
        check_cancel(cancel)
        report(progress, i / len(items), f"{item.path.name} ({i + 1}/{len(items)})")
        try:
            orig = item.original or run_original(model, item.path, item.image, item.label, None, cancel)
            atk = run_attack(model, orig, config, defense if config.defense_aware else None, None, cancel)
            pur = run_purify(model, orig, atk, defense, None, cancel) if defense.enabled else None
        except (ImageError, ValueError, RuntimeError) as exc:
            failed += 1
            emit(BatchOutcome(item.path, error=error_text(exc)))
            continue
        fooled += atk.fooled
        misclassified += not orig.clean_correct
        recovered += bool(pur is not None and pur.recovered)
        beaten += bool(pur is not None and pur.beaten)
        emit(BatchOutcome(item.path, orig, atk, pur))
    report(progress, 1.0, "done")
    return BatchCounts(len(items) - failed, fooled, recovered, beaten, misclassified, failed)
