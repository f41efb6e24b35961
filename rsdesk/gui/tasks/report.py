"""Writing exports: the panel grid as PNG, single images as PNG or exact NPY, a self-contained HTML report.

Every file is written atomically. The HTML report embeds its images as base64 PNG data URIs so it can be
mailed or attached as one file, escapes every piece of text (class names and file names come from users),
and shows verdicts as icon + word so it reads in grayscale print-outs too.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QWidget

from rsdesk import __version__
from rsdesk.core.io.files import atomic_write
from rsdesk.core.io.images import save_npy, save_png, to_uint8
from rsdesk.core.models.classifier import ClassScore

#: icon, CSS class — the word itself is always printed beside the icon.
VERDICT_STYLE: dict[str, tuple[str, str]] = {
    "correct": ("✓", "ok"),
    "recovered": ("✓", "ok"),
    "fooled": ("✗", "bad"),
    "still fooled": ("✗", "bad"),
    "broken": ("✗", "bad"),
    "defense beaten": ("✗", "bad"),
    "misclassified": ("✗", "bad"),
    "reference": ("i", ""),
}


@dataclass
class ReportPanel:
    """One panel of the grid as it should appear in a report."""

    title: str
    image: np.ndarray | None
    top5: list[ClassScore] = field(default_factory=list)
    verdict: str = ""
    note: str = ""
    #: the true class's place in this panel's prediction (1 = top) and its score; None: not known
    true_rank: int | None = None
    true_score: ClassScore | None = None


@dataclass
class Report:
    image_name: str
    true_label: str | None
    panels: list[ReportPanel]
    parameters: dict[str, str]


def _check_image(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or arr.size == 0:
        raise ValueError(f"cannot export an array of shape {arr.shape}: expected an H×W×3 image")
    if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
        raise ValueError("cannot export an image with NaN or infinite values")
    return arr


def _save_png(picture: QImage | QPixmap, path: Path) -> Path:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not picture.save(buffer, "PNG"):
        raise OSError(f"could not encode {Path(path).name} as PNG")
    data = bytes(QByteArray(buffer.data()).data())
    return atomic_write(path, lambda fh: fh.write(data))


def export_grid_png(widget: QWidget, path: Path) -> Path:
    """Grab the widget as it looks on screen (GUI thread only) and save it as PNG."""
    return _save_png(widget.grab(), path)


def export_picture_png(picture: QImage, path: Path) -> Path:
    """Save a rendered picture (:mod:`rsdesk.gui.tasks.snapshot`) as PNG, atomically."""
    return _save_png(picture, path)


def export_image_png(path: Path, img: np.ndarray) -> Path:
    """Lossless 8-bit PNG (what a viewer or another tool sees)."""
    return save_png(path, _check_image(img))


def export_image_npy(path: Path, img: np.ndarray) -> Path:
    """Exact float32 ``.npy``: an adversarial example keeps every bit of its perturbation."""
    return save_npy(path, _check_image(img))


def png_data_uri(img: np.ndarray) -> str:
    """``data:image/png;base64,...`` for an H×W×3 [0, 1] image."""
    data = to_uint8(_check_image(img))
    pil = Image.fromarray(data, mode="RGB" if data.ndim == 3 else "L")
    out = io.BytesIO()
    pil.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


# ----- HTML report --------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:1.4em;margin:0 0 4px}
.meta{color:#555;margin-bottom:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:16px}
figure{margin:0;border:1px solid #ccc;border-radius:6px;padding:8px;background:#fafafa}
figure img{width:100%;image-rendering:pixelated;display:block;border-radius:3px}
figcaption{font-weight:600;margin-bottom:6px}
.missing{height:180px;display:flex;align-items:center;justify-content:center;color:#777;
  border:1px dashed #aaa;border-radius:3px}
.verdict{font-weight:700;font-size:1.1em;margin:6px 0 2px}
.verdict.ok{color:#1b5e20}.verdict.bad{color:#b71c1c}
.note{color:#444;font-size:.9em}
table{border-collapse:collapse;margin-top:6px;width:100%;font-size:.9em}
td,th{border-bottom:1px solid #ddd;padding:2px 4px;text-align:left}
td.p{text-align:right;font-variant-numeric:tabular-nums}
tr.hl{background:#fff3c4;font-weight:700}
tr.hl td:first-child::before{content:'★ '}
.params{width:auto;min-width:320px;margin-top:8px}
.params td{word-break:break-all}
.rank{color:#444;font-size:.9em;margin-top:4px}
footer{margin-top:24px;color:#777;font-size:.85em}
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _highlight_label(report: Report) -> str | None:
    """The class to highlight: the true label when known, else the original image's top-1."""
    if report.true_label:
        return report.true_label
    for p in report.panels:
        if p.top5:
            return p.top5[0].label
    return None


def _verdict_html(verdict: str) -> str:
    if not verdict:
        return ""
    icon, cls = VERDICT_STYLE.get(verdict.strip().lower(), ("•", ""))
    return f'<div class="verdict {cls}">{icon} {_esc(verdict)}</div>'


def _panel_html(panel: ReportPanel, highlight: str | None) -> str:
    parts = [f"<figure><figcaption>{_esc(panel.title)}</figcaption>"]
    if panel.image is not None:
        parts.append(f'<img src="{png_data_uri(panel.image)}" alt="{_esc(panel.title)}">')
    else:
        parts.append('<div class="missing">not computed</div>')
    parts.append(_verdict_html(panel.verdict))
    if panel.note:
        parts.append(f'<div class="note">{_esc(panel.note)}</div>')
    if panel.top5:
        rows = []
        for s in panel.top5:
            cls = ' class="hl"' if highlight is not None and s.label == highlight else ""
            rows.append(f'<tr{cls}><td>{_esc(s.label)}</td><td class="p">{s.prob:.3f}</td></tr>')
        if panel.true_rank is not None and panel.true_rank > 5 and panel.true_score is not None:
            s = panel.true_score
            label = f"#{panel.true_rank} {_esc(s.label)}"
            rows.append(f'<tr class="hl"><td>{label}</td><td class="p">{s.prob:.3f}</td></tr>')
        parts.append("<table><tr><th>top-5 class</th><th>p</th></tr>" + "".join(rows) + "</table>")
    if panel.true_rank is not None:
        parts.append(f'<div class="rank">true class ranked <b>#{panel.true_rank}</b></div>')
    parts.append("</figure>")
    return "".join(parts)


def report_html(report: Report, when: datetime | None = None) -> str:
    """The report as one HTML string (see :func:`write_html_report`)."""
    when = when or datetime.now().astimezone()
    highlight = _highlight_label(report)
    truth = _esc(report.true_label) if report.true_label else "unknown"
    legend = "★ marks the true class" if report.true_label else "★ marks the original prediction"
    params = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in report.parameters.items())
    panels = "\n".join(_panel_html(p, highlight) for p in report.panels)
    title = f"RSDesk report — {report.image_name}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{_esc(title)}</h1>\n"
        f'<div class="meta">true class: <b>{truth}</b> · {legend}</div>\n'
        f'<div class="grid">\n{panels}\n</div>\n'
        f'<h2>Parameters</h2><table class="params">{params}</table>\n'
        f"<footer>Generated {_esc(when.isoformat(timespec='seconds'))} by RSDesk {_esc(__version__)}"
        "</footer>\n</body></html>\n"
    )


def write_html_report(path: Path, report: Report) -> Path:
    """One self-contained HTML file: images embedded, text escaped, written atomically."""
    text = report_html(report)
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
