"""Regenerate every screenshot of ``docs/user-guide.md`` in one command (from the repository root):

    python scripts/make_guide_screenshots.py            # writes docs/guide/*.png

Two kinds of pictures:

- ``window.png`` and ``evaluate-run.png`` are ``rsdesk --screenshot`` itself (the bundled samples; the
  evaluation in ``benchmarks/results/dev`` opened with ``--open-run``), scaled from 1680 to 1366 px wide;
- the others need a state the command line cannot reach (a targeted attack, a baseline defense, a dictionary
  training, presentation mode…): this script builds the real window on a 1366×768 offscreen screen and drives
  it through its Python API, as the GUI tests do, then grabs it.

Every run starts from default settings (a fresh ``RSDESK_CONFIG_DIR`` and ``RSDESK_DATA_DIR`` in a temporary
folder), runs the real classifier on the CPU, and writes each PNG quantized to 256 colours (≤ 300 KB).
The demo evaluation behind ``evaluate-cell.png`` is ``rsdesk evaluate resources/samples --plan demo``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
DEV_RUN = ROOT / "benchmarks" / "results" / "dev"
WIDTH, HEIGHT = 1366, 768
#: the Activations and Evaluate shots: on a 768 px screen those tabs get too little height to read
TALL = 960
MAX_BYTES = 300 * 1024
TIMEOUT_S = 300


# ----- files ---------------------------------------------------------------------------------------------
def save_small(src: Path, dst: Path) -> Path:
    """``src`` scaled to at most WIDTH px wide and quantized to 256 colours, as ``dst`` (≤ MAX_BYTES)."""
    from PIL import Image

    img = Image.open(src).convert("RGB")
    if img.width > WIDTH:
        img = img.resize((WIDTH, round(img.height * WIDTH / img.width)), Image.Resampling.LANCZOS)
    for colors in (256, 128, 64):
        small = img.quantize(colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        small.save(dst, "PNG", optimize=True)
        if dst.stat().st_size <= MAX_BYTES:
            break
    print(
        f"{dst.relative_to(ROOT) if dst.is_relative_to(ROOT) else dst}: {img.width}×{img.height}, "
        f"{dst.stat().st_size // 1024} KB"
    )
    return dst


def stack(parts: list[Path], dst: Path) -> None:
    """Strips one under the other on a white ground, with a gap between them."""
    from PIL import Image

    imgs = [Image.open(p).convert("RGB") for p in parts]
    gap = 12
    out = Image.new(
        "RGB", (max(i.width for i in imgs), sum(i.height for i in imgs) + gap * (len(imgs) - 1)), "white"
    )
    y = 0
    for i in imgs:
        out.paste(i, (0, y))
        y += i.height + gap
    out.save(dst)


def side_by_side(parts: list[Path], dst: Path) -> None:
    """Pictures next to each other, top-aligned, with a gap between them."""
    from PIL import Image

    imgs = [Image.open(p).convert("RGB") for p in parts]
    gap = 24
    out = Image.new(
        "RGB", (sum(i.width for i in imgs) + gap * (len(imgs) - 1), max(i.height for i in imgs)), "white"
    )
    x = 0
    for i in imgs:
        out.paste(i, (x, 0))
        x += i.width + gap
    out.save(dst)


def rsdesk_command() -> list[str]:
    exe = Path(sys.executable).with_name("rsdesk")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "rsdesk"]


def run_cli(args: list[str], env: dict[str, str]) -> None:
    cmd = rsdesk_command() + args
    print("$ rsdesk " + " ".join(args), flush=True)
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, timeout=TIMEOUT_S)


# ----- the window, driven --------------------------------------------------------------------------------
def pump(until, what: str, timeout: float = TIMEOUT_S, settle: float = 0.0) -> None:
    """Process Qt events for ``settle`` seconds, then until ``until()`` holds (RuntimeError after timeout)."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    start = time.monotonic()
    while True:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        elapsed = time.monotonic() - start
        if elapsed >= settle and until():
            break
        if elapsed > timeout:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)
    for _ in range(5):
        QCoreApplication.processEvents()


def settled(w) -> bool:
    from rsdesk.gui.models.results import Row, Status

    busy = any(w.results.stage(r).status is Status.BUSY or w.results.stage(r).explaining for r in Row)
    return (
        w.state.classifier is not None and not w.importer.is_running() and w.pipeline.is_idle() and not busy
    )


def wait(w, what: str) -> None:
    pump(lambda: settled(w), what, settle=0.8)  # 0.8 s: past the attack editor's debounce


