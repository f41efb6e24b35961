"""The gallery model: roles, no duplicates, verdict stories."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from rsdesk.gui.models.gallery import GalleryItem, GalleryModel, SummaryRole


def test_gallery_model_roles_and_summaries(qtbot):
    model = GalleryModel()
    img = QImage(8, 8, QImage.Format.Format_RGB888)
    img.fill(0)
    assert model.add(GalleryItem(Path("/a/x.png"), img, 281, (640, 480))) == 0
    assert model.add(GalleryItem(Path("/a/x.png"), img)) == 0  # no duplicates
    model.add(GalleryItem(Path("/a/y.png"), img))
    assert model.rowCount() == 2
    idx = model.index(0)
    assert idx.data() == "x.png"
    assert "tabby" in idx.data(Qt.ItemDataRole.ToolTipRole)
    with qtbot.waitSignal(model.dataChanged):
        model.set_summary(Path("/a/x.png"), "FOOLED → RECOVERED")
    assert idx.data(SummaryRole) == "FOOLED → RECOVERED"
    assert model.true_label(Path("/a/y.png")) is None
