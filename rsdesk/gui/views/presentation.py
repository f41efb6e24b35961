"""Presentation mode (F11): full screen, larger fonts, only the panels and the controls a demo needs — and
the story, one key press per stage.

While it is on, a few keys belong to the presentation wherever the focus is (a presenter's click on the ε
slider must not turn ← into "ε − 0.5"): ←/→ the previous/next image, Space the next story step, Backspace
the step before. Text fields (the target class) keep their keys. Story steps: 0 is the full panel grid;
1 the photo and its verdict; 2 + the attacked photo; 3 + the purified one; Space after 3 moves to the next
image at step 1 (the last image starts its story again); Backspace from 1 returns to the grid.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QFont, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QMainWindow, QWidget

from rsdesk.gui.views.story import STEPS, StoryView

FONT_SCALE = 1.6
_STEP_KEYS = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: +1}
_STORY_KEYS = {Qt.Key.Key_Space: +1, Qt.Key.Key_Backspace: -1}


class Presentation(QObject):
    """Toggles a window into and out of presentation mode, restoring exactly what it changed.

    ``stage`` (the panels) and ``story`` take turns in the same place; ``toggle`` is the window's
    presentation action, checked when a story step starts the mode.
    """

    step_image = Signal(int)  # ←/→ while presenting: the window moves through its gallery
    story_changed = Signal(int)  # 0: the panel grid; 1…3: the story step shown

    def __init__(
        self,
        window: QMainWindow,
        hide: list[QWidget],
        story: StoryView | None = None,
        stage: QWidget | None = None,
        toggle: QAction | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent or window)
        self.window = window
        self.hide = hide
        self.story = story
        self.stage = stage
        self.toggle_action = toggle
        self.active = False
        self.story_step = 0
        self._font: QFont | None = None
        self._visible: list[bool] = []
        self._maximized = False
        self._busy = False
        # Esc leaves the mode when there is nothing to cancel. Its own action, so that the Cancel button is
        # enabled only while something runs (an enabled Cancel while idle reads as "something is running");
        # never enabled together with Cancel, which also has Esc: the key is never ambiguous.
        self.leave_action = QAction("Leave Presentation Mode", window)
        self.leave_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.leave_action.setEnabled(False)
        self.leave_action.triggered.connect(self._leave_by_key)
        window.addAction(self.leave_action)
        if story is not None:
            story.hide()

    def set_busy(self, busy: bool) -> None:
        """Something cancellable runs (Esc cancels it then) or not (Esc leaves presentation mode)."""
        self._busy = busy
        self.leave_action.setEnabled(self.active and not busy)

    def _leave_by_key(self) -> None:
        if self.toggle_action is not None:
            self.toggle_action.setChecked(False)  # the window leaves through its action: F11 stays in step
        else:
            self.leave()

    def toggle(self) -> None:
        self.leave() if self.active else self.enter()

    def enter(self) -> None:
        if self.active:
            return
        self.active = True
        self._font = QFont(self.window.font())
        self._maximized = self.window.isMaximized()
        self._visible = [w.isVisible() for w in self.hide]
        big = QFont(self._font)
        big.setPointSizeF(self._font.pointSizeF() * FONT_SCALE)
        self.window.setFont(big)
        for w in self.hide:
            w.hide()
        QApplication.instance().installEventFilter(self)
        self.leave_action.setEnabled(not self._busy)
        self.window.showFullScreen()

    def leave(self) -> None:
        if not self.active:
            return
        self.active = False
        self.leave_action.setEnabled(False)
        QApplication.instance().removeEventFilter(self)
        self.set_story_step(0)
        if self._font is not None:
            self.window.setFont(self._font)
        for w, visible in zip(self.hide, self._visible):
            w.setVisible(visible)
        if self._maximized:
            self.window.showMaximized()
        else:
            self.window.showNormal()

    # ----- the story --------------------------------------------------------------------------------
    def story_next(self) -> None:
        """One step on: grid → 1 → 2 → 3 → the next image at 1 (entering presentation mode if needed)."""
        if not self.active:
            if self.toggle_action is not None:
                self.toggle_action.setChecked(True)  # the window enters through its action: F11 stays in step
            else:
                self.enter()
        if self.story_step >= STEPS:
            self.step_image.emit(+1)
            self.set_story_step(1)
        else:
            self.set_story_step(self.story_step + 1)

    def story_back(self) -> None:
        """One step back; from step 1 to the full panel grid."""
        self.set_story_step(self.story_step - 1)

    def set_story_step(self, step: int) -> None:
        """Show story step ``step`` (0: the panel grid again)."""
        step = max(0, min(STEPS, step)) if self.story is not None and self.active else 0
        changed = step != self.story_step
        self.story_step = step
        if self.story is not None:
            if step:
                self.story.set_step(step)
            # hide before show: both at once would ask the window for both minimum heights, and it grows
            showing, hiding = (self.story, self.stage) if step else (self.stage, self.story)
            if hiding is not None:
                hiding.hide()
            if showing is not None:
                showing.show()
        if changed:
            self.story_changed.emit(step)

    # ----- keys that belong to the presentation -------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) or not self._ours(watched, event):
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # no window shortcut takes the key: it comes back here as a key press
            return True
        key = event.key()
        if key in _STORY_KEYS and event.isAutoRepeat():
            pass  # a held Space is one step, not a slide show
        elif key in _STEP_KEYS:
            self.step_image.emit(_STEP_KEYS[key])
            if self.story_step:
                self.set_story_step(1)  # a new image tells its story from the start
        elif _STORY_KEYS[key] > 0:
            self.story_next()
        else:
            self.story_back()
        return True

    def _ours(self, watched: QObject, event: QKeyEvent) -> bool:
        """A plain ←/→/Space/Backspace pressed in this window, outside a text field."""
        if not isinstance(watched, QWidget) or watched.window() is not self.window:
            return False  # a menu, a popup list or a dialog keeps its keys
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods != Qt.KeyboardModifier.NoModifier:
            return False
        if event.key() not in _STEP_KEYS and event.key() not in _STORY_KEYS:
            return False
        typing = isinstance(watched, QLineEdit) and not isinstance(watched.parentWidget(), QAbstractSpinBox)
        return not typing