def grab(widget, tmp: Path, out: Path, name: str, crop=None) -> Path:
    raw = tmp / f"raw-{name}"
    pixmap = widget.grab(crop) if crop is not None else widget.grab()
    if not pixmap.save(str(raw), "PNG"):
        raise RuntimeError(f"could not save {raw}")
    return save_small(raw, out / name)


def quiet_qt(_mode: object, _context: object, message: str) -> None:
    """The offscreen platform's complaints about window features it lacks are noise here."""
    if "This plugin does not support" not in message:
        print(message, file=sys.stderr)


def make_photo_folder(tmp: Path) -> Path:
    """A folder as a user has one: images in a sub-folder, labels.csv, a broken file, a hidden folder."""
    photos = tmp / "my-photos"
    (photos / "cats").mkdir(parents=True)
    (photos / ".thumbnails").mkdir()
    for name in ("astronaut.jpg", "camera.jpg", "coffee.jpg", "rocket.jpg", "labels.csv"):
        shutil.copy(SAMPLES / name, photos / name)
    shutil.copy(SAMPLES / "chelsea.jpg", photos / "cats" / "chelsea.jpg")
    shutil.copy(SAMPLES / "rocket.jpg", photos / ".thumbnails" / "rocket.jpg")  # hidden: skipped
    (photos / "scan-0001.jpg").write_bytes(b"not a JPEG: an interrupted download")
    return photos


