"""The story view of presentation mode: the stages revealed one key press at a time, for an audience that
has never seen an adversarial example — 1) the photo and what the model says, 2) + the attacked photo,
FOOLED, 3) + the purified photo, RECOVERED (or STILL FOOLED). Each card shows one image, its verdict large
(icon + word: it reads in grayscale) and the model's answer; one plain-words caption under the cards says
what just happened. A view of :class:`ResultsModel`: it reads the rows the pipeline writes, nothing more.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from rsdesk.core.defenses import DEFENSES
from rsdesk.core.verdicts import Verdict
from rsdesk.gui.models.results import ResultsModel, Row, StageState, Status
from rsdesk.gui.widgets.image_panel import ImagePanel, ViewLink
from rsdesk.gui.widgets.predictions import VerdictBadge
from rsdesk.gui.widgets.qimage import to_qimage

#: The last step; step 0 is the full panel grid (the story is off).
STEPS = 3
CARD_TITLES = ("1 · The photo", "2 · Attacked", "3 · Cleaned")
_ROWS = (Row.ORIGINAL, Row.ADVERSARIAL, Row.PURIFIED)


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _answer(result: object) -> tuple[str, float] | None:
    """The model's top class and its probability (%), None while the image waits for its classification."""
    prediction = getattr(result, "prediction", None)
    if prediction is None:
        return None
    top = prediction.top(1)[0]
    return top.label, 100 * top.prob


def _ready(st: StageState) -> bool:
    return st.current and _answer(st.result) is not None


def _defense_name(result: object) -> str:
    return DEFENSES[result.defense.name].short_title


def original_caption(st: StageState) -> str:
    """Step 1 in plain words: ``The model sees a tripod, 96 % sure.``"""
    if not _ready(st):
        return "The model is looking at the photo…"
    label, p = _answer(st.result)
    text = f"The model sees {_article(label)}, {p:.0f} % sure."
    if st.result.judgement.verdict is Verdict.MISCLASSIFIED:
        from rsdesk.core.io.labels import imagenet_classes

        text += f" Wrong already: it is {_article(imagenet_classes().name(st.result.true_label))}."
    return text


def attack_caption(st: StageState) -> str:
    """Step 2: ``Add noise you can hardly see: now it says “harmonica”.``"""
    if st.status is Status.BUSY:
        return "Adding noise you can hardly see…"
    if not _ready(st):
        return st.message or "Press Ctrl+Enter to attack the photo."
    label, p = _answer(st.result)
    if st.result.judgement.verdict is Verdict.FOOLED:
        return f"Add noise you can hardly see: now it says “{label}”, {p:.0f} % sure."
    return f"Add noise you can hardly see: it still says “{label}”. This attack did not fool it."


def purify_caption(st: StageState) -> str:
    """Step 3: ``RegionSparse cleans the image: “tripod” again.``"""
    if st.status is Status.OFF:
        return "The defense is off: press D to turn it on."
    if st.status is Status.BUSY or (st.current and not _ready(st)):
        return "The defense is cleaning the image…"
    if not _ready(st):
        return st.message or "Nothing to clean yet."
    name, (label, _p) = _defense_name(st.result), _answer(st.result)
    verdict = st.result.judgement.verdict
    if verdict is Verdict.RECOVERED:
        return f"{name} cleans the image: “{label}” again."
    if verdict is Verdict.STILL_FOOLED:
        return f"{name} cleans the image, but the model still says “{label}”."
    if verdict is Verdict.BROKEN:
        return f"{name} changes the image too much: now it says “{label}”."
    return f"{name} cleans the image: still “{label}”."


CAPTIONS = (original_caption, attack_caption, purify_caption)
#: The widest verdict a card must show whole (with the "?" of an out-of-date one).
_WIDEST = max((v.value for v in Verdict), key=len) + " ?"
#: The verdict's size relative to the card's base font, at most (the badge adds its own 1.5×).
VERDICT_SCALE = 2.0


class _StoryImage(ImagePanel):
    """The image of a card: as large as the card allows, but never asking for a square's height (the
    cards must fit a 768 px screen)."""

    def hasHeightForWidth(self) -> bool:
        return False


