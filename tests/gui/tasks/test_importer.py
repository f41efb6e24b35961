"""Bringing images in: drag-and-drop of files and folders (broken ones included), labels, one message."""

from __future__ import annotations

import warnings
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDialog

from rsdesk.gui.models.gallery import LabelRole, PathRole
from rsdesk.gui.models.results import Row
from rsdesk.gui.widgets.drop import local_paths


def drag_enter(pos: QPoint, mime: QMimeData) -> QDragEnterEvent:
    # PySide 6.12 offers only the QPoint constructor and marks it deprecated; it is what Qt itself sends.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return QDragEnterEvent(
            pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        )


def drop(widget, paths: list[Path]) -> tuple[bool, bool]:
    """Send a real drag-enter and drop with file URLs to ``widget``; returns whether each was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    center = widget.rect().center()
    enter = drag_enter(center, mime)
    QApplication.sendEvent(widget, enter)
    event = QDropEvent(
        QPointF(center),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)
    return enter.isAccepted(), event.isAccepted()


def no_modal_dialog() -> bool:
    return not any(isinstance(w, QDialog) and w.isVisible() for w in QApplication.topLevelWidgets())


def test_drop_folder_and_broken_files_on_window(make_window, qtbot, image_folder, bad_files):
    w = make_window()
    with qtbot.waitSignal(w.importer.finished, timeout=30000) as blocker:
        accepted = drop(w, [image_folder, *bad_files])
    assert accepted == (True, True)
    added, problems = blocker.args
    assert sorted(p.name for p in added) == ["n04485082_0.png", "photo1.png", "photo2.png"]
    assert w.gallery.rowCount() == 3
    # every bad file is named, in one message, and nothing modal popped up
    assert len(problems) == 3
    assert any("truncated.jpg" in p for p in problems)
    assert any("notes.txt" in p and "not an image" in p for p in problems)
    assert any("tiny.png" in p and "too small" in p for p in problems)
    assert w.messages.isVisible() and w.messages.kind == "warning"
    assert "3 could not be used" in w.messages.text.text()
    assert all(
        name in w.messages.details.toPlainText() for name in ("truncated.jpg", "notes.txt", "tiny.png")
    )
    assert no_modal_dialog()
    # the good ones are usable: one got selected and analysed
    assert w.state.image in added


def test_drop_files_on_gallery_with_labels(make_window, qtbot, image_folder):
    w = make_window()
    files = sorted(image_folder.glob("*.png"))
    with qtbot.waitSignal(w.importer.finished, timeout=30000):
        accepted = drop(w.gallery_view.viewport(), files)
    assert accepted == (True, True)
    labels = {w.gallery.index(r).data(PathRole).name: w.gallery.index(r).data(LabelRole) for r in range(3)}
    assert labels == {"n04485082_0.png": 872, "photo1.png": 967, "photo2.png": None}
    thumb = w.gallery.index(0).data(Qt.ItemDataRole.DecorationRole)
    assert not thumb.isNull() and max(thumb.width(), thumb.height()) <= 112
    # dropping the same files again adds nothing
    with qtbot.waitSignal(w.importer.finished, timeout=30000) as blocker:
        drop(w.gallery_view.viewport(), files)
    assert blocker.args == [[], []]
    assert w.gallery.rowCount() == 3


def test_drop_of_only_bad_files_is_an_error_message(make_window, qtbot, bad_files):
    w = make_window()
    with qtbot.waitSignal(w.importer.finished, timeout=30000):
        drop(w, bad_files)
    assert w.gallery.rowCount() == 0
    assert w.messages.kind == "error"
    assert no_modal_dialog()


def test_drag_without_files_is_refused(make_window):
    w = make_window()
    mime = QMimeData()
    mime.setText("just text")
    enter = drag_enter(QPoint(5, 5), mime)
    QApplication.sendEvent(w, enter)
    assert not enter.isAccepted()
    assert local_paths(mime) == []


def test_drop_on_an_image_panel_reaches_the_window(make_window, qtbot, image_folder):
    w = make_window()
    target = w.panels.column(Row.ORIGINAL).image  # the big panel the presenter drags onto
    with qtbot.waitSignal(w.importer.finished, timeout=30000) as blocker:
        accepted = drop(target, [image_folder / "photo1.png"])
    assert accepted == (True, True)
    assert [p.name for p in blocker.args[0]] == ["photo1.png"]
