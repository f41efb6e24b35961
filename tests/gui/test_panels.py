"""Panels, bars, verdicts and parameter editors: aspect, shared zoom and hover, verdicts read in grayscale."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QSpinBox

from rsdesk.core.attacks import ATTACKS
from rsdesk.core.classifier import Prediction
from rsdesk.core.defenses import DEFENSES
from rsdesk.gui.analysis import (
    Verdict,
    amplify_difference,
    judge_adversarial,
    judge_original,
    judge_purified,
    perturbation_stats,
    psnr,
)
from rsdesk.gui.image_panel import ImagePanel, ViewLink
from rsdesk.gui.param_widgets import ParamEditor, ParamForm
from rsdesk.gui.predictions import PredictionBars, VerdictBadge, prediction_rows
from rsdesk.gui.qimage import from_qimage, to_qimage
from rsdesk.gui.results_model import Row, Status


def panels(qtbot, n: int = 2, size: QSize | None = None):
    size = size or QSize(300, 300)
    link = ViewLink()
    out = []
    for _ in range(n):
        p = ImagePanel(link)
        qtbot.addWidget(p)
        p.resize(size)
        p.show()
        out.append(p)
    return link, out


def test_panel_keeps_aspect_ratio(qtbot):
    _, (p,) = panels(qtbot, 1, QSize(300, 300))
    img = QImage(200, 100, QImage.Format.Format_RGB888)
    img.fill(Qt.GlobalColor.red)
    p.set_image(img)
    r = p._image_rect()
    assert r.width() == pytest.approx(300) and r.height() == pytest.approx(150)
    assert r.top() == pytest.approx(75)
    shot = p.grab().toImage()
    assert shot.pixelColor(150, 150).green() < 50  # the red image in the middle
    assert shot.pixelColor(150, 20).green() > 100  # grey letterbox above it


def test_zoom_and_pan_are_shared(qtbot):
    link, (a, b) = panels(qtbot)
    for p in (a, b):
        p.set_image(to_qimage(np.random.default_rng(0).random((224, 224, 3)).astype(np.float32)))
    qtbot.wait(10)
    from PySide6.QtGui import QWheelEvent

    ev = QWheelEvent(
        QPointF(150, 150),
        QPointF(150, 150),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    a.wheelEvent(ev)
    assert link.zoom == pytest.approx(1.25**2)
    assert a._image_rect() == b._image_rect()
    assert a._image_rect().width() == pytest.approx(300 * 1.25**2)
    link.pan_by(0.1, 0.0)
    assert a._image_rect() == b._image_rect()
    qtbot.mouseDClick(b, Qt.MouseButton.LeftButton)
    assert link.zoom == 1.0


def test_hover_marks_the_same_pixel_in_every_panel(qtbot):
    link, (a, b) = panels(qtbot)
    img_a = np.zeros((224, 224, 3), np.float32)
    img_b = np.ones((224, 224, 3), np.float32)
    img_a[112, 56] = (1.0, 0.5, 0.0)
    readouts = []
    a.set_image(to_qimage(img_a), lambda x, y: readouts.append(("a", x, y)) or f"a {x} {y}")
    b.set_image(to_qimage(img_b), lambda x, y: readouts.append(("b", x, y)) or f"b {x} {y}")
    qtbot.mouseMove(a, QPoint(75, 150))  # x = 75/300·224 = 56, y = 112
    qtbot.waitUntil(lambda: link.hover is not None)
    assert link.hover.x() == pytest.approx(0.25) and link.hover.y() == pytest.approx(0.5)
    a.grab()  # renders, with the readout of the hovered pixel
    b.grab()
    assert ("a", 56, 112) in readouts and ("b", 56, 112) in readouts
    a.leaveEvent(None)
    assert link.hover is None


def test_busy_and_stale_are_visible(qtbot):
    _, (p,) = panels(qtbot, 1)
    color = np.zeros((64, 64, 3), np.float32)
    color[..., 0] = 1.0
    p.set_image(to_qimage(color))
    fresh = from_qimage(p.grab().toImage())
    p.set_activity(busy=False, stale=True, message="out of date")
    stale = from_qimage(p.grab().toImage())
    # greyed: the red image loses its colour
    c = stale[40:60, 140:160].astype(int)
    assert np.abs(c[..., 0] - c[..., 1]).mean() < 20 < np.abs(fresh[40:60, 140:160, 0].astype(int) - 0).mean()
    p.set_activity(busy=True, stale=False, progress=0.5, message="attacking")
    assert p.busy and p._spin.isActive()
    p.set_activity(busy=False, stale=False)
    assert not p._spin.isActive()


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


def test_judgements():
    assert judge_original(3, 3).verdict is Verdict.CORRECT
    assert judge_original(3, None).verdict is Verdict.REFERENCE
    assert judge_original(2, 3).verdict is Verdict.MISCLASSIFIED
    assert judge_adversarial(5, 3).verdict is Verdict.FOOLED
    assert judge_adversarial(3, 3).verdict is Verdict.CORRECT
    assert "target" in judge_adversarial(5, 3, target=7).note
    assert judge_purified(3, 3, adversarial_fooled=True).verdict is Verdict.RECOVERED
    assert judge_purified(5, 3, adversarial_fooled=True).verdict is Verdict.STILL_FOOLED
    assert judge_purified(5, 3, adversarial_fooled=False).verdict is Verdict.BROKEN


def test_metrics():
    a = np.zeros((8, 8, 3), np.float32)
    b = a.copy()
    b[0, 0, 0] = 8 / 255
    s = perturbation_stats(a, b)
    assert s.linf == pytest.approx(8.0) and s.l2 == pytest.approx(8 / 255)
    assert psnr(a, a) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(1 / ((8 / 255) ** 2 / 192)), rel=1e-4)
    amp, gain = amplify_difference(b, a)
    assert amp[0, 0, 0] == pytest.approx(1.0) and amp[1, 1, 1] == pytest.approx(0.5) and gain > 1


@pytest.mark.parametrize("name", list(ATTACKS) + list(DEFENSES))
def test_param_forms_follow_the_core_specs(qtbot, name):
    specs = (ATTACKS.get(name) or DEFENSES[name]).PARAMS
    form = ParamForm(specs)
    qtbot.addWidget(form)
    assert set(form.editors) == {p.name for p in specs}
    for spec in specs:
        ed = form.editors[spec.name]
        if spec.is_bool:
            continue
        if not spec.optional:
            assert ed.box.maximum() == pytest.approx(min(spec.maximum, 2**31 - 1))
            assert (
                spec.minimum <= ed.box.minimum() <= spec.minimum + 10.0 ** -getattr(ed.box, "decimals", int)()
            )
        ed.set_value(spec.default)
        assert ed.value() == (spec.default if spec.default is None else pytest.approx(spec.default))


def test_optional_param_has_auto_and_edits_emit(qtbot):
    spec = {p.name: p for p in ATTACKS["bim"].PARAMS}["alpha"]
    ed = ParamEditor(spec)
    qtbot.addWidget(ed)
    ed.set_value(None)
    assert ed.value() is None and ed.box.text() == "auto"
    with qtbot.waitSignal(ed.value_changed) as blocker:
        ed.box.setValue(1.5)
    assert blocker.args == ["alpha", 1.5]
    steps = ParamEditor({p.name: p for p in ATTACKS["bim"].PARAMS}["steps"])
    assert isinstance(steps.box, QSpinBox)
    eps = ParamEditor({p.name: p for p in ATTACKS["bim"].PARAMS}["eps"], slider=True)
    qtbot.addWidget(eps)
    with qtbot.waitSignal(eps.value_changed) as blocker:
        eps.slider.setValue(8)  # half-steps: 4/255
    assert blocker.args == ["eps", 4.0]


def test_panel_grid_follows_the_results_model(qtbot):
    from rsdesk.gui.panels import PanelGrid
    from rsdesk.gui.results_model import ResultsModel

    model = ResultsModel()
    grid = PanelGrid(model)
    qtbot.addWidget(grid)
    model.update(Row.ADVERSARIAL, status=Status.BUSY, message="step 1/10", progress=0.1)
    assert grid.column(Row.ADVERSARIAL).image.busy
    model.update(Row.PURIFIED, status=Status.OFF, message="defense off")
    assert grid.column(Row.PURIFIED).verdict._text == "defense off"
    model.update(Row.ORIGINAL, status=Status.FAILED, message="broken.jpg: damaged")
    assert "damaged" in grid.column(Row.ORIGINAL).image._placeholder
