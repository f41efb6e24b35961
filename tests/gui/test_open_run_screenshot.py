"""`rsdesk --screenshot OUT.png --open-run RUN_DIR`: the window drawn with that run on the Evaluate tab."""

from __future__ import annotations

from evaluation_helpers import synthetic_run
from PIL import Image

from rsdesk.cli.router import build_gui_parser
from rsdesk.gui.app import SCREENSHOT_SIZE, run


def test_the_gui_parser_takes_a_run_directory():
    args = build_gui_parser().parse_args(["--screenshot", "out.png", "--open-run", "runs/demo", "a.jpg"])
    assert (args.screenshot, args.open_run, args.images) == ("out.png", "runs/demo", ["a.jpg"])


def test_screenshot_with_a_run_on_the_evaluate_tab(qtbot, tmp_path, gui_torch_threads, capsys):
    run_dir = synthetic_run(tmp_path / "run", {("fgsm", 4.0, "jpeg"): {"img1.png", "img2.png"}})
    out = tmp_path / "shot.png"
    assert run([], screenshot=str(out), open_run=str(run_dir)) == 0
    assert Image.open(out).size == SCREENSHOT_SIZE
    assert "saved" in capsys.readouterr().out
    assert run([], screenshot=str(tmp_path / "no.png"), open_run=str(tmp_path / "nothing")) == 1
    assert "not an evaluation run directory" in capsys.readouterr().err
    assert not (tmp_path / "no.png").exists()


def test_a_screenshot_renders_the_defaults_and_leaves_the_users_settings_alone(
    qtbot, tmp_path, gui_torch_threads, monkeypatch
):
    """The user's K 2 and FGSM are neither used nor overwritten: screenshots are reproducible."""
    from rsdesk.gui.models.settings import Settings, config_dir, save_settings

    save_settings(Settings(k=2))
    before = (config_dir() / "settings.json").read_bytes()
    seen = []
    # run() imports the window class when it starts: patch it where it is defined
    import rsdesk.gui.main_window as main_window

    original = main_window.MainWindow

    class Spy(original):
        def __init__(self, settings, warnings):
            seen.append(settings.k)
            super().__init__(settings, warnings)

    monkeypatch.setattr(main_window, "MainWindow", Spy)
    assert run([], screenshot=str(tmp_path / "shot.png")) == 0
    assert seen == [Settings().k]
    assert (config_dir() / "settings.json").read_bytes() == before
