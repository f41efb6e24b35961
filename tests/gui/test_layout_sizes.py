"""The window at the sizes people present on (1366×768, 1920×1080): no label clipped or drawn over another,
checked by geometry, in normal and presentation mode, with a message bar (and its details), with the true
class far out of the top five, with the Evaluate tab after a clicked cell and with the Activations tab;
a first start fits the screen it opens on; Cancel looks disabled while nothing runs."""

from __future__ import annotations

import pytest
from evaluation_helpers import synthetic_run
from gui_helpers import wait_settled
from layout_helpers import SIZES, layout_problems
from PIL import Image
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFontMetrics

from rsdesk.core.io.assets import resource_path
from rsdesk.core.models.classifier import ClassScore
from rsdesk.gui.models.window_state import first_geometry
from rsdesk.gui.views import window_layout
from rsdesk.gui.views.activations import small_font
from rsdesk.gui.views.evaluate_browse import EVALUATE_MIN_HEIGHT
from rsdesk.gui.widgets.predictions import SEPARATOR, BarRow

IDS = [f"{s[0]}x{s[1]}" for s in SIZES]
DETAILS = "\n".join(f"scan-{i:04d}.jpg: not an image file (the first bytes are not JPEG)" for i in range(12))


def fit(w, qtbot, size, presentation: bool = False) -> None:
    """The window at ``size`` (full screen on a projector that size), its layout settled."""
    w.showFullScreen = lambda: None  # the offscreen screen is smaller: keep the projector's size
    w.resize(*size)
    if presentation:
        w.acts.presentation.setChecked(True)
        w.resize(*size)
    qtbot.waitUntil(lambda: w.size().toTuple() == size, timeout=5000)
    qtbot.wait(60)  # posted layout requests (text that wrapped anew, fonts) run


def panel_problems(w) -> list[str]:
    """What :func:`layout_problems` cannot see inside the panels: rich-text numbers shorter than their
    wrapped text, bars shorter than their six rows, images below a readable size, tags outside the image."""
    grid, problems = w.panels, []
    for col in grid.columns:
        name = col.title.text()
        if col.info.isVisible() and col.info.height() < col.info.heightForWidth(col.info.width()):
            problems.append(f"{name}: numbers cut to {col.info.height()} px")
        if col.bars.isVisible() and col.bars.height() < col.bars.minimumSizeHint().height():
            problems.append(f"{name}: bars squeezed to {col.bars.height()} px")
        if col.image.height() < grid.min_image():
            problems.append(f"{name}: image {col.image.height()} px < {grid.min_image()}")
        for panel in (col.image, col.cam):
            if panel.isVisible() and panel._caption:
                box, _shown = panel.tag_rect(panel._caption)
                if not panel._fit_rect().adjusted(-0.5, -0.5, 0.5, 0.5).contains(box):
                    problems.append(f"{name}: caption {panel._caption!r} outside its image")
    return problems


def all_problems(w) -> list[str]:
    return layout_problems(w) + panel_problems(w)


def show_message(w, qtbot, details: bool) -> None:
    w.notify(
        "warning", "Added 4 image(s); 12 could not be used (first: scan-0000.jpg: not an image)", DETAILS
    )
    if details:
        w.messages.details_button.setChecked(True)
    qtbot.waitUntil(lambda: w.messages.details.isVisible() == details, timeout=5000)
    qtbot.wait(60)


# ----- item 4: the panels never paint one part over another ---------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_panels_fold_instead_of_overlapping_with_a_message_and_its_details(window, qtbot, size):
    wait_settled(qtbot, window)
    fit(window, qtbot, size)
    assert not all_problems(window)
    assert all(c.cam.isVisible() for c in window.panels.columns), "room enough: the CAMs show"
    show_message(window, qtbot, details=False)
    assert not all_problems(window)
    show_message(window, qtbot, details=True)
    assert not all_problems(window)
    window.messages.dismiss()


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_the_true_class_far_out_of_the_top_five_stays_above_the_numbers(window, qtbot, size):
    wait_settled(qtbot, window)
    fit(window, qtbot, size)
    show_message(window, qtbot, details=False)  # the panels lose height, as in the issue
    grid = window.panels
    for c in (0, 1, 3):
        bars = grid.columns[c].bars
        bars.set_rows([*bars.rows()[:5], BarRow(ClassScore(0, "tench", 0.0), "true", 997)])
    assert not all_problems(window)
    for c in (0, 1, 3):
        col = grid.columns[c]
        if not col.bars.isVisible():
            continue
        rh = col.bars.fontMetrics().height() + 6
        sixth_bottom = col.bars.y() + 2 + 6 * rh + SEPARATOR
        assert sixth_bottom <= col.bars.geometry().bottom() + 1
        assert not col.info.isVisible() or sixth_bottom <= col.info.y(), col.title.text()