class StoryCard(QWidget):
    """One stage: title, image, the verdict (large) and the model's answer."""

    def __init__(self, title: str, link: ViewLink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        self.detail = QLabel()
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.image = _StoryImage(link)
        self.verdict = VerdictBadge()
        self.answer = QLabel()
        self.answer.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        for w in (self.title, self.detail, self.image, self.verdict, self.answer):
            lay.addWidget(w, 1 if w is self.image else 0)
        # a card not revealed yet keeps its place: the earlier cards do not move when it appears
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)

    def set_fonts(self, base: QFont) -> None:
        """Titles and the answer 1.3× of ``base``; the verdict as large as the card's width allows."""
        self._base = QFont(base)
        for w, scale, bold in ((self.title, 1.3, True), (self.answer, 1.3, False)):
            f = QFont(base)
            f.setPointSizeF(base.pointSizeF() * scale)
            f.setBold(bold)
            w.setFont(f)
        self._fit_verdict()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_verdict()

    def _fit_verdict(self) -> None:
        """The largest verdict font (up to :data:`VERDICT_SCALE`) in which "STILL FOOLED ?" fits the card:
        a verdict is the one thing the back of the room must read whole."""
        base = getattr(self, "_base", None)
        if base is None or self.width() <= 0:
            return
        scale = VERDICT_SCALE
        while scale > 1.0:
            f = QFont(base)
            f.setBold(True)
            f.setPointSizeF(base.pointSizeF() * scale * 1.5)  # what the badge paints with
            fm = QFontMetrics(f)
            if fm.height() + 6 + fm.horizontalAdvance(_WIDEST) <= self.width():
                break
            scale -= 0.1
        f = QFont(base)
        f.setBold(True)
        f.setPointSizeF(base.pointSizeF() * scale)
        if f != self.verdict.font():
            self.verdict.setFont(f)

    def show_stage(self, st: StageState, detail: str) -> None:
        res = st.result
        self.image.set_activity(st.status is Status.BUSY, st.status is Status.STALE, st.progress, st.message)
        self.detail.setText(detail)
        if res is None:
            self.image.set_image(None)
            self.image.set_placeholder(st.message if st.status is not Status.BUSY else "")
            self.verdict.set_verdict(None, text="defense off" if st.status is Status.OFF else "")
            self.answer.setText("")
            return
        self.image.set_image(to_qimage(res.image))
        judgement, answer = getattr(res, "judgement", None), _answer(res)
        if judgement is None or answer is None:  # the image is in, its classification not yet
            self.verdict.set_verdict(None, text="…")
            self.answer.setText("")
            return
        self.verdict.set_verdict(judgement.verdict, not st.current)
        self.answer.setText(f"says “{answer[0]}”, {answer[1]:.0f} %")


class StoryView(QWidget):
    """Cards 1…``step`` visible and the caption of the last one; :meth:`set_step` is the only input."""

    def __init__(self, results: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.results = results
        self.step = 1
        self.link = ViewLink(self)
        self.cards = [StoryCard(t, self.link) for t in CARD_TITLES]
        self.caption = QLabel()
        self.caption.setObjectName("storyCaption")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint = QLabel("Space: next step · Backspace: back · ←/→: other image · Esc: leave")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.hint.setEnabled(False)
        grid = QGridLayout(self)
        grid.setContentsMargins(24, 12, 24, 8)
        grid.setHorizontalSpacing(32)
        for i, card in enumerate(self.cards):
            grid.addWidget(card, 0, i)
            grid.setColumnStretch(i, 1)
        grid.addWidget(self.caption, 1, 0, 1, STEPS)
        grid.addWidget(self.hint, 2, 0, 1, STEPS)
        grid.setRowStretch(0, 1)
        results.dataChanged.connect(lambda *_: self.refresh())
        self._apply_fonts()
        self.set_step(1)

    def set_step(self, step: int) -> None:
        """Reveal cards 1…``step`` (1…3) and say in one line what the last one shows."""
        self.step = max(1, min(STEPS, step))
        for i, card in enumerate(self.cards):
            card.setVisible(i < self.step)
        self.refresh()

    def refresh(self) -> None:
        details = self._details()
        for i, card in enumerate(self.cards[: self.step]):
            card.show_stage(self.results.stage(_ROWS[i]), details[i])
        self.caption.setText(CAPTIONS[self.step - 1](self.results.stage(_ROWS[self.step - 1])))

    def visible_cards(self) -> list[int]:
        """The steps shown (1-based), for tests."""
        return [i + 1 for i, card in enumerate(self.cards) if not card.isHidden()]

    def _details(self) -> list[str]:
        res = [self.results.stage(r).result for r in _ROWS]
        orig = res[0].path.name if res[0] is not None else ""
        adv = res[1].config.describe() if res[1] is not None else ""
        pur = f"by {_defense_name(res[2])}" if res[2] is not None else ""
        return [orig, adv, pur]

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._apply_fonts()
        super().changeEvent(event)

    def _apply_fonts(self) -> None:
        for card in self.cards:
            card.set_fonts(self.font())
        f = QFont(self.font())
        f.setPointSizeF(self.font().pointSizeF() * 1.6)
        self.caption.setFont(f)