def driven_shots(tmp: Path, out: Path, demo_run: Path) -> None:
    from PySide6.QtCore import QRect, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication, QToolBar

    from rsdesk.core.io.labels import require_class
    from rsdesk.gui.app import configure_torch
    from rsdesk.gui.dialogs.settings_dialog import SettingsDialog
    from rsdesk.gui.main_window import MainWindow
    from rsdesk.gui.models.results import Row
    from rsdesk.gui.models.settings import load_settings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    qInstallMessageHandler(quiet_qt)
    app.setApplicationName("RSDesk")
    app.setOrganizationName("RSDesk")
    configure_torch()
    settings, warnings = load_settings()
    w = MainWindow(settings, warnings)
    w.resize(WIDTH, HEIGHT)
    w.show()
    st, acts = w.state, w.acts
    photos = make_photo_folder(tmp)

    # Loading: a folder dropped on the window (the window's drop handler, called as a drop calls it).
    w.paths_dropped([photos])
    wait(w, "the folder import and the first image")
    grab(w, tmp, out, "loading.png")

    # A targeted BIM attack, the perturbation amplified.
    w.messages.dismiss()
    w.select_path(photos / "camera.jpg")
    st.set_attack("bim")
    st.set_target(require_class("tabby"))
    w.panels.show_delta.setChecked(True)
    wait(w, "the targeted attack")
    grab(w, tmp, out, "attack-targeted.png")
    w.panels.show_delta.setChecked(False)
    st.set_target(None)

    # The toolbars with CW-L2 (no attack run: Attack Automatically off for the picture), and what their
    # ⚙ buttons open: CW-L2's other parameters, RegionSparse's other parameters.
    acts.auto_attack.setChecked(False)
    st.set_attack("cw")
    st.set_attack_param("d", 0.05)
    pump(lambda: True, "the toolbar", settle=0.5)
    bottom = w.findChild(QToolBar, "defenseToolbar").geometry().bottom() + 1
    w.grab(QRect(0, 0, w.width(), bottom)).save(str(tmp / "strip-toolbars.png"))
    popups = []
    for i, controls in enumerate((w.attack_controls, w.defense_controls)):
        menu = controls.more.menu()
        menu.popup(controls.more.mapToGlobal(controls.more.rect().bottomLeft()))
        pump(menu.isVisible, "the ⚙ popup", settle=0.3)
        popups.append(tmp / f"strip-popup{i}.png")
        menu.grab().save(str(popups[-1]))
        menu.hide()
    side_by_side(popups, tmp / "strip-popups.png")
    stack([tmp / "strip-toolbars.png", tmp / "strip-popups.png"], tmp / "raw-toolbars.png")
    save_small(tmp / "raw-toolbars.png", out / "toolbars-cw.png")
    st.set_attack("bim")
    acts.auto_attack.setChecked(True)

    # A baseline defense on another image.
    w.select_path(photos / "coffee.jpg")
    st.set_defense("jpeg")
    wait(w, "JPEG on coffee.jpg")
    w.messages.dismiss()
    grab(w, tmp, out, "defense-jpeg.png")
    st.set_defense("regionsparse")
    wait(w, "RegionSparse on coffee.jpg")

    # The Settings dialog (Ctrl+,).
    dialog = SettingsDialog(w.session.current_settings(), w)
    dialog.show()
    pump(lambda: True, "the settings dialog", settle=0.3)
    grab(dialog, tmp, out, "settings.png")
    dialog.reject()

    # Dictionary ▸ Train From Folder…: the status bar while it trains, the message and the status after.
    w.session.train_from(photos)
    bar = w.training_status.bar
    pump(lambda: bar.value() >= 300 or not w.trainer.is_running(), "training progress")
    during = w.statusBar().grab()
    during.save(str(tmp / "strip-during.png"))
    pump(lambda: not w.trainer.is_running(), "the training's end", settle=0.3)
    wait(w, "re-purification with the new dictionary")
    w.messages.grab().save(str(tmp / "strip-message.png"))
    w.statusBar().grab().save(str(tmp / "strip-after.png"))
    stack([tmp / f"strip-{n}.png" for n in ("during", "message", "after")], tmp / "raw-training.png")
    save_small(tmp / "raw-training.png", out / "training.png")
    w.session.use_dictionary(None)  # back to the bundled dictionary
    wait(w, "the bundled dictionary")

    # The Activations tab, given half the height of a taller window.
    w.select_path(photos / "camera.jpg")
    w.resize(WIDTH, TALL)
    wait(w, "camera.jpg")
    w.messages.dismiss()
    split = w.tabs.parentWidget()
    w.tabs.setCurrentWidget(w.activations)
    total = sum(split.sizes())
    split.setSizes([total // 2, total - total // 2])
    pump(
        lambda: settled(w) and all(getattr(w.results.result(r), "profile", None) for r in Row),
        "the activation profiles",
        settle=0.8,
    )
    grab(w, tmp, out, "activations.png")
    w.tabs.setCurrentWidget(w.log)
    w.resize(WIDTH, HEIGHT)
    pump(lambda: True, "the window's size", settle=0.3)
    total = sum(split.sizes())
    split.setSizes([total - 130, 130])

    # Presentation mode's story: View ▸ Tell the Story, three times (Space in presentation mode).
    for _ in range(3):
        acts.story.trigger()
        pump(lambda: settled(w), "the story step", settle=0.4)
    grab(w, tmp, out, "story.png")
    acts.presentation.setChecked(False)
    pump(lambda: not w.isFullScreen(), "leaving presentation mode", settle=0.3)

    # Export (Ctrl+E) of what the panels show: the files it writes.
    written = w.export_to(tmp / "export")
    print("File ▸ Export Current Image… wrote:", ", ".join(p.name for p in written))

    # The Evaluate tab: its form before a run.
    w.resize(WIDTH, TALL)
    w.messages.dismiss()
    w.tabs.setCurrentWidget(w.evaluation.tab)
    pump(lambda: True, "the Evaluate tab", settle=0.5)
    grab(w, tmp, out, "evaluate-setup.png")

    # A finished run opened, a cell clicked: the gallery shows its images, the panels the cached attack.
    tab = w.evaluation.tab
    if not w.evaluation.open_run(demo_run):
        raise RuntimeError(f"{demo_run} did not open")
    pump(tab.is_settled, "the demo run's curves")
    tab.show_cell(("bim", 4.0, "regionsparse"))
    wait(w, "the cell's image")
    grab(w, tmp, out, "evaluate-cell.png")
    w.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "guide", help="where the PNGs go")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rsdesk-guide-") as name:
        tmp = Path(name)
        screen = tmp / "screen.json"
        screen.write_text(
            json.dumps(
                {"screens": [{"name": "guide", "width": WIDTH, "height": HEIGHT, "logicalDpi": 96, "dpr": 1}]}
            )
        )
        os.environ.update(
            RSDESK_CONFIG_DIR=str(tmp / "config"),
            RSDESK_DATA_DIR=str(tmp / "data"),
            QT_QPA_PLATFORM=f"offscreen:configfile={screen}",
        )
        env = dict(os.environ)
        # What `rsdesk --screenshot` makes by itself.
        run_cli(["--screenshot", str(tmp / "window.png")], env)
        save_small(tmp / "window.png", out / "window.png")
        run_cli(["--screenshot", str(tmp / "evaluate-run.png"), "--open-run", str(DEV_RUN)], env)
        save_small(tmp / "evaluate-run.png", out / "evaluate-run.png")
        demo_run = tmp / "demo-samples"
        run_cli(["evaluate", str(SAMPLES), "--plan", "demo", "--out", str(demo_run), "--quiet"], env)
        # What needs the window driven.
        driven_shots(tmp, out, demo_run)
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
