"""The window's import of the bad-input corpus: no traceback, no hang, every good image lands, and every bad
one is named in the one summary message (no dialog per file)."""

from __future__ import annotations

from pathlib import Path

from bad_input_corpus import made_cases, make_corpus, marker_path
from PySide6.QtWidgets import QApplication


def test_the_bad_input_corpus_dropped_on_the_window(make_window, qtbot, tmp_path):
    corpus = make_corpus(tmp_path)
    images = [c for c in made_cases(corpus) if c.kind == "image"]
    w = make_window()
    shown: list[tuple[str, str, str]] = []
    w.messages.shown.connect(lambda *m: shown.append(m))
    with qtbot.waitSignal(w.importer.finished, timeout=60000) as blocker:
        w.paths_dropped([corpus / "images"])
    added, problems = blocker.args
    assert sorted(p.name for p in added) == sorted(Path(c.path).name for c in images if c.expect == "ok")
    bad = sorted(Path(c.path).name for c in images if c.expect == "error")
    named = sorted({p.split(":")[0] for p in problems})
    assert named == bad, problems  # each bad file is named once; skipped ones (folders) are not errors
    assert len(shown) == 1  # one summary, not a message per file
    kind, text, details = shown[0]
    assert kind == "warning" and text.startswith(
        f"Added {len(added)} image(s); {len(bad)} could not be used: "
    )
    assert details.splitlines() == problems and "Traceback" not in details
    assert QApplication.activeModalWidget() is None
    assert not marker_path(corpus).exists()
    w.messages.grab().save(str(tmp_path / "corpus_notice.png"))
