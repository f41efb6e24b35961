"""The file pickers of the window: images, a folder of images, the export folder, dictionaries to load and
save. Each returns the chosen path, or None when the user cancelled."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from rsdesk.gui.models.settings import data_dir

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.gif *.npy);;All files (*)"
DICTIONARY_FILTER = "RegionSparse dictionaries (*.npz)"


def ask_images(parent: QWidget) -> list[Path]:
    files, _ = QFileDialog.getOpenFileNames(parent, "Open images", "", IMAGE_FILTER)
    return [Path(f) for f in files]


def ask_folder(parent: QWidget, title: str, start: Path | None = None) -> Path | None:
    folder = QFileDialog.getExistingDirectory(parent, title, str(start) if start else "")
    return Path(folder) if folder else None


def ask_export_folder(parent: QWidget) -> Path | None:
    return ask_folder(parent, "Export into folder", data_dir() / "exports")


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
