"""How the window was left: its normal geometry, maximized or not, the dock and splitter sizes and the
current tab, kept in ``window.json`` beside ``settings.json`` (``$RSDESK_CONFIG_DIR`` isolates tests).

Apart from the settings on purpose: it changes on every close, is no choice the user made in a dialog,
and a broken one must never cost the user their settings. Plain Python (no Qt): a corrupt, foreign or
newer file is ignored with one problem line for the log, never an exception; a geometry that lies off
every screen now attached is dropped (the monitor it was on is gone).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path

from rsdesk.core.io.files import atomic_write
from rsdesk.gui.models.settings import config_dir

WINDOW_FILE = "window.json"
SCHEMA = "rsdesk-window"
VERSION = 1
#: How much of a saved window must lie on a screen to be reachable there (a grip on the title bar).
MIN_VISIBLE = (120, 48)
#: Room left for the window manager's frame (title bar, borders) when a first window is sized.
FRAME_ALLOWANCE = (16, 40)
#: How much a first window may shrink to fit its screen before it opens maximized instead.
SHRINK_MAX = 0.1

Rect = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class WindowState:
    geometry: Rect | None = None  # the normal (not maximized, not full-screen) geometry
    maximized: bool = False
    splitter: tuple[int, ...] = ()  # panels | bottom tabs
    tab: str = ""  # the current bottom tab, by its title (tabs may be added or reordered)
    docks: bytes = b""  # QMainWindow.saveState(): the gallery dock's size and place

    def to_json(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "geometry": list(self.geometry) if self.geometry else None,
            "maximized": self.maximized,
            "splitter": list(self.splitter),
            "tab": self.tab,
            "docks": base64.b64encode(self.docks).decode("ascii"),
        }


def _ints(value: object, n: int | None = None) -> tuple[int, ...]:
    ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not ok or (n is not None and len(value) != n):
        raise ValueError(f"expected {n or 'some'} whole numbers, found {json.dumps(value)}")
    return tuple(value)


def parse_window_state(data: object) -> WindowState:
    """A :class:`WindowState` from the JSON object; ValueError names the first thing that does not fit."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError("not an RSDesk window file")
    if data.get("version") != VERSION:
        raise ValueError(f"window file version {data.get('version')!r}, this RSDesk reads {VERSION}")
    geometry = data.get("geometry")
    rect = _ints(geometry, 4) if geometry is not None else None
    if rect is not None and (rect[2] <= 0 or rect[3] <= 0):
        raise ValueError(f"empty geometry {list(rect)}")
    splitter = _ints(data.get("splitter", []))
    if any(v < 0 for v in splitter):
        raise ValueError(f"negative splitter size in {list(splitter)}")
    maximized, tab, docks = data.get("maximized", False), data.get("tab", ""), data.get("docks", "")
    if not isinstance(maximized, bool) or not isinstance(tab, str) or not isinstance(docks, str):
        raise ValueError("maximized, tab or docks has the wrong type")
    try:
        raw = base64.b64decode(docks, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"docks is not base64 ({exc})") from exc
    return WindowState(rect, maximized, splitter, tab, raw)  # type: ignore[arg-type]


def load_window_state(path: Path | None = None) -> tuple[WindowState | None, str]:
    """(state, "") or (None, why it was ignored); (None, "") when there is no file yet. Never raises."""
    path = Path(path) if path is not None else config_dir() / WINDOW_FILE
    if not path.exists():
        return None, ""
    try:
        return parse_window_state(json.loads(path.read_text(encoding="utf-8"))), ""
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return None, f"{path.name} ignored ({exc}); the window opens with its default layout"


def save_window_state(state: WindowState, path: Path | None = None) -> Path:
    """Write atomically: a crash while closing never leaves half a file."""
    path = Path(path) if path is not None else config_dir() / WINDOW_FILE
    text = json.dumps(state.to_json(), indent=2) + "\n"
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def fit_to_screens(rect: Rect, screens: list[Rect]) -> Rect | None:
    """``rect`` moved and shrunk into the screen it overlaps most; None when no screen shows a grip of
    it (its monitor is gone): the window then opens where the system puts it."""
    best, area = None, 0
    for s in screens:
        w = min(rect[0] + rect[2], s[0] + s[2]) - max(rect[0], s[0])
        h = min(rect[1] + rect[3], s[1] + s[3]) - max(rect[1], s[1])
        if w >= min(MIN_VISIBLE[0], rect[2]) and h >= min(MIN_VISIBLE[1], rect[3]) and w * h > area:
            best, area = s, w * h
    if best is None:
        return None
    width, height = min(rect[2], best[2]), min(rect[3], best[3])
    x = max(best[0], min(rect[0], best[0] + best[2] - width))
    y = max(best[1], min(rect[1], best[1] + best[3] - height))
    return x, y, width, height


def first_geometry(preferred: tuple[int, int], screen: Rect) -> tuple[Rect, bool]:
    """The first start's window (no saved layout) on a screen whose usable area is ``screen``, and whether
    to maximize it: the ``preferred`` size centred there, shrunk to fit with its frame; maximized when that
    cost more than :data:`SHRINK_MAX` of either side (a small screen: all of it is wanted). The rectangle
    is then the normal geometry, inside the screen even without a window manager."""
    room_w, room_h = screen[2] - FRAME_ALLOWANCE[0], screen[3] - FRAME_ALLOWANCE[1]
    width, height = max(1, min(preferred[0], room_w)), max(1, min(preferred[1], room_h))
    maximize = width < (1 - SHRINK_MAX) * preferred[0] or height < (1 - SHRINK_MAX) * preferred[1]
    x = screen[0] + (screen[2] - width) // 2
    y = screen[1] + max(0, (screen[3] - height - FRAME_ALLOWANCE[1]) // 2)
    return (x, y, width, height), maximize