# ----- item 5: presentation mode gives the images the room -----------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_presentation_mode_gives_the_images_the_room(window, qtbot, size):
    wait_settled(qtbot, window)
    fit(window, qtbot, size, presentation=True)
    assert window.presentation.active
    grid = window.panels
    assert not all_problems(window)
    for col in grid.columns:
        assert col.image.height() >= 200, (col.title.text(), col.image.height())  # was 140 px at 1366×768
    name = "n01440764_ILSVRC2012_val_00000293_a_long_file_name.JPEG"
    subtitle = grid.columns[0].subtitle
    subtitle.set_full_text(name)  # a file name too long for the column ends in "…", its end kept
    assert not all_problems(window)
    if subtitle.text() != name:
        assert subtitle.text().endswith(".JPEG") and "…" in subtitle.text() and subtitle.toolTip() == name
    show_message(window, qtbot, details=True)
    assert not all_problems(window)
    window.acts.presentation.setChecked(False)


# ----- item 6: the Evaluate tab keeps its room after a clicked cell ---------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_the_evaluate_tab_keeps_its_room_after_a_cell_click(make_window, qtbot, tmp_path, size):
    out = synthetic_run(tmp_path / "run", {("fgsm", 12.0, "jpeg"): {"img0.png"}}, n_images=2)
    photo = Image.open(resource_path("samples", "camera.jpg")).convert("RGB").resize((224, 224))
    for i in range(2):
        photo.save(out / f"img{i}.png")
    w = make_window()
    fit(w, qtbot, size)
    tab = w.evaluation.tab
    assert w.evaluation.open_run(out)
    qtbot.waitUntil(tab.is_settled, timeout=60000)
    assert w.tabs.currentWidget() is tab
    tab.outcome.setCurrentIndex(tab.outcome.findData("wrong"))
    rect = tab.table.visualRect(tab.table_model.index_of(("fgsm", 12.0, "jpeg")))
    qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: w.state.image is not None and w.state.image.name == "img1.png", timeout=30000)
    wait_settled(qtbot, w)
    qtbot.wait(60)
    split = w._split.sizes()
    assert w.tabs.currentWidget() is tab
    assert split[1] >= min(EVALUATE_MIN_HEIGHT, 0.5 * sum(split)), split  # not one table row
    table, last = tab.table, tab.table_model.rowCount() - 1
    assert table.rowViewportPosition(last) + table.rowHeight(last) <= table.viewport().height()  # every row
    assert tab.plots.height() >= 200  # readable curves
    assert w.panels.isVisible() and split[0] >= w.panels.minimumSizeHint().height()  # images + verdict
    assert not all_problems(w)


# ----- item 7: the Activations tab gets a readable height -------------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_the_activations_tab_gets_a_readable_height(window, qtbot, size):
    wait_settled(qtbot, window)
    fit(window, qtbot, size)
    view = window.activations
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.ratios()[0] is not None, timeout=60000)
    wait_settled(qtbot, window)
    qtbot.wait(60)
    assert not view.scroll.verticalScrollBar().isVisible(), "raised, the tab shows everything"
    line = QFontMetrics(small_font()).height()
    for plot in view.heat_plots:  # three row labels, one under the other, without touching
        assert plot.getViewBox().height() >= 3 * line, plot.getViewBox().height()
    assert view.plot.getPlotItem().getViewBox().height() >= 150  # the curves, not a 90 px strip
    assert not all_problems(window)
    window.tabs.setCurrentWidget(window.log)  # the room goes back to the panels
    qtbot.wait(60)
    assert all(c.cam.isVisible() for c in window.panels.columns)


