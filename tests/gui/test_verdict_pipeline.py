"""Issue 19, case 2, through the real window: an image the model gets wrong before any attack (a true label
from labels.csv, as the importer reads it) is "misclassified" on the panels, in the gallery's line and in
the story — never FOOLED, never STILL FOOLED, and the story never says "still says" what it never said."""

from __future__ import annotations

import shutil

from gui_helpers import wait_settled
from layout_helpers import layout_problems

from rsdesk.core.io.assets import resource_path
from rsdesk.core.verdicts import Verdict
from rsdesk.gui.models.gallery import SummaryRole
from rsdesk.gui.models.results import Row
from rsdesk.gui.models.settings import Settings

BRAMBLING = 10


def test_an_image_wrong_before_the_attack_is_misclassified_everywhere(make_window, qtbot, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(resource_path("samples", "coffee.jpg"), folder / "coffee.jpg")
    (folder / "labels.csv").write_text(f"file,class_index\ncoffee.jpg,{BRAMBLING}\n")  # the model: espresso
    w = make_window(Settings(attack="fgsm"), images=[folder / "coffee.jpg"])
    wait_settled(qtbot, w)
    orig, adv, pur = (w.results.result(r) for r in Row)
    assert orig.true_label == BRAMBLING and orig.judgement.verdict is Verdict.MISCLASSIFIED
    assert orig.prediction.index != BRAMBLING and adv.prediction.index != BRAMBLING
    assert adv.judgement.verdict is Verdict.MISCLASSIFIED and "nothing to fool" in adv.judgement.note
    assert pur.prediction.index != BRAMBLING and pur.judgement.verdict is Verdict.MISCLASSIFIED
    # the panels: the badges and the note under the adversarial image
    assert w.panels.column(Row.ADVERSARIAL).verdict.verdict() is Verdict.MISCLASSIFIED
    assert w.panels.column(Row.PURIFIED).verdict.verdict() is Verdict.MISCLASSIFIED
    assert "nothing to fool" in w.panels.column(Row.ADVERSARIAL).info.text()
    # the gallery's line
    index = w.gallery.index(w.gallery.row_of(w.state.image))
    qtbot.waitUntil(
        lambda: w.gallery.data(index, SummaryRole) == "misclassified → misclassified", timeout=5000
    )
    # the story, in presentation mode on a projector's screen
    w.showFullScreen = lambda: None
    w.acts.story.trigger()
    w.resize(1366, 768)
    qtbot.waitUntil(lambda: w.size().toTuple() == (1366, 768), timeout=5000)
    said = orig.prediction.top(1)[0].label
    captions = []
    for step in (1, 2, 3):
        w.presentation.set_story_step(step)
        qtbot.wait(50)
        captions.append(w.story.caption.text())
        assert not layout_problems(w, root=w.story), (step, layout_problems(w, root=w.story))
    assert "Wrong already: it is a brambling." in captions[0]
    assert captions[1].startswith(f"The model was already wrong (“{said}”): there was nothing to fool")
    assert "still says" not in captions[2] and "wrong as before any attack" in captions[2]
    assert "FOOLED" not in " ".join(captions).upper().replace("NOTHING TO FOOL", "")
    for card, res in zip(w.story.cards, (orig, adv, pur)):
        assert card.verdict.verdict() is res.judgement.verdict
    w.acts.presentation.setChecked(False)
