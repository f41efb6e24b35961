"""The story view of presentation mode: the stages revealed one key press at a time, for an audience that
has never seen an adversarial example — 1) the photo and what the model says, 2) + the attacked photo,
FOOLED, with the noise itself amplified in a corner ("this is the noise, ×16"), 3) + the purified photo,
RECOVERED (or STILL FOOLED, DEFENSE BEATEN …). Each card shows one image, its verdict large (icon + word: it
reads in grayscale) and the model's answer; one plain-words caption under the cards (``story_text``) says
what just happened. After a gray-box attack the defense recovered, step 3 offers the honest next question:
"What if the attacker knows the defense?" runs the defense-aware attack of the same strength (BPDA at the
same ε) through the pipeline, and the cards tell its outcome. A view of :class:`ResultsModel` (and, for that
button, of :class:`AppState`): it reads the rows the pipeline writes, nothing more.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from rsdesk.core.attacks import ATTACKS, Attack
from rsdesk.core.overlays import amplify_difference
from rsdesk.core.verdicts import Verdict
from rsdesk.gui.models.configs import AttackConfig
from rsdesk.gui.models.results import ResultsModel, Row, StageState, Status
from rsdesk.gui.models.stage_results import AttackResult
from rsdesk.gui.models.state import AppState
from rsdesk.gui.views.story_text import CAPTIONS, answer, defense_name
from rsdesk.gui.widgets.image_panel import ImagePanel, ViewLink
from rsdesk.gui.widgets.predictions import VerdictBadge
from rsdesk.gui.widgets.qimage import to_qimage

#: The last step; step 0 is the full panel grid (the story is off).
STEPS = 3
CARD_TITLES = ("1 · The photo", "2 · Attacked", "3 · Cleaned")
_ROWS = (Row.ORIGINAL, Row.ADVERSARIAL, Row.PURIFIED)
#: The widest verdict a card must show whole (with the "?" of an out-of-date one).
_WIDEST = max((v.value for v in Verdict), key=len) + " ?"
#: The verdict's size relative to the card's base font, at most (the badge adds its own 1.5×).
VERDICT_SCALE = 2.0
#: The noise inset's width as a share of the shown image's.
INSET_SHARE = 0.34
WHAT_IF = "What if the attacker knows the defense?"


def aware_counterpart(name: str) -> type[Attack] | None:
    """The defense-aware attack that measures strength as ``name`` does (BPDA for BIM, FGSM …: ε), the
    first in the registry's order; None when ``name`` is defense-aware itself or none matches. By traits,
    never by names: a new defense-aware attack of a strength kind is found the same way."""
    cls = ATTACKS.get(name)
    if cls is None or cls.defense_aware:
        return None
    for other in ATTACKS.values():
        if other.defense_aware and not other.gradient_free and other.strength.kind == cls.strength.kind:
            return other
    return None


class _StoryImage(ImagePanel):
    """The image of a card: as large as the card allows, but never asking for a square's height (the
    cards must fit a 768 px screen); optionally with an inset in its lower right corner, captioned (the
    attacked card's amplified noise), painted here so it never covers another widget."""

    _inset: QImage | None = None
    _inset_caption = ""

    def hasHeightForWidth(self) -> bool:
        return False

    def set_inset(self, image: QImage | None, caption: str = "") -> None:
        self._inset, self._inset_caption = image, caption
        self.update()

    def inset(self) -> tuple[QImage | None, str]:
        return self._inset, self._inset_caption

    def inset_rect(self) -> QRectF:
        """Where the inset is drawn (empty without one or without an image)."""
        if self._inset is None or self.image() is None:
            return QRectF()
        fit = self._fit_rect()
        side = fit.width() * INSET_SHARE
        h = side * self._inset.height() / max(1, self._inset.width())
        return QRectF(fit.right() - side - 6, fit.bottom() - h - 6, side, h)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        r = self.inset_rect()
        if r.isEmpty():
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(r, self._inset)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.drawRect(r)
        if self._inset_caption:
            f = QFont(self.font())
            f.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.85))
            p.setFont(f)
            fm = p.fontMetrics()
            w = fm.horizontalAdvance(self._inset_caption) + 10  # whole: the gain is a number, never elided
            tag = QRectF(r.right() - w, r.top() - fm.height() - 6, w, fm.height() + 4)
            p.fillRect(tag, QColor(0, 0, 0, 190))
            p.setPen(QColor(255, 255, 255))
            p.drawText(tag, Qt.AlignmentFlag.AlignCenter, self._inset_caption)
        p.end()


