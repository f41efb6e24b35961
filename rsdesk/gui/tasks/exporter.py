"""Export of the current image's results: the panel grid, the adversarial image (lossless PNG and exact
.npy), the purified image and an HTML report — only results that are current, never stale ones. How each
file is written is :mod:`rsdesk.gui.tasks.report`; what goes into it is decided here.

The panel grid and the story's steps are rendered for slides (:mod:`.snapshot`: 2× by default, no window
controls in them), not grabbed from the screen. :func:`prepare_export` runs on the GUI thread (rendering
widgets must; it takes milliseconds); :func:`write_export` encodes and writes, on a worker in the window
(encoding 2× PNGs takes a second), and reads the dictionary's SHA-256 there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from rsdesk.core.defenses import DEFENSES
from rsdesk.core.io.assets import default_dictionary_path, file_sha256
from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.models.classifier import ClassScore, Prediction
from rsdesk.core.overlays import overlay_heatmap, overlay_mask
from rsdesk.gui.models.configs import DefenseConfig
from rsdesk.gui.models.export_size import ExportSize
from rsdesk.gui.models.results import ResultsModel, Row
from rsdesk.gui.models.stage_results import AttackResult, OriginalResult, PurifyResult
from rsdesk.gui.models.state import AppState
from rsdesk.gui.tasks.report import (
    Report,
    ReportPanel,
    export_image_npy,
    export_image_png,
    export_picture_png,
    write_html_report,
)
from rsdesk.gui.tasks.snapshot import StorySource, render_story_steps, render_widget


class NothingToExport(ValueError):
    """The current image has no finished attack yet."""


def _cam_panel(title: str, res: object) -> ReportPanel:
    cam = getattr(res, "cam", None)
    if cam is None:
        return ReportPanel(title, None, note="not computed")
    return ReportPanel(
        title,
        overlay_heatmap(res.image, cam.heat),
        note=f"{cam.method} of {imagenet_classes().name(cam.class_index)}",
    )


def true_rank(prediction: Prediction, true_label: int | None) -> tuple[int | None, ClassScore | None]:
    """Where the true class stands in ``prediction`` (1 = top; the panels' rule: ties rank the same) and
    its score; (None, None) when the true class is not known."""
    if true_label is None:
        return None, None
    probs = prediction.probs
    rank = int((probs > probs[true_label]).sum()) + 1
    name = imagenet_classes().name(int(true_label))
    return rank, ClassScore(int(true_label), name, float(probs[true_label]))


def learned_file_of(defense: DefenseConfig) -> Path | None:
    """The file the defense was built from (RegionSparse's dictionary, a learned purifier's weights), None
    for a defense without one."""
    cls = DEFENSES[defense.name]
    if cls.needs_dictionary:
        ident = defense.dictionary_id
        return default_dictionary_path() if ident in ("", "bundled") else Path(ident)
    if cls.learned_file is not None:
        try:
            source = cls.learned_file.resolve(None)  # the window builds it with the default file
        except (TypeError, ValueError):
            return None
        return Path(source) if isinstance(source, (str, Path)) else None
    return None


def _learned_file_rows(defense: DefenseConfig) -> dict[str, str]:
    path = learned_file_of(defense)
    if path is None:
        return {}
    what = DEFENSES[defense.name].learned_file.title
    bundled = path == default_dictionary_path() or defense.dictionary_id in ("", "bundled")
    try:
        digest = file_sha256(path)
    except (OSError, ValueError) as exc:  # moved or deleted since it was loaded
        digest = f"unavailable ({exc})"
    return {f"{what} file": f"{path}" + (" (bundled)" if bundled else ""), f"{what} SHA-256": digest}


def _ranked(
    title: str, result: OriginalResult | AttackResult, note: str, true_label: int | None
) -> ReportPanel:
    """A classified panel of the report: its image, top 5, verdict, note and the true class's rank."""
    panel = ReportPanel(title, result.image, result.prediction.top(5), result.judgement.verdict.value, note)
    panel.true_rank, panel.true_score = true_rank(result.prediction, true_label)
    return panel


def build_report(results: ResultsModel, state: AppState, learned_files: bool = True) -> Report:
    """The report of what the panels show now (current rows only); ``learned_files``: with the defense's
    learned file and its SHA-256 (the file is read)."""
    orig: OriginalResult | None = results.result(Row.ORIGINAL)
    adv: AttackResult | None = results.result(Row.ADVERSARIAL)
    pur: PurifyResult | None = results.result(Row.PURIFIED)
    if orig is None or adv is None:
        raise NothingToExport("nothing to export yet: attack the current image first (Ctrl+Enter)")
    truth = orig.true_label
    adv_db = "∞" if math.isinf(adv.psnr) else f"{adv.psnr:.2f}"
    stats = adv.stats
    perturbation = (
        f"L∞ {stats.linf:.1f}/255, L2 {stats.l2:.3f}, d {stats.d:.4f}, PSNR vs original {adv_db} dB. "
    )
    panels = [
        _ranked("Original", orig, orig.judgement.note, truth),
        _ranked("Adversarial", adv, perturbation + adv.judgement.note, truth),
    ]
    params = {
        "classifier": state.classifier_title,
        "attack": adv.config.describe(),
        **{
            f"attack {k}": "auto" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
            for k, v in adv.config.params.items()
        },
        "L∞ (/255)": f"{adv.stats.linf:.2f}",
        "L2": f"{adv.stats.l2:.4f}",
        "d (‖δ‖₂/‖x‖₂)": f"{adv.stats.d:.4f}",
        "PSNR adversarial (dB)": adv_db,
    }
    if truth is not None:
        params["true class"] = f"{imagenet_classes().name(truth)} ({truth})"
        params["true class rank, adversarial"] = f"#{panels[1].true_rank}"
    if pur is not None:
        if pur.mask is not None:
            panels.append(
                ReportPanel(
                    "Object mask",
                    overlay_mask(adv.image, pur.mask),
                    note=f"object region {100 * (pur.coverage or 0):.0f}% of the image",
                )
            )
        db = "∞" if math.isinf(pur.psnr) else f"{pur.psnr:.2f}"
        clean = pur.clean_prediction.top(1)[0]
        note = (
            f"PSNR vs original {db} dB; the clean image through the defense: "
            f"{clean.label} ({'correct' if pur.clean_correct else 'wrong'})"
            + (f". {pur.judgement.note}" if pur.judgement.note else "")  # who won (core/verdicts)
        )
        purified = _ranked("Purified", pur, note, truth)
        panels.append(purified)
        params["defense"] = pur.title
        params["PSNR purified (dB)"] = db
        if truth is not None:
            params["true class rank, purified"] = f"#{purified.true_rank}"
        if learned_files:
            params.update(_learned_file_rows(pur.defense))
    else:
        params["defense"] = "off"
    panels += [_cam_panel("CAM original", orig), _cam_panel("CAM adversarial", adv)]
    if pur is not None:
        panels.append(_cam_panel("CAM purified", pur))
    true = imagenet_classes().name(orig.true_label) if orig.true_label is not None else None
    return Report(orig.path.name, true, panels, params)


@dataclass
class PreparedExport:
    """An export gathered on the GUI thread (the widgets rendered, the report built), for
    :func:`write_export` to encode and write from any thread: PNG encoding of 2× pictures takes a while."""

    folder: Path
    stem: str
    report: Report
    adversarial: np.ndarray
    purified: tuple[str, np.ndarray] | None  # (the defense's name, its image)
    pictures: list[tuple[str, QImage]] = field(default_factory=list)  # (file name suffix, picture)
    defense: DefenseConfig | None = None  # its learned file is named and hashed in the report


def prepare_export(
    grid: QWidget,
    results: ResultsModel,
    state: AppState,
    folder: Path,
    size: ExportSize | None = None,
    story: StorySource | None = None,
) -> PreparedExport:
    """What an export of the current image writes (GUI thread: it renders the panel grid and, given
    ``story``, each story step at ``size``, default 2×, without window controls). NothingToExport before
    an attack."""
    size = size or ExportSize()
    report = build_report(results, state, learned_files=False)
    orig: OriginalResult = results.result(Row.ORIGINAL)
    adv: AttackResult = results.result(Row.ADVERSARIAL)
    pur: PurifyResult | None = results.result(Row.PURIFIED)
    pictures = [("panels", render_widget(grid, size))]
    if story is not None:
        pictures += [(f"story{n}", p) for n, p in enumerate(render_story_steps(story, size), 1)]
    return PreparedExport(
        Path(folder),
        f"{orig.path.stem}_{adv.config.name}",
        report,
        adv.image,
        (pur.defense.name, pur.image) if pur is not None else None,
        pictures,
        pur.defense if pur is not None else None,
    )


def write_export(prepared: PreparedExport) -> list[Path]:
    """Write a prepared export (any thread: no widget is touched); returns the files written."""
    p, folder = prepared, prepared.folder
    stem = p.stem
    pictures = dict(p.pictures)
    out = [
        export_picture_png(pictures.pop("panels"), folder / f"{stem}_panels.png"),
        export_image_png(folder / f"{stem}_adversarial.png", p.adversarial),
        export_image_npy(folder / f"{stem}_adversarial.npy", p.adversarial),
    ]
    if p.purified is not None:
        out.append(export_image_png(folder / f"{stem}_purified_{p.purified[0]}.png", p.purified[1]))
    out += [export_picture_png(picture, folder / f"{stem}_{name}.png") for name, picture in pictures.items()]
    if p.defense is not None:
        p.report.parameters.update(_learned_file_rows(p.defense))  # its SHA-256: read here, off the GUI
    out.append(write_html_report(folder / f"{stem}_report.html", p.report))
    return out


def export_current(
    grid: QWidget,
    results: ResultsModel,
    state: AppState,
    folder: Path,
    size: ExportSize | None = None,
    story: StorySource | None = None,
) -> list[Path]:
    """Write every export of the current image into ``folder`` now; returns the files written."""
    return write_export(prepare_export(grid, results, state, folder, size, story))