def test_a_short_activations_tab_scrolls_instead_of_squeezing(window, qtbot):
    wait_settled(qtbot, window)
    fit(window, qtbot, SIZES[0])
    window.tabs.setCurrentWidget(window.activations)
    total = sum(window._split.sizes())
    window._split.setSizes([total - 150, 150])  # the user drags the tabs small
    qtbot.wait(60)
    view = window.activations
    assert view.scroll.verticalScrollBar().isVisible()
    assert view.content.height() >= view.readable_height()
    assert not all_problems(window)


# ----- item 14: Cancel looks enabled only while something runs -------------------------------------------
def test_cancel_is_disabled_while_idle_in_presentation_mode_and_esc_still_leaves(window, qtbot, monkeypatch):
    wait_settled(qtbot, window)
    fit(window, qtbot, SIZES[0], presentation=True)
    cancel = window.acts.cancel
    button = next(b for b in window.attack_controls.buttons if b.defaultAction() is cancel)
    assert not cancel.isEnabled() and not button.isEnabled()
    assert window.presentation.leave_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.presentation.active and not window.acts.presentation.isChecked()

    window.acts.presentation.setChecked(True)
    cancelled = []
    monkeypatch.setattr(window.pipeline, "cancellable", lambda: True)
    monkeypatch.setattr(window.pipeline, "cancel", lambda: cancelled.append(True))
    window._sync_actions()  # as a running attack makes it
    assert cancel.isEnabled() and not window.presentation.leave_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Escape)  # Esc cancels first; the mode stays
    assert cancelled and window.presentation.active
    window.acts.presentation.setChecked(False)


# ----- item 3: the first window fits the screen it opens on -----------------------------------------------
@pytest.mark.parametrize(
    ("screen", "maximized"),
    [
        ((0, 0, 1366, 768), True),
        ((0, 0, 1366, 740), True),
        ((0, 0, 1920, 1080), False),
        ((0, 0, 2560, 1440), False),
    ],
)
def test_first_geometry_fits_the_available_area(screen, maximized):
    rect, maximize = first_geometry((1680, 1050), screen)
    assert QRect(*screen).contains(QRect(*rect)) and maximize == maximized
    if screen[2] >= 1920:  # room enough: the preferred size, or nearly, centred
        assert rect[2] == 1680 and rect[3] >= 0.9 * 1050
        assert abs((rect[0] + rect[2] / 2) - (screen[0] + screen[2] / 2)) <= 1


def test_first_geometry_on_a_second_screen_stays_on_it():
    rect, _ = first_geometry((1680, 1050), (1920, 0, 1366, 768))
    assert QRect(1920, 0, 1366, 768).contains(QRect(*rect))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_a_first_start_fits_the_screen(make_window, monkeypatch, size):
    monkeypatch.setattr(window_layout, "available_rect", lambda _screen: (0, 0, *size))
    w = make_window()
    w.hide()
    w.resize(1680, 1050)  # as app.run builds it
    w.window_layout.restore()  # no window.json yet (a fresh config folder): a first start
    normal = w.normalGeometry() if w.isMaximized() else w.geometry()
    assert QRect(0, 0, *size).contains(normal), normal
    assert w.isMaximized() == (size[0] < 1680)


def test_the_panels_keep_a_minimum_the_splitter_respects(window, qtbot):
    """The panels fold to title, verdict and image; the splitter never gives them less."""
    wait_settled(qtbot, window)
    fit(window, qtbot, SIZES[0])
    total = sum(window._split.sizes())
    window._split.setSizes([50, total - 50])
    qtbot.wait(60)
    grid = window.panels
    assert window._split.sizes()[0] in (0, grid.minimumSizeHint().height())  # folded away, or its minimum
    if window._split.sizes()[0]:
        assert not all_problems(window)
        assert all(not c.bars.isVisible() and not c.cam.isVisible() for c in grid.columns)