class StoryCard(QWidget):
    """One stage: title, image, the verdict (large) and the model's answer."""

    def __init__(self, title: str, link: ViewLink, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        self.detail = QLabel()
        self.image = _StoryImage(link)
        self.verdict = VerdictBadge()
        self.answer = QLabel()
        # the attack's parameters and the answer's "63 %" wrap rather than clip: a number is never cut
        for label in (self.detail, self.answer):
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
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
        """The largest verdict font (up to :data:`VERDICT_SCALE`) in which the widest verdict ("DEFENSE
        BEATEN ?") fits the card: a verdict is the one thing the back of the room must read whole."""
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

    def show_stage(self, st: StageState, detail: str, inset: tuple[QImage | None, str] = (None, "")) -> None:
        res = st.result
        self.image.set_activity(st.status is Status.BUSY, st.status is Status.STALE, st.progress, st.message)
        self.detail.setText(detail)
        self.image.set_inset(*inset)
        if res is None:
            self.image.set_image(None)
            self.image.set_placeholder(st.message if st.status is not Status.BUSY else "")
            self.verdict.set_verdict(None, text="defense off" if st.status is Status.OFF else "")
            self.answer.setText("")
            return
        self.image.set_image(to_qimage(res.image))
        judgement, said = getattr(res, "judgement", None), answer(res)
        if judgement is None or said is None:  # the image is in, its classification not yet
            self.verdict.set_verdict(None, text="…")
            self.answer.setText("")
            return
        self.verdict.set_verdict(judgement.verdict, not st.current)
        self.answer.setText(f"says “{said[0]}”, {said[1]:.0f} %")


class StoryView(QWidget):
    """Cards 1…``step`` visible and the caption of the last one; :meth:`set_step` is the only input. Given
    the ``state``, step 3 offers :data:`WHAT_IF` where it is the honest next question."""

    def __init__(
        self, results: ResultsModel, state: AppState | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.results = results
        self.state = state
        self.step = 1
        self._noise: tuple[int, int, QImage, str] | None = None  # (id(adv), id(orig), inset, caption)
        self.link = ViewLink(self)
        self.cards = [StoryCard(t, self.link) for t in CARD_TITLES]
        self.caption = QLabel()
        self.caption.setObjectName("storyCaption")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.what_if = QPushButton(WHAT_IF)
        self.what_if.setObjectName("storyWhatIf")
        self.what_if.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space is the story's next step, never a click
        self.what_if.clicked.connect(self.ask_what_if)
        policy = self.what_if.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the cards keep their size when it comes and goes
        self.what_if.setSizePolicy(policy)
        self.hint = QLabel("Space: next step · Backspace: back · ←/→: other image · Esc: leave")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.hint.setEnabled(False)
        grid = QGridLayout(self)
        grid.setContentsMargins(24, 12, 24, 8)
        grid.setHorizontalSpacing(32)
        for i, card in enumerate(self.cards):
            grid.addWidget(card, 0, i)
            grid.setColumnStretch(i, 1)
        grid.addWidget(self.caption, 1, 0, 1, STEPS)
        grid.addWidget(self.what_if, 2, 0, Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(self.hint, 2, 1, 1, STEPS - 1)
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
            card.show_stage(self.results.stage(_ROWS[i]), details[i], self._inset(i))
        self.caption.setText(CAPTIONS[self.step - 1](self.results))
        self.what_if.setVisible(self.step == STEPS and self._what_if_attack() is not None)

    def visible_cards(self) -> list[int]:
        """The steps shown (1-based), for tests."""
        return [i + 1 for i, card in enumerate(self.cards) if not card.isHidden()]

    # ----- the noise ---------------------------------------------------------------------------------
    def _inset(self, index: int) -> tuple[QImage | None, str]:
        """The attacked card's inset: the perturbation δ amplified ("this is the noise, ×16")."""
        orig, adv = self.results.result(Row.ORIGINAL), self.results.result(Row.ADVERSARIAL)
        if _ROWS[index] is not Row.ADVERSARIAL or orig is None or not isinstance(adv, AttackResult):
            return None, ""
        if adv.image.shape != orig.image.shape:
            return None, ""
        key = (id(adv), id(orig))
        if self._noise is None or self._noise[:2] != key:
            amp, gain = amplify_difference(adv.image, orig.image)
            self._noise = (*key, to_qimage(amp), f"this is the noise, ×{gain:.0f}")
        return self._noise[2], self._noise[3]

    # ----- what if the attacker knows the defense? -----------------------------------------------------
    def _what_if_attack(self) -> tuple[type[Attack], str, object] | None:
        """The defense-aware attack to try, its strength parameter and value: only with a state, after a
        gray-box attack of the toolbar that the defense recovered (current results)."""
        if self.state is None:
            return None
        adv, pur = self.results.stage(Row.ADVERSARIAL), self.results.stage(Row.PURIFIED)
        if not (adv.current and pur.current) or not isinstance(adv.result, AttackResult):
            return None
        config = adv.result.config
        judgement = getattr(pur.result, "judgement", None)
        if (
            not isinstance(config, AttackConfig)
            or judgement is None
            or judgement.verdict is not Verdict.RECOVERED
        ):
            return None
        aware = aware_counterpart(config.name)
        value = config.params.get(ATTACKS[config.name].strength.param)
        if aware is None or value is None:
            return None
        return aware, aware.strength.param, value

    def ask_what_if(self) -> None:
        """Switch the toolbar to the defense-aware attack at the same strength: the pipeline crafts it
        through the defense and the cards (still at step 3) tell how it went."""
        found = self._what_if_attack()
        if found is None or self.state is None:
            return
        aware, param, value = found
        try:
            self.state.set_attack_param(param, value, attack=aware.name)
        except ValueError:
            pass  # out of the aware attack's range: it runs at its own value, which its subtitle shows
        self.state.set_attack(aware.name)

    def _details(self) -> list[str]:
        res = [self.results.stage(r).result for r in _ROWS]
        orig = res[0].path.name if res[0] is not None else ""
        adv = res[1].config.describe() if res[1] is not None else ""
        pur = f"by {defense_name(res[2])}" if res[2] is not None else ""
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
