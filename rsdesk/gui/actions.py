"""Every command of the window as a QAction (text, shortcut, tip), and the menus that hold them.

Kept apart from the window so the whole keyboard map reads in one place: ←/→ previous/next image,
Ctrl+Enter attack, D defense on/off, F11 presentation, Ctrl+E export, Ctrl+, settings, Esc cancel (or leave
presentation mode). In presentation mode (``views/presentation``) Space steps through the story and
Backspace steps back, and ←/→ change the image even where a slider or spin box has the focus; those keys
are no window shortcuts, because outside presentation mode Space and Backspace belong to the focused control.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QMainWindow, QMenuBar, QWidget

from rsdesk.gui.tasks.training import DictionaryTrainer


def _action(
    parent: QMainWindow, text: str, shortcuts: tuple[str, ...] = (), tip: str = "", checkable: bool = False
) -> QAction:
    a = QAction(text, parent)
    if shortcuts:
        a.setShortcuts([QKeySequence(s) for s in shortcuts])
    a.setToolTip(tip or text.replace("&", "").rstrip("…") + (f" ({shortcuts[0]})" if shortcuts else ""))
    a.setStatusTip(a.toolTip())
    a.setCheckable(checkable)
    parent.addAction(a)  # shortcuts work even where the menu bar is hidden (presentation)
    return a


class Actions:
    """The window's actions; the window connects their ``triggered``/``toggled`` signals."""

    def __init__(self, w: QMainWindow, trainer: DictionaryTrainer | None = None) -> None:
        self.open_files = _action(w, "&Open Images…", ("Ctrl+O",))
        self.open_folder = _action(w, "Open &Folder…", ("Ctrl+Shift+O",))
        self.export = _action(
            w,
            "&Export Current Image…",
            ("Ctrl+E",),
            "Export the panels, the adversarial and purified images and a report (Ctrl+E)",
        )
        self.quit = _action(w, "&Quit", ("Ctrl+Q",))
        self.settings = _action(w, "&Settings…", ("Ctrl+,",))
        self.presentation = _action(w, "&Presentation Mode", ("F11",), checkable=True)
        self.story = _action(
            w,
            "Tell the &Story",
            (),
            "Presentation mode, one stage per key press: the photo, the attack, the defense (Space; "
            "Backspace: back)",
        )
        self.reset_zoom = _action(w, "Reset &Zoom", ("Ctrl+0",), "Fit every panel again (also: double-click)")
        self.prev_image = _action(w, "P&revious Image", ("Left",))
        self.next_image = _action(w, "&Next Image", ("Right",))
        self.attack = _action(
            w, "▶ &Attack", ("Ctrl+Return", "Ctrl+Enter"), "Attack the current image (Ctrl+Enter)"
        )
        self.attack_selected = _action(
            w,
            "▶▶ Attack &Selected",
            ("Ctrl+Shift+Return", "Ctrl+Shift+Enter"),
            "Attack and purify every selected image (Ctrl+Shift+Enter)",
        )
        # rare in a demo: the attack toolbar moves it into its ⚙ popup first when the row is short of room
        self.attack_selected.setProperty("foldable", True)
        self.cancel = _action(w, "■ &Cancel", ("Esc",), "Cancel the running attack (Esc)")
        self.auto_attack = _action(
            w,
            "Attack &Automatically",
            (),
            "Attack each image as soon as it is shown, and again when a parameter changes",
            checkable=True,
        )
        self.toggle_defense = _action(
            w, "&Defense On", ("D",), "Turn the defense on or off (D)", checkable=True
        )
        self.train = _action(
            w,
            "&Train From Folder…",
            ("Ctrl+T",),
            "Learn a new dictionary from a folder of benign images (in the background)",
        )
        self.load_dictionary = _action(w, "&Load Dictionary…")
        self.save_dictionary = _action(w, "&Save Dictionary As…")
        self.bundled_dictionary = _action(w, "Use the &Bundled Dictionary")
        self.finetune = _action(
            w,
            "&Fine-Tune From Folder…",
            (),
            "Fine-tune the classifier on a folder of images: on a defense's outputs, with FGSM, or both",
        )
        self.samples = _action(w, "Open the &Sample Images")
        self.about = _action(w, "&About RSDesk")
        self.letters = LetterShortcuts(w)
        if trainer is not None:
            follow_training(self.train, trainer)


def follow_training(train: QAction, trainer: DictionaryTrainer) -> None:
    """Train From Folder… is off while a training runs: a second one would only be refused, after the
    folder dialog, with a red "already running"."""
    tip = train.toolTip()

    def sync(*_args: object) -> None:
        running = trainer.is_running()  # a refused start also reports ``failed``: the running one stays
        train.setEnabled(not running)
        train.setToolTip("A dictionary training is running (see the status bar)" if running else tip)
        train.setStatusTip(train.toolTip())

    for signal in (trainer.started, trainer.finished, trainer.failed, trainer.cancelled):
        signal.connect(sync)
    sync()


class LetterShortcuts(QObject):
    """One-letter shortcuts (D: defense on/off, P: the perturbation) work while a spin box has the focus.

    Qt offers every printable key to the focused spin box first (``ShortcutOverride``) and the spin box
    claims it, although it only ever takes digits, signs and a decimal point: D did nothing while K or θ was
    being edited. A letter without modifiers is let through to the window's shortcuts; a letter no shortcut
    takes still reaches the spin box (which ignores it), and digits are untouched."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.ShortcutOverride or not isinstance(obj, QAbstractSpinBox):
            return False
        key: QKeyEvent = event  # type: ignore[assignment]
        letter = Qt.Key.Key_A.value <= key.key() <= Qt.Key.Key_Z.value
        if letter and key.modifiers() == Qt.KeyboardModifier.NoModifier and obj.window() is self.window:
            key.ignore()
            return True  # the spin box never sees the override: the shortcut map may use the key
        return False


def install_menus(bar: QMenuBar, a: Actions, extra_view: list[QAction]) -> None:
    """File, Edit, View, Attack, Defense, Dictionary, Classifier, Help."""
    file = bar.addMenu("&File")
    for item in (a.open_files, a.open_folder, None, a.export, None, a.quit):
        file.addSeparator() if item is None else file.addAction(item)
    bar.addMenu("&Edit").addAction(a.settings)
    view = bar.addMenu("&View")
    for item in (a.presentation, a.story, None, a.prev_image, a.next_image, None, a.reset_zoom, *extra_view):
        view.addSeparator() if item is None else view.addAction(item)
    attack = bar.addMenu("&Attack")
    for item in (a.attack, a.attack_selected, a.cancel, None, a.auto_attack):
        attack.addSeparator() if item is None else attack.addAction(item)
    bar.addMenu("&Defense").addAction(a.toggle_defense)
    dictionary = bar.addMenu("Dictio&nary")
    for item in (a.train, None, a.load_dictionary, a.save_dictionary, a.bundled_dictionary):
        dictionary.addSeparator() if item is None else dictionary.addAction(item)
    bar.addMenu("&Classifier").addAction(a.finetune)
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(a.samples)
    help_menu.addAction(a.about)
