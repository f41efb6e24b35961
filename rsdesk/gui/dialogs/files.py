"""The file pickers of the window: images, a folder of images, the export folder, dictionaries to load and
save. Each returns the chosen path, or None when the user cancelled."""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFileDialog, QGridLayout, QLabel, QWidget

from rsdesk.gui.models.export_size import DEFAULT_EXPORT_SIZE, EXPORT_SIZES, export_size_problem
from rsdesk.gui.models.settings import data_dir

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.gif *.npy);;All files (*)"
DICTIONARY_FILTER = "RegionSparse dictionaries (*.npz)"


def ask_images(parent: QWidget) -> list[Path]:
    files, _ = QFileDialog.getOpenFileNames(parent, "Open images", "", IMAGE_FILTER)
    return [Path(f) for f in files]


def ask_folder(parent: QWidget, title: str, start: Path | None = None) -> Path | None:
    folder = QFileDialog.getExistingDirectory(parent, title, str(start) if start else "")
    return Path(folder) if folder else None


class ExportDialog(QFileDialog):
    """The export folder picker with the pictures' size beside it (Qt's own dialog: a native one cannot
    hold the size box)."""

    def __init__(self, parent: QWidget | None, size: str = DEFAULT_EXPORT_SIZE) -> None:
        start = data_dir() / "exports"
        with contextlib.suppress(OSError):  # the default folder, ready to choose (else: wherever Qt starts)
            start.mkdir(parents=True, exist_ok=True)
        super().__init__(parent, "Export into folder", str(start))
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self.setOption(QFileDialog.Option.ShowDirsOnly, True)
        self.setFileMode(QFileDialog.FileMode.Directory)
        self.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        self.size_box = QComboBox()
        self.size_box.setObjectName("exportSize")
        self.size_box.setToolTip("The size of the panels picture and of each story step")
        for text, label in EXPORT_SIZES:
            self.size_box.addItem(label, text)
        if self.size_box.findData(size) < 0 and export_size_problem(size) is None:
            self.size_box.addItem(size, size)  # a size typed into the settings file
        self.size_box.setCurrentIndex(max(0, self.size_box.findData(size)))
        layout = self.layout()
        if isinstance(layout, QGridLayout):  # Qt's dialog: a grid; the size goes in a row of its own
            row = layout.rowCount()
            layout.addWidget(QLabel("Pictures:"), row, 0)
            layout.addWidget(self.size_box, row, 1)

    def chosen(self) -> tuple[Path, str] | None:
        files = self.selectedFiles()
        return (Path(files[0]), str(self.size_box.currentData())) if files else None


def ask_export(parent: QWidget, size: str = DEFAULT_EXPORT_SIZE) -> tuple[Path, str] | None:
    """The export folder and the pictures' size (``2x``, ``1920px``…), None when cancelled."""
    dialog = ExportDialog(parent, size)
    try:
        return dialog.chosen() if dialog.exec() == QFileDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def ask_dictionary_to_load(parent: QWidget) -> Path | None:
    file, _ = QFileDialog.getOpenFileName(
        parent, "Load a dictionary", str(data_dir() / "dictionaries"), f"{DICTIONARY_FILTER};;All (*)"
    )
    return Path(file) if file else None


def ask_dictionary_save_path(parent: QWidget) -> Path | None:
    file, _ = QFileDialog.getSaveFileName(
        parent, "Save the dictionary as", str(data_dir() / "dictionary.npz"), DICTIONARY_FILTER
    )
    return Path(file) if file else None
