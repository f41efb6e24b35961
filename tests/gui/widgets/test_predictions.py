"""Verdict badges read in grayscale; prediction bars mark the true class and its rank."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from rsdesk.core.models.classifier import Prediction
from rsdesk.core.verdicts import Verdict
from rsdesk.gui.widgets.predictions import PredictionBars, VerdictBadge, prediction_rows
from rsdesk.gui.widgets.qimage import from_qimage


def test_verdicts_read_in_grayscale(qtbot):
    """Each verdict renders differently even with colour removed (icon shape + word)."""
    shots = {}
    for v in Verdict:
        badge = VerdictBadge()
        qtbot.addWidget(badge)
        badge.resize(260, 40)
        badge.set_verdict(v)
        gray = badge.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
        shots[v] = from_qimage(gray)[..., 0]
        # the icon alone (left square) differs between the four demo verdicts
    icons = {
        v: shots[v][:, :40]
        for v in (Verdict.CORRECT, Verdict.FOOLED, Verdict.RECOVERED, Verdict.STILL_FOOLED)
    }
    keys = list(icons)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            assert np.abs(icons[a].astype(int) - icons[b].astype(int)).sum() > 500, (a, b)
    assert [v.value for v in keys] == ["correct", "FOOLED", "RECOVERED", "STILL FOOLED"]


def test_prediction_rows_mark_true_class_and_its_rank():
    probs = np.linspace(1, 0, 1000).astype(np.float32)
    probs /= probs.sum()
    pred = Prediction(probs)
    rows = prediction_rows(pred, true_class=2, target=None)
    assert [r.score.index for r in rows] == [0, 1, 2, 3, 4] and rows[2].mark == "true"
    rows = prediction_rows(pred, true_class=40, target=3)
    assert len(rows) == 6 and rows[-1].score.index == 40 and rows[-1].rank == 41
    assert rows[3].mark == "target"


def test_prediction_bars_paint(qtbot):
    bars = PredictionBars()
    qtbot.addWidget(bars)
    bars.resize(300, bars.sizeHint().height())
    probs = np.full(1000, 0.0001, np.float32)
    probs[281] = 0.9
    bars.set_rows(prediction_rows(Prediction(probs), 281))
    img = from_qimage(bars.grab().toImage())
    assert img[: bars.height() // 6, : int(300 * 0.8)].std() > 5  # a long bar in the first row
