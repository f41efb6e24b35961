"""What the story says under its cards: one plain-words caption per step, read from the verdicts of
``core/verdicts`` (never a rule of its own). Nobody is "fooled" who was wrong before the attack, nothing
"still" says what it never said, and a defense-aware attacker who wins is named as the winner, not the
defense as the culprit. Plain functions of :class:`ResultsModel`'s rows, so they are tested without a card.
"""

from __future__ import annotations

from rsdesk.core.defenses import DEFENSES
from rsdesk.core.io.labels import imagenet_classes
from rsdesk.core.verdicts import Verdict
from rsdesk.gui.models.results import ResultsModel, Row, StageState, Status


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def answer(result: object) -> tuple[str, float] | None:
    """The model's top class and its probability (%), None while the image waits for its classification."""
    prediction = getattr(result, "prediction", None)
    if prediction is None:
        return None
    top = prediction.top(1)[0]
    return top.label, 100 * top.prob


def ready(st: StageState) -> bool:
    """Current and classified: a caption may speak of its verdict."""
    return st.current and answer(st.result) is not None


def defense_name(result: object) -> str:
    """The short name of the defense a purified result went through (``RegionSparse``)."""
    return DEFENSES[result.defense.name].short_title


def _said(results: ResultsModel, row: Row) -> str | None:
    """What the model said at an earlier step (None: not known now)."""
    st = results.stage(row)
    got = answer(st.result) if st.result is not None else None
    return got[0] if got is not None else None


def original_caption(results: ResultsModel) -> str:
    """Step 1 in plain words: ``The model sees a tripod, 96 % sure.``"""
    st = results.stage(Row.ORIGINAL)
    if not ready(st):
        return "The model is looking at the photo…"
    label, p = answer(st.result)
    text = f"The model sees {_article(label)}, {p:.0f} % sure."
    if st.result.judgement.verdict is Verdict.MISCLASSIFIED:
        text += f" Wrong already: it is {_article(imagenet_classes().name(st.result.true_label))}."
    return text


def attack_caption(results: ResultsModel) -> str:
    """Step 2: ``Add noise you can hardly see: now it says “harmonica”, 63 % sure.``"""
    st = results.stage(Row.ADVERSARIAL)
    aware = bool(getattr(st.result, "defense_aware", False))
    if st.status is Status.BUSY:
        return (
            "Adding noise aimed at the model behind the defense…"
            if aware
            else "Adding noise you can hardly see…"
        )
    if not ready(st):
        return st.message or "Press Ctrl+Enter to attack the photo."
    (label, p), verdict = answer(st.result), st.result.judgement.verdict
    before = _said(results, Row.ORIGINAL)
    if verdict is Verdict.MISCLASSIFIED:
        now = f"it still says “{label}”" if label == before else f"it says “{label}”"
        return f"The model was already wrong (“{before}”): there was nothing to fool. With the noise {now}."
    if verdict is Verdict.CORRECT and not results.result(Row.ORIGINAL).clean_correct:
        return f"The model was already wrong (“{before}”); with the noise it says “{label}”, the true class."
    if verdict is Verdict.FOOLED:
        return f"Add noise you can hardly see: now it says “{label}”, {p:.0f} % sure."
    if aware:
        return (
            f"Add noise aimed at the model behind the defense: on its own the model still says “{label}”. "
            "Step 3 shows the defended model."
        )
    return f"Add noise you can hardly see: it still says “{label}”. This attack did not fool it."


def purify_caption(results: ResultsModel) -> str:
    """Step 3: ``RegionSparse cleans the image: “tripod” again.``"""
    st = results.stage(Row.PURIFIED)
    if st.status is Status.OFF:
        return "The defense is off: press D to turn it on."
    if st.status is Status.BUSY or (st.current and not ready(st)):
        return "The defense is cleaning the image…"
    if not ready(st):
        return st.message or "Nothing to clean yet."
    res, name, (label, _p) = st.result, defense_name(st.result), answer(st.result)
    verdict, aware = (
        res.judgement.verdict,
        bool(getattr(results.result(Row.ADVERSARIAL), "defense_aware", False)),
    )
    attacked, before = _said(results, Row.ADVERSARIAL), _said(results, Row.ORIGINAL)
    clean = res.clean_prediction.top(1)[0].label if res.clean_prediction is not None else None
    through = f" (the clean photo through {name}: “{clean}”)" if clean is not None else ""
    says = f"still says “{label}”" if label == attacked else f"now says “{label}”"
    if verdict is Verdict.RECOVERED:
        return f"{name} cleans the image: “{label}” again."
    if verdict is Verdict.STILL_FOOLED:
        who = "the attacker who knew the defense won: it" if aware else "the model"
        wrong_too = (
            f" (the clean photo through {name}: “{clean}”, wrong too)" if res.clean_correct is False else ""
        )
        return f"{name} cleans the image, but {who} {says}{wrong_too}."
    if verdict is Verdict.DEFEATED:
        who = "the attacker who knew the defense won" if aware else "the noise fools the model through it"
        return f"{name} cleans the image, but {who}: now it says “{label}”{through}."
    if verdict is Verdict.BROKEN:
        wrong_too = f" (the clean photo through {name}: “{clean}”, wrong too)" if clean is not None else ""
        return f"{name} changes the image too much: now it says “{label}”{wrong_too}."
    if verdict is Verdict.MISCLASSIFIED:
        again = f"“{label}”" if label == before else f"now “{label}”"
        return f"{name} cleans the image: {again}, wrong as before any attack."
    if not results.result(Row.ORIGINAL).clean_correct:  # right where the bare model was wrong
        return f"{name} cleans the image: “{label}”, right where the model was wrong before any attack."
    if aware:
        return f"{name} cleans the image: still “{label}”. Even the attacker who knew the defense lost."
    return f"{name} cleans the image: still “{label}”."


#: One caption per step (1…3), each reading the rows it needs.
CAPTIONS = (original_caption, attack_caption, purify_caption)
