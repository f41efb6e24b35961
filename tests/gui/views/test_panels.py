"""The panel grid is a view of the results model: busy, off and failed rows show as such."""

from __future__ import annotations

from rsdesk.gui.models.results import ResultsModel, Row, Status
from rsdesk.gui.views.panels import PanelGrid


def test_panel_grid_follows_the_results_model(qtbot):
    model = ResultsModel()
    grid = PanelGrid(model)
    qtbot.addWidget(grid)
    model.update(Row.ADVERSARIAL, status=Status.BUSY, message="step 1/10", progress=0.1)
    assert grid.column(Row.ADVERSARIAL).image.busy
    model.update(Row.PURIFIED, status=Status.OFF, message="defense off")
    assert grid.column(Row.PURIFIED).verdict._text == "defense off"
    model.update(Row.ORIGINAL, status=Status.FAILED, message="broken.jpg: damaged")
    assert "damaged" in grid.column(Row.ORIGINAL).image._placeholder
