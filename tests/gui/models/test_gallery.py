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


def test_files_of_the_same_name_from_two_folders_are_told_apart(qtbot):
    """tench.jpg from dev/ and from samples/ read differently in every row (the shortest folder tail that
    tells them apart); a name shared by no other file stays as it is; the tooltip keeps the whole path."""
    from rsdesk.gui.views.gallery import GalleryView

    model = GalleryModel()
    img = QImage(8, 8, QImage.Format.Format_RGB888)
    img.fill(0)
    model.add(GalleryItem(Path("/data/dev/tench.jpg"), img))
    model.add(GalleryItem(Path("/data/other.jpg"), img))
    assert [model.index(r).data() for r in range(2)] == ["tench.jpg", "other.jpg"]
    with qtbot.waitSignal(model.dataChanged):  # the first tench is renamed when the second arrives
        model.add(GalleryItem(Path("/work/samples/tench.jpg"), img))
    names = [model.index(r).data() for r in range(3)]
    assert names == ["tench.jpg — dev/", "other.jpg", "tench.jpg — samples/"]
    model.add_many([GalleryItem(Path("/x/dev/tench.jpg"), img)])  # dev/ no longer tells two apart
    names = [model.index(r).data() for r in range(4)]
    assert names == ["tench.jpg — data/dev/", "other.jpg", "tench.jpg — samples/", "tench.jpg — x/dev/"]
    assert len(set(names)) == 4 and model.display_name(Path("/data/other.jpg")) == "other.jpg"
    assert "/work/samples/tench.jpg" in model.index(2).data(Qt.ItemDataRole.ToolTipRole)
    view = GalleryView()  # the painted row shows the told-apart name
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(400, 400)
    view.show()
    painted = []
    delegate = view.itemDelegate()
    original = delegate.paint

    def spy(p, option, index):
        painted.append(index.data())
        original(p, option, index)

    delegate.paint = spy
    view.grab()
    assert "tench.jpg — samples/" in painted


def test_a_cells_story_counts_as_current_with_the_same_defense(qtbot):
    """A story made from an evaluation's adversarial (not the toolbar's attack) is current while the panels
    show that cell's adversarial and the defense is the same; another defense greys it."""
    from rsdesk.gui.models.gallery import SummaryCurrentRole

    model = GalleryModel()
    img = QImage(8, 8, QImage.Format.Format_RGB888)
    model.add(GalleryItem(Path("/a/x.png"), img))
    model.set_current_key(("toolbar attack", "jpeg q75"))
    model.set_summary(Path("/a/x.png"), "FOOLED → RECOVERED", ("cell adversarial", "jpeg q75"))
    idx = model.index(0)
    assert not idx.data(SummaryCurrentRole)
    model.set_cell_attacks({"cell adversarial"})
    assert idx.data(SummaryCurrentRole)
    model.set_current_key(("toolbar attack", "squeeze"))
    assert not idx.data(SummaryCurrentRole)
    model.set_current_key(("toolbar attack", "jpeg q75"))
    model.set_cell_attacks(())
    assert not idx.data(SummaryCurrentRole)
