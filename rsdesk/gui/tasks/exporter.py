"""Export of the current image's results: the panel grid, the adversarial image (lossless PNG and exact
.npy), the purified image and an HTML report — only results that are current, never stale ones. How each
file is written is :mod:`rsdesk.gui.tasks.report`; what goes into it is decided here.

Runs on the GUI thread: grabbing the panel grid must, and the rest takes milliseconds."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtWidgets import QWidget

from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.overlays import overlay_heatmap, overlay_mask
from rsdesk.gui.models.results import ResultsModel, Row
from rsdesk.gui.models.stage_results import AttackResult, OriginalResult, PurifyResult
from rsdesk.gui.models.state import AppState
from rsdesk.gui.tasks.report import (
    Report,
    ReportPanel,
    export_grid_png,
    export_image_npy,
    export_image_png,
    write_html_report,
)


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


def build_report(results: ResultsModel, state: AppState) -> Report:
    """The report of what the panels show now (current rows only)."""
    orig: OriginalResult | None = results.result(Row.ORIGINAL)
    adv: AttackResult | None = results.result(Row.ADVERSARIAL)
    pur: PurifyResult | None = results.result(Row.PURIFIED)
    if orig is None or adv is None:
        raise NothingToExport("nothing to export yet: attack the current image first (Ctrl+Enter)")
    panels = [
        ReportPanel(
            "Original", orig.image, orig.prediction.top(5), orig.judgement.verdict.value, orig.judgement.note
        ),
        ReportPanel(
            "Adversarial",
            adv.image,
            adv.prediction.top(5),
            adv.judgement.verdict.value,
            f"L∞ {adv.stats.linf:.1f}/255, L2 {adv.stats.l2:.3f}, d {adv.stats.d:.4f}. " + adv.judgement.note,
        ),
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
    }
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
        panels.append(
            ReportPanel(
                "Purified",
                pur.image,
                pur.prediction.top(5),
                pur.judgement.verdict.value,
                f"PSNR vs original {db} dB; the clean image through the defense: "
                f"{clean.label} ({'correct' if pur.clean_correct else 'wrong'})",
            )
        )
        params["defense"] = pur.title
        params["PSNR purified (dB)"] = db
    else:
        params["defense"] = "off"
    panels += [_cam_panel("CAM original", orig), _cam_panel("CAM adversarial", adv)]
    if pur is not None:
        panels.append(_cam_panel("CAM purified", pur))
    true = imagenet_classes().name(orig.true_label) if orig.true_label is not None else None
    return Report(orig.path.name, true, panels, params)


def export_current(grid: QWidget, results: ResultsModel, state: AppState, folder: Path) -> list[Path]:
    """Write every export of the current image into ``folder``; returns the files written."""
    report = build_report(results, state)
    orig: OriginalResult = results.result(Row.ORIGINAL)
    adv: AttackResult = results.result(Row.ADVERSARIAL)
    pur: PurifyResult | None = results.result(Row.PURIFIED)
    stem = f"{orig.path.stem}_{adv.config.name}"
    folder = Path(folder)
    out = [
        export_grid_png(grid, folder / f"{stem}_panels.png"),
        export_image_png(folder / f"{stem}_adversarial.png", adv.image),
        export_image_npy(folder / f"{stem}_adversarial.npy", adv.image),
    ]
    if pur is not None:
        out.append(export_image_png(folder / f"{stem}_purified_{pur.defense.name}.png", pur.image))
    out.append(write_html_report(folder / f"{stem}_report.html", report))
    return out
